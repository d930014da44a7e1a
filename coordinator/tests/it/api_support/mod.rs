//! Helpers shared by the public-API tests (`api_ingest.rs`, `api_waves.rs`): a coordinator
//! config with two exchanges (1 without params, 2 whose agent port is closed), connected
//! clients, and a wait for a wave's final status.
// Each test file uses a part of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use tonic::transport::Channel;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agents_client::AgentsClient;
use wavegate_common::proto::v1::params_client::ParamsClient;
use wavegate_common::proto::v1::signal_ingest_client::SignalIngestClient;
use wavegate_common::proto::v1::waves_client::WavesClient;
use wavegate_common::time::to_proto;
use wavegate_coordinator::{CoordinatorConfig, CoordinatorHandle, ExchangeConfig};

use crate::support::TestDb;

/// Failure guard for waits (never a timing assertion).
pub const GUARD: Duration = Duration::from_secs(60);

/// A port nothing listens on.
pub fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Exchange 1 (`binance`) without params or agent; exchange 2 (`bybit`) with default
/// params and an agent on a closed port.
pub fn config(db: &TestDb) -> CoordinatorConfig {
    let mut c = CoordinatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db.url.clone(),
        ..Default::default()
    };
    c.dispatch.retries = 2;
    c.dispatch.connect_timeout_ms = 300;
    c.exchanges = vec![
        ExchangeConfig {
            id: 1,
            name: "binance".into(),
            agent: None,
            default_max_trades: None,
            region: None,
            agent_token_file: None,
            min_size_usd: None,
            max_size_usd: None,
        },
        ExchangeConfig {
            id: 2,
            name: "bybit".into(),
            agent: Some(format!("http://127.0.0.1:{}", dead_port())),
            default_max_trades: Some(4),
            region: Some("ap-southeast-1".into()),
            agent_token_file: None,
            min_size_usd: None,
            max_size_usd: None,
        },
    ];
    c
}

/// A client of each public service.
pub struct Clients {
    /// Ingest.
    pub ingest: SignalIngestClient<Channel>,
    /// Waves.
    pub waves: WavesClient<Channel>,
    /// Params.
    pub params: ParamsClient<Channel>,
    /// Agents.
    pub agents: AgentsClient<Channel>,
}

/// Connects the clients to `h`.
pub async fn clients(h: &CoordinatorHandle) -> Clients {
    let ch = Channel::from_shared(format!("http://{}", h.local_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Clients {
        ingest: SignalIngestClient::new(ch.clone()),
        waves: WavesClient::new(ch.clone()),
        params: ParamsClient::new(ch.clone()),
        agents: AgentsClient::new(ch),
    }
}

/// A `PublishWave` request.
pub fn wave(ts: DateTime<Utc>, signals: Vec<pb::Signal>, close: bool) -> pb::Wave {
    pb::Wave {
        wave_timestamp: Some(to_proto(ts)),
        signals,
        close,
    }
}

/// Waits for the wave to reach a final status and returns its detail.
pub async fn finished(c: &mut Clients, id: &str) -> pb::WaveDetail {
    tokio::time::timeout(GUARD, async {
        loop {
            let d = c
                .waves
                .get(pb::GetWaveRequest { wave_id: id.into() })
                .await
                .unwrap()
                .into_inner();
            let st = d.summary.as_ref().unwrap().status;
            if st >= pb::WaveStatus::Completed as i32 {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("wave did not finish")
}
