//! The integration tests of this crate as one test binary (one link, one process).
mod live_support;
mod recovery_support;
mod support;

mod binary_and_config;
mod caller_auth;
mod foreign_positions;
mod guarantees;
mod journal_disk_full;
mod journal_integrity;
mod journal_replay;
mod positions;
mod positions_live;
mod preflight_check;
mod protocol_errors;
mod reflection;
mod resent_waves;
mod resume_after_topup;
mod stalls;
mod stop_recovery;
mod telemetry;
mod tls;
mod topup_after_failures;
mod venue_contract;
mod venue_waves;
mod walk_and_topup;
mod worked_example;
