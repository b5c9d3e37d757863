//! The CNI protocol: environment, configuration, results, errors and
//! versions. Types and input parsing only: the bottom layer of the core,
//! which depends on no other module of it (the entry point that runs the
//! verbs is [`crate::plugin`]).

pub mod args;
pub mod config;
pub mod env;
pub mod error;
pub mod paths;
pub mod result;
pub mod types;
pub mod version;
