//! # wavegate-cli
//!
//! The `wavegate` command line: a gRPC client of the coordinator's public API (`publish`,
//! `watch`, `waves`, `params`, `agents`), a cluster on loopback (`demo`, `dev`, `replay`), and
//! `bridge`, which relays the reference bot's signal server to the coordinator. The binary
//! only parses arguments and calls [`commands::run`].

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
