//! Helpers shared by the privileged test suites (plugin, daemon, bench).
//!
//! - [`audit`]: what a node namespace, a `dataDir`, a host-local lease
//!   directory and a bpffs pin root hold, compared with a baseline, so a
//!   test can assert that nothing was leaked.

pub mod audit;
