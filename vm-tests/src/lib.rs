//! Helpers for the VM tests: they run inside the QEMU guest (see `xtask/src/vm/`)
//! as ordinary `#[test]`s, drive the real plugin binary and check the kernel's
//! view with iproute2 (`ip -j`), an oracle independent of the plugin's own
//! netlink code.
//!
//! Every helper panics with context on failure: these are test assertions.

pub mod audit;
pub mod cmd;
pub mod cni;
pub mod daemon;
#[cfg(target_env = "musl")]
pub mod fastpath;
pub mod packet;
pub mod pod;
pub mod process;
pub mod sriov;
mod sys;
pub mod wire;

/// Where tests may drop reports (latency tables) for `cargo xtask vm` to print.
pub fn report(name: &str, text: &str) {
    let dir = std::env::var("MURMURATION_VM_REPORTS").unwrap_or_else(|_| "/tmp".into());
    let path = std::path::Path::new(&dir).join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Polls `probe` until it returns `Some`, or panics after `limit` with `what`.
pub fn wait_for<T>(
    what: &str,
    limit: std::time::Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
