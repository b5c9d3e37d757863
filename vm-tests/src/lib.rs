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
pub mod pod;
pub mod sriov;
pub mod wire;

/// Frames, processes and polling come from the shared test helpers.
pub use murmuration_testkit::{packet, process, wait_for};

/// Where tests may drop reports (latency tables) for `cargo xtask vm` to print.
pub fn report(name: &str, text: &str) {
    let dir = std::env::var("MURMURATION_VM_REPORTS").unwrap_or_else(|_| "/tmp".into());
    let path = std::path::Path::new(&dir).join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
