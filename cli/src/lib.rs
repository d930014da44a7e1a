//! The `wavegate` command line: a client of the coordinator's public API, a loopback cluster
//! (`demo`, `dev`, `replay`), and `bridge`. The binary only calls [`commands::run`].

pub mod args;
pub mod bench;
pub(crate) mod bridge;
pub mod client;
pub(crate) mod cluster;
pub mod commands;
pub(crate) mod delay_proxy;
pub(crate) mod error;
pub(crate) mod follow;
pub(crate) mod input;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod samples;
pub(crate) mod scenario;
pub(crate) mod table;
