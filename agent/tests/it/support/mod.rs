//! Test support: start an agent on a free loopback port with a temp journal, and drive a wave
//! over real gRPC as a coordinator would.
#![allow(dead_code)]

pub mod scrape;

use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use wavegate_agent::exchange::Side;
use wavegate_agent::journal::NewOrder;
use wavegate_agent::{AgentConfig, AgentHandle};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as Out;
use wavegate_common::proto::v1::coordinator_msg::Msg as In;
use wavegate_common::proto::v1::exchange_agent_client::ExchangeAgentClient;

/// Failure guard for anything that waits (never an assertion on speed).
pub const GUARD: Duration = Duration::from_secs(60);

/// The gRPC client type.
pub type Client = ExchangeAgentClient<Channel>;

/// A paper agent config with its journal in `dir`.
pub fn config(dir: &Path, exchange_id: u32, name: &str) -> AgentConfig {
    AgentConfig::paper(exchange_id, name, dir.join(format!("{name}.db")))
}

/// Starts an agent and connects a client to it.
pub async fn start(cfg: AgentConfig) -> (AgentHandle, Client) {
    let agent = wavegate_agent::spawn(cfg).await.expect("agent starts");
    let client = connect(agent.local_addr()).await;
    (agent, client)
}

/// Connects to an agent.
pub async fn connect(addr: std::net::SocketAddr) -> Client {
    let url = format!("http://{addr}");
    tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(c) = ExchangeAgentClient::connect(url.clone()).await {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("agent reachable")
}

/// A valid signal.
pub fn sig(id: i64, symbol: &str, exchange_id: u32) -> pb::Signal {
    pb::Signal {
        id,
        symbol: symbol.into(),
        exchange_id,
        action: pb::Action::Buy as i32,
        score_week: 90.0 - id as f64 / 10.0,
        score_month: 50.0,
        wave_timestamp: Some(prost_types::Timestamp {
            seconds: 1_795_000_000,
            nanos: 0,
        }),
        created_at: None,
        params: None,
    }
}

/// Signals `first_id..` for the symbols, in rank order.
pub fn signals(exchange_id: u32, first_id: i64, symbols: &[&str]) -> Vec<pb::Signal> {
    symbols
        .iter()
        .enumerate()
        .map(|(i, s)| sig(first_id + i as i64, s, exchange_id))
        .collect()
}

/// A `Start` for a wave.
pub fn start_msg(
    wave_id: &str,
    exchange_id: u32,
    max_trades: u32,
    buffer_size: u32,
    total_signals: u32,
) -> pb::Start {
    pb::Start {
        protocol_version: 1,
        wave_id: wave_id.into(),
        wave_timestamp: None,
        params: Some(pb::ExchangeParams {
            exchange_id,
            exchange_name: String::new(),
            max_trades,
            buffer_size,
            source: pb::ParamsSource::Db as i32,
            ..Default::default()
        }),
        mode: pb::ExecutionMode::Unspecified as i32,
        deadline: None,
        total_signals,
        max_topup_rounds: 0,
        topup_after_failures: false,
    }
}

/// Reads `stream` up to the wave's `Result` (other messages are skipped), within [`GUARD`].
pub async fn result_of(stream: &mut tonic::Streaming<pb::AgentMsg>) -> pb::Result {
    tokio::time::timeout(GUARD, async {
        loop {
            let m = stream.message().await.unwrap().expect("result before end");
            if let Some(Out::Result(r)) = m.msg {
                return r;
            }
        }
    })
    .await
    .expect("a Result within the guard")
}

/// Opens an `ExecuteWave` stream with `start` and the buffer (`signals`, round 0) already sent.
/// The sender stays open, so the test can send more (a cancel, a top-up answer) or drop it to
/// play a lost coordinator.
pub async fn open_wave(
    client: &mut Client,
    start: pb::Start,
    signals: Vec<pb::Signal>,
) -> (
    tokio::sync::mpsc::Sender<pb::CoordinatorMsg>,
    tonic::Streaming<pb::AgentMsg>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let wave_id = start.wave_id.clone();
    tx.send(msg(In::Start(start))).await.unwrap();
    tx.send(msg(In::Batch(pb::SignalBatch {
        round: 0,
        first_index: 0,
        signals,
        wave_id,
    })))
    .await
    .unwrap();
    let stream = client
        .execute_wave(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    (tx, stream)
}

/// How the fake coordinator answers top-up requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    /// With the next `count` signals (or `Exhausted` when none are left).
    Serve,
    /// With `Exhausted`.
    Exhausted,
}

/// Everything the agent sent on one stream.
#[derive(Debug, Default)]
pub struct WaveRun {
    /// Outcomes in arrival order.
    pub outcomes: Vec<pb::SignalOutcome>,
    /// Top-up requests.
    pub topups: Vec<pb::TopUpRequest>,
    /// Final result.
    pub result: Option<pb::Result>,
    /// Error status ending the stream.
    pub status: Option<tonic::Status>,
    /// Top-ups answered after this many execution outcomes had arrived (pipelining proof).
    pub executions_before_answer: Vec<usize>,
}

impl WaveRun {
    /// The result, which must be there.
    pub fn result(&self) -> &pb::Result {
        self.result.as_ref().unwrap_or_else(|| {
            panic!("no result; status {:?}", self.status);
        })
    }
    /// The result's stats.
    pub fn stats(&self) -> &pb::ExchangeStats {
        self.result().stats.as_ref().expect("stats")
    }
    /// Signal ids with a position opened, in rank order.
    pub fn executed_ids(&self) -> Vec<i64> {
        self.result()
            .outcomes
            .iter()
            .filter(|o| o.executed)
            .map(|o| o.signal_id)
            .collect()
    }
    /// Execution-stage outcomes as they arrived.
    pub fn executions(&self) -> Vec<&pb::SignalOutcome> {
        self.outcomes
            .iter()
            .filter(|o| o.stage == pb::Stage::Execution as i32)
            .collect()
    }
}

/// Options of [`drive`].
#[derive(Debug, Clone, Copy)]
pub struct Drive {
    /// Top-up policy.
    pub answer: Answer,
    /// Hold a top-up answer until this many execution outcomes arrived.
    pub hold_until_executions: usize,
}

impl Default for Drive {
    fn default() -> Self {
        Self {
            answer: Answer::Serve,
            hold_until_executions: 0,
        }
    }
}

/// Runs a wave: sends `start` and the buffer (`start.params.buffer_size` first signals),
/// answers top-ups from the rest of `all` per `opts`, and collects everything until the
/// stream ends.
pub async fn drive(
    client: &mut Client,
    start: pb::Start,
    all: &[pb::Signal],
    opts: Drive,
) -> WaveRun {
    drive_with_metadata(client, start, all, opts, MetadataMap::new()).await
}

/// Drives wave `W` of exchange 1 with one signal per symbol (ids from 1), all in the buffer,
/// to `max_trades`: the plain re-sent wave of the recovery tests.
pub async fn drive_symbols(client: &mut Client, max_trades: u32, symbols: &[&str]) -> WaveRun {
    let n = u32::try_from(symbols.len()).expect("a few symbols");
    let start = start_msg("W", 1, max_trades, n, n);
    drive(client, start, &signals(1, 1, symbols), Drive::default()).await
}

/// [`drive`] with request metadata on the `ExecuteWave` call (e.g. a W3C `traceparent`).
pub async fn drive_with_metadata(
    client: &mut Client,
    start: pb::Start,
    all: &[pb::Signal],
    opts: Drive,
    metadata: MetadataMap,
) -> WaveRun {
    let buffer = start.params.as_ref().map_or(0, |p| p.buffer_size) as usize;
    let wave_id = start.wave_id.clone();
    let (tx, rx) = mpsc::channel(64);
    tx.send(msg(In::Start(start))).await.unwrap();
    let first = buffer.min(all.len());
    tx.send(msg(In::Batch(pb::SignalBatch {
        round: 0,
        first_index: 0,
        signals: all[..first].to_vec(),
        wave_id: wave_id.clone(),
    })))
    .await
    .unwrap();
    let mut sent = first;
    let mut run = WaveRun::default();
    let fut = async {
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        *request.metadata_mut() = metadata;
        let mut stream = match client.execute_wave(request).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                run.status = Some(s);
                return;
            }
        };
        let mut held: Option<pb::TopUpRequest> = None;
        loop {
            let m = match stream.message().await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(s) => {
                    run.status = Some(s);
                    break;
                }
            };
            match m.msg {
                Some(Out::Outcome(o)) => run.outcomes.push(o),
                Some(Out::Topup(t)) => {
                    run.topups.push(t);
                    held = Some(t);
                }
                Some(Out::Result(r)) => run.result = Some(r),
                None => panic!("empty AgentMsg"),
            }
            let executions = run.executions().len();
            if let Some(t) = held
                && executions >= opts.hold_until_executions
            {
                held = None;
                run.executions_before_answer.push(executions);
                let range = wavegate_common::plan::next_batch(sent, t.count, all.len());
                let reply = if opts.answer == Answer::Exhausted || range.is_empty() {
                    In::Exhausted(pb::Exhausted {
                        round: t.round,
                        wave_id: wave_id.clone(),
                    })
                } else {
                    sent = range.end;
                    In::Batch(pb::SignalBatch {
                        round: t.round,
                        first_index: range.start as u32,
                        signals: all[range].to_vec(),
                        wave_id: wave_id.clone(),
                    })
                };
                let _ = tx.send(msg(reply)).await;
            }
        }
    };
    tokio::time::timeout(GUARD, fut)
        .await
        .expect("wave finishes");
    run
}

/// The journal row of a long entry as the agent writes it before sending: signal
/// `signal_id` of wave `wave_id`, sent by a run whose first target was `wave_target`.
pub fn new_order<'a>(
    coid: &'a str,
    wave_id: &'a str,
    signal_id: i64,
    symbol: &'a str,
    wave_target: u32,
) -> NewOrder<'a> {
    NewOrder {
        client_order_id: coid,
        wave_id,
        signal_id,
        symbol,
        side: Side::Long,
        wave_target,
        index: u32::try_from(signal_id - 1).unwrap_or(0),
        round: 0,
        trailing: None,
    }
}

/// Wraps a coordinator message.
pub fn msg(m: In) -> pb::CoordinatorMsg {
    pb::CoordinatorMsg { msg: Some(m) }
}

/// Describe.
pub async fn describe(client: &mut Client) -> pb::DescribeResponse {
    client
        .describe(pb::DescribeRequest {})
        .await
        .expect("describe")
        .into_inner()
}
