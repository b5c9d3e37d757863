//! The CNI protocol: environment, configuration, results, errors and the
//! entry point the `murmuration` binary calls.

pub mod args;
pub mod bandwidth;
pub mod config;
pub mod env;
pub mod error;
pub mod fastpath;
pub mod paths;
pub mod plugin;
pub mod ptplock;
pub mod result;
pub mod types;
pub mod version;
