//! An agent whose stream breaks mid-wave on every attempt: it took the wave, so it is sent the
//! wave again until the deadline and result wait pass; the exchange is then reported with the
//! outcomes that did arrive (positions opened count), `error = deadline`, the wave ends
//! `partial`, and the coordinator's metrics say the same.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::support::{TestDb, current_wave, sig, sig_with_params};
use futures::Stream;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, Streaming};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg;
use wavegate_common::proto::v1::exchange_agent_server::{ExchangeAgent, ExchangeAgentServer};
use wavegate_common::proto::v1::signal_ingest_client::SignalIngestClient;
use wavegate_common::proto::v1::waves_client::WavesClient;
use wavegate_common::time::{to_proto, wave_id};
use wavegate_coordinator::CoordinatorConfig;

const GUARD: Duration = Duration::from_secs(60);

/// Executes the first two signals of the buffer, then drops the stream with UNAVAILABLE.
#[derive(Clone, Default)]
struct BreakingAgent {
    calls: Arc<AtomicU32>,
}

type Out = Pin<Box<dyn Stream<Item = Result<pb::AgentMsg, Status>> + Send>>;

fn outcome(s: &pb::Signal, index: u32, stage: pb::Stage, kind: pb::OutcomeKind) -> pb::AgentMsg {
    pb::AgentMsg {
        msg: Some(Msg::Outcome(pb::SignalOutcome {
            signal_id: s.id,
            index,
            symbol: s.symbol.clone(),
            stage: stage as i32,
            kind: kind as i32,
            executed: kind == pb::OutcomeKind::Executed,
            ..Default::default()
        })),
    }
}

#[tonic::async_trait]
impl ExchangeAgent for BreakingAgent {
    type ExecuteWaveStream = Out;

    async fn execute_wave(
        &self,
        request: Request<Streaming<pb::CoordinatorMsg>>,
    ) -> Result<Response<Out>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut inbound = request.into_inner();
        let mut buffer = Vec::new();
        while let Some(m) = inbound.message().await? {
            if let Some(pb::coordinator_msg::Msg::Batch(b)) = m.msg {
                buffer = b.signals;
                break;
            }
        }
        let mut out: Vec<Result<pb::AgentMsg, Status>> = Vec::new();
        for (i, s) in buffer.iter().enumerate().take(2) {
            let i = i as u32;
            out.push(Ok(outcome(
                s,
                i,
                pb::Stage::Validation,
                pb::OutcomeKind::Validated,
            )));
            out.push(Ok(outcome(
                s,
                i,
                pb::Stage::Execution,
                pb::OutcomeKind::Executed,
            )));
        }
        out.push(Err(Status::unavailable("connection to coordinator lost")));
        Ok(Response::new(Box::pin(futures::stream::iter(out))))
    }

    async fn describe(
        &self,
        _request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        Ok(Response::new(pb::DescribeResponse::default()))
    }
}

#[tokio::test]
async fn lost_agent_reports_the_known_outcomes_and_leaves_the_wave_partial() {
    let agent = BreakingAgent::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent_addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ExchangeAgentServer::new(agent.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let db = TestDb::sqlite().await;
    let cfg = CoordinatorConfig::from_toml(&format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{}\"\n\
         [waves]\ndeadline_secs = 2\n\
         [dispatch]\nretries = 2\nresult_wait_secs = 1\nconnect_timeout_ms = 500\n\
         [[exchanges]]\nid = 1\nname = \"binance\"\nagent = \"http://{agent_addr}\"\n",
        db.url
    ))
    .unwrap();
    let coord = wavegate_coordinator::spawn(cfg).await.unwrap();
    let endpoint = format!("http://{}", coord.local_addr());

    let ts = current_wave();
    let mut signals = vec![sig_with_params(1, "BTCUSDT", 1, 90.0, ts, 3)];
    for (i, s) in ["ETHUSDT", "SOLUSDT", "XRPUSDT"].iter().enumerate() {
        signals.push(sig(2 + i as i64, s, 1, 80.0 - i as f64, ts));
    }
    SignalIngestClient::connect(endpoint.clone())
        .await
        .unwrap()
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals,
            close: true,
        })
        .await
        .unwrap();

    let id = wave_id(ts);
    let mut waves = WavesClient::connect(endpoint).await.unwrap();
    let detail = tokio::time::timeout(GUARD, async {
        loop {
            let d = waves
                .get(pb::GetWaveRequest {
                    wave_id: id.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            if d.summary.as_ref().unwrap().status >= pb::WaveStatus::Completed as i32 {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("wave did not finish");

    let summary = detail.summary.unwrap();
    assert_eq!(summary.status, pb::WaveStatus::Partial as i32);
    // More than `retries`: an agent that took the wave is asked until the wait ends.
    let calls = agent.calls.load(Ordering::SeqCst);
    assert!(calls > 2, "re-sent until the deadline, {calls} attempts");
    let ex = &detail.exchanges[0];
    assert_eq!(ex.error, "deadline");
    assert_eq!(ex.executed, 2, "positions that opened count: {ex:?}");
    assert_eq!(ex.validated_successful, 2, "{ex:?}");
    assert_eq!(ex.execution_failed, 0);
    assert_eq!(ex.target, 3);
    assert!(!ex.target_reached);
    assert_eq!(ex.skipped, 2, "the two signals never reported");
    assert_eq!(summary.totals.unwrap().total_executed, 2);
    let executed: Vec<i64> = detail
        .outcomes
        .iter()
        .filter_map(|o| o.outcome.as_ref())
        .filter(|o| o.executed)
        .map(|o| o.signal_id)
        .collect();
    assert_eq!(executed, vec![1, 2]);

    let text = coord.metrics().encode().unwrap();
    for line in [
        r#"wavegate_waves_total{status="partial"} 1"#,
        r#"wavegate_exchange_executed_total{exchange="binance"} 2"#,
        r#"wavegate_agent_connected{exchange="binance"} 0"#,
        r#"wavegate_ingest_signals_total{result="accepted"} 4"#,
        // Missed: the series is there, at 0.
        r#"wavegate_exchange_target_reached_total{exchange="binance"} 0"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }

    coord.shutdown().await;
    server.abort();
}
