//! The integration tests of this crate as one test binary (one link, one process).
mod api_support;
mod support;

mod api_cancel;
mod api_ingest;
mod api_waves;
mod auth;
mod claim_params;
mod claim_sqlite;
mod hostile_clients;
mod large_batches;
mod params_positions;
mod store;
mod telemetry_lost_agent;
mod wave_params;
mod wave_timing;
