//! The integration tests of this crate as one test binary (one link, one process).
mod coordinator_support;
mod fake_exchange_support;
mod fault_support;
mod trace_support;

mod agent_restarts;
mod bridge_e2e;
mod cli_bench;
mod cli_demo_replay;
mod cli_dev_publish;
mod coordinator_cancel;
mod coordinator_close_backoff;
mod coordinator_faults;
mod coordinator_topup_failures;
mod coordinator_worked_example;
mod fake_exchange_binance;
mod fake_exchange_bybit;
mod hostile_agent_callers;
mod journal_behind_venue;
mod metrics_scrape;
mod paper_balance_restart;
mod params_positions_e2e;
mod storage_faults;
mod tls_cluster;
mod trace_demo;
mod trace_distributed;
