//! Fault points: named places in ADD and DEL where a test can stop the
//! process dead, to prove that whatever a killed plugin leaves behind is
//! undone later by DEL, GC or the node daemon's cleanup.
//!
//! Only builds with the `testing` feature have them (the privileged tests'
//! plugin binary). There, `MURMURATION_FAULT=<name>` makes the process
//! SIGKILL itself when it reaches point `<name>`, so the test sees "killed by
//! signal 9" exactly when that point was reached. Without the feature,
//! [`point`] is an empty inline function and the names are not even in the
//! binary (`cargo xtask build` checks its release binaries for [`ENV`]).

/// The variable that names the point to die at.
pub const ENV: &str = "MURMURATION_FAULT";

/// Every point, in the order an ADD or a DEL reaches them.
pub const POINTS: &[&str] = &[
    ADD_BEFORE_IPAM,
    ADD_AFTER_IPAM,
    ADD_AFTER_LINK,
    ADD_AFTER_POD_CONFIG,
    ADD_AFTER_FASTPATH,
    ADD_BEFORE_RECORD,
    DEL_AFTER_FASTPATH,
    DEL_UNPINNING,
    DEL_AFTER_LINK,
    DEL_AFTER_IPAM,
];

/// ADD: the intent record is on disk, IPAM not called yet.
pub const ADD_BEFORE_IPAM: &str = "add.before_ipam";
/// ADD: IPAM has allocated.
pub const ADD_AFTER_IPAM: &str = "add.after_ipam";
/// ADD: the interface exists (veth pair created, pod end in the pod).
pub const ADD_AFTER_LINK: &str = "add.after_link";
/// ADD: the pod end is up with its addresses and routes.
pub const ADD_AFTER_POD_CONFIG: &str = "add.after_pod_config";
/// ADD: the fast-path port's map entries and pod program are in place.
pub const ADD_AFTER_FASTPATH: &str = "add.after_fastpath";
/// ADD: everything is made; the final record is not written yet.
pub const ADD_BEFORE_RECORD: &str = "add.before_record";
/// DEL: the fast-path port is removed, the interface not yet.
pub const DEL_AFTER_FASTPATH: &str = "del.after_fastpath";
/// DEL of the last port: some of the uplink's pins are removed, others not.
pub const DEL_UNPINNING: &str = "del.unpinning";
/// DEL: the interface is gone, the lease not yet released.
pub const DEL_AFTER_LINK: &str = "del.after_link";
/// DEL: the lease is released, the record not yet removed.
pub const DEL_AFTER_IPAM: &str = "del.after_ipam";

/// Dies here (SIGKILL) when [`ENV`] names `name`.
#[cfg(feature = "testing")]
pub fn point(name: &'static str) {
    if std::env::var_os(ENV).is_some_and(|v| v == name) {
        tracing::warn!(point = name, "fault point reached; killing the process");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Without the `testing` feature a fault point is nothing.
#[cfg(not(feature = "testing"))]
#[inline(always)]
pub fn point(_name: &'static str) {}
