//! Privileged integration tests of the `murmuration` CNI plugin.
//!
//! Every test creates its own uniquely named "node" namespace, runs the plugin
//! in it with `ip netns exec` exactly as a runtime would (CNI_* environment,
//! config on stdin), attaches pods that live in namespaces of their own, and
//! checks afterwards that no link, address, record or lease is left. The
//! namespaces are deleted by drop guards, also when a test fails.
//!
//! They need root and are `#[ignore]`d; run them with
//! `cargo test -p murmuration-cni -- --ignored` (or `cargo xtask test`).
//! One test binary with modules: one link step, and helpers without dead code.

mod bounded;
mod common;
mod concurrency;
mod crash;
mod del_gc;
mod errors;
mod fastpath;
mod lifecycle;
mod multus;
mod runtimes;
mod soak;
mod spawn;
mod static_ipam;
mod status_version;
