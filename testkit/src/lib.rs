//! Helpers shared by the tests of every tier (the plugin's and the daemon's
//! privileged tests, the VM tests) and by the bench. std, libc and
//! serde_json only, so the VM tier's musl test binaries build it too.
//!
//! - [`audit`]: what a node namespace, a `dataDir`, a host-local lease
//!   directory and a bpffs pin root hold, compared with a baseline, so a
//!   test can assert that nothing was leaked.
//! - [`netns`]: uniquely named network namespaces, entered by a thread,
//!   deleted on drop.
//! - [`bpffs`]: a private bpffs mount.
//! - [`http`]: a one-shot HTTP GET.
//! - [`packet`]: hand-built frames, AF_PACKET sockets and UDP exchanges
//!   between namespaces.
//! - [`process`]: children stopped by PID (SIGTERM, then SIGKILL) and reaped.
//! - [`wait_for`]: polling with a deadline.
//!
//! Every helper panics with context on failure (these are test assertions),
//! except the fallible ones the bench uses ([`bpffs::mount`]).

pub mod audit;
pub mod bpffs;
pub mod http;
pub mod netns;
pub mod packet;
pub mod process;
mod sys;
mod wait;

pub use wait::wait_for;
