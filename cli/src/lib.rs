//! # wavegate-cli
//!
//! The `wavegate` command line: a gRPC client of the coordinator's public API (`publish`,
//! `watch`, `waves`, `params`, `agents`), a cluster on loopback (`demo`, `dev`, `replay`), and
//! `bridge`, which relays the reference bot's signal server to the coordinator. The binary
//! only parses arguments and calls [`commands::run`].

pub mod args;
pub mod bench;
pub mod bridge;
pub mod client;
pub mod cluster;
pub mod commands;
pub mod delay_proxy;
pub mod error;
pub mod follow;
pub mod input;
pub mod progress;
pub mod report;
pub mod samples;
pub mod scenario;
pub mod table;
