//! Host-tier tests of the daemon: real namespaces, the real daemon binary,
//! the plugin's ADD (in-process through the core), a real Prometheus and ptp4l.
//! Every test is `#[ignore = "privileged: ..."]`; `cargo xtask test` runs them as root.

mod cleanup;
mod common;
mod fastpath;
mod http;
mod linuxptp;
mod notify;
mod phc;
mod probe;
mod prometheus;
mod ptp;
