//! Invalid messages get precise gRPC statuses and cause no orders.

use crate::support::*;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as Out;
use wavegate_common::proto::v1::coordinator_msg::Msg as In;

/// Sends `msgs` up front and reads the stream until it ends; returns the top-ups seen, the
/// error status, and answers each top-up with `reply(round)`.
async fn exchange(
    client: &mut Client,
    msgs: Vec<In>,
    reply: impl Fn(u32) -> Option<In>,
) -> (Vec<pb::AgentMsg>, Option<tonic::Status>) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    for m in msgs {
        tx.send(msg(m)).await.unwrap();
    }
    let fut = async {
        let mut seen = Vec::new();
        let mut stream = match client.execute_wave(ReceiverStream::new(rx)).await {
            Ok(s) => s.into_inner(),
            Err(s) => return (seen, Some(s)),
        };
        loop {
            match stream.message().await {
                Ok(Some(m)) => {
                    if let Some(Out::Topup(t)) = &m.msg
                        && let Some(r) = reply(t.round)
                    {
                        tx.send(msg(r)).await.unwrap();
                    }
                    seen.push(m);
                }
                Ok(None) => return (seen, None),
                Err(s) => return (seen, Some(s)),
            }
        }
    };
    tokio::time::timeout(GUARD, fut).await.expect("stream ends")
}

fn batch(wave_id: &str, round: u32, first_index: u32, signals: Vec<pb::Signal>) -> In {
    In::Batch(pb::SignalBatch {
        round,
        first_index,
        signals,
        wave_id: wave_id.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(dir.path(), 1, "binance")).await;
    let all = signals(1, 1, &["BTCUSDT"]);

    let (_, s) = exchange(&mut client, vec![batch("W", 0, 0, all.clone())], |_| None).await;
    let s = s.expect("status");
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(s.message(), "expected Start as the first message");

    let mut st = start_msg("W", 1, 1, 1, 1);
    st.protocol_version = 2;
    let (_, s) = exchange(&mut client, vec![In::Start(st)], |_| None).await;
    assert_eq!(s.unwrap().code(), Code::FailedPrecondition);

    let mut st = start_msg("W", 1, 1, 1, 1);
    st.params = None;
    let (_, s) = exchange(&mut client, vec![In::Start(st)], |_| None).await;
    let s = s.unwrap();
    assert_eq!(
        (s.code(), s.message()),
        (Code::InvalidArgument, "params: missing")
    );

    let st = start_msg("W", 2, 1, 1, 1);
    let (_, s) = exchange(
        &mut client,
        vec![In::Start(st), batch("W", 0, 0, all.clone())],
        |_| None,
    )
    .await;
    let s = s.unwrap();
    assert_eq!(
        (s.code(), s.message()),
        (
            Code::InvalidArgument,
            "params.exchange_id: agent serves exchange 1, got 2"
        )
    );

    let st = start_msg("W", 1, 0, 1, 1);
    let (_, s) = exchange(&mut client, vec![In::Start(st)], |_| None).await;
    let s = s.unwrap();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message().starts_with("params.max_trades:"),
        "{}",
        s.message()
    );

    assert_eq!(describe(&mut client).await.orders_sent, 0);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signal_in_a_batch_refuses_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(dir.path(), 1, "binance")).await;
    let mut all = signals(1, 1, &["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]);
    all[3].symbol = "xrp-usdt".into();
    let (seen, s) = exchange(
        &mut client,
        vec![
            In::Start(start_msg("W", 1, 4, 4, 4)),
            batch("W", 0, 0, all.clone()),
        ],
        |_| None,
    )
    .await;
    let s = s.unwrap();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message().starts_with("signals[3].symbol:"),
        "{}",
        s.message()
    );
    assert!(seen.is_empty(), "not even a verdict: {seen:?}");

    all[3] = sig(4, "XRPUSDT", 2);
    let (_, s) = exchange(
        &mut client,
        vec![In::Start(start_msg("W", 1, 4, 4, 4)), batch("W", 0, 0, all)],
        |_| None,
    )
    .await;
    assert_eq!(
        s.unwrap().message(),
        "signals[3].exchange_id: agent serves exchange 1, got 2"
    );

    let all = signals(1, 1, &["BTCUSDT"]);
    let (_, s) = exchange(
        &mut client,
        vec![
            In::Start(start_msg("W", 1, 1, 1, 1)),
            batch("OTHER", 0, 0, all),
        ],
        |_| None,
    )
    .await;
    let s = s.unwrap();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("batch.wave_id:"), "{}", s.message());

    let d = describe(&mut client).await;
    assert_eq!(d.orders_sent, 0);
    assert!(d.open_positions.is_empty());
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topup_answers_for_another_wave_or_round_are_refused_without_orders() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.invalid_symbols = vec!["BADUSDT".into()];
    let (agent, mut client) = start(cfg).await;
    // Buffer: one success, one rule failure → top-up round 1 for 3 (needed 2).
    let buffer = signals(1, 1, &["BTCUSDT", "BADUSDT"]);
    let more = signals(1, 3, &["ETHUSDT", "SOLUSDT", "XRPUSDT"]);
    let start = || In::Start(start_msg("W", 1, 3, 2, 10));

    let (seen, s) = exchange(
        &mut client,
        vec![start(), batch("W", 0, 0, buffer.clone())],
        |round| Some(batch("OTHER", round, 2, more.clone())),
    )
    .await;
    let s = s.unwrap();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("batch.wave_id:"), "{}", s.message());
    assert!(seen.iter().any(|m| matches!(m.msg, Some(Out::Topup(_)))));
    assert!(!seen.iter().any(|m| matches!(m.msg, Some(Out::Result(_)))));

    let (_, s) = exchange(
        &mut client,
        vec![
            In::Start(start_msg("W2", 1, 3, 2, 10)),
            batch("W2", 0, 0, buffer.clone()),
        ],
        |round| Some(batch("W2", round + 1, 2, more.clone())),
    )
    .await;
    let s = s.unwrap();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(
        s.message(),
        "batch.round: round 2 was not requested (waiting for round 1)"
    );

    let (_, s) = exchange(
        &mut client,
        vec![
            In::Start(start_msg("W3", 1, 3, 2, 10)),
            batch("W3", 0, 0, buffer),
        ],
        |round| {
            Some(In::Exhausted(pb::Exhausted {
                round: round + 5,
                wave_id: "W3".into(),
            }))
        },
    )
    .await;
    assert!(s.unwrap().message().starts_with("exhausted.round:"));

    // Only the buffers' BTCUSDT was ever sent (W); later waves found it open: no new order.
    let d = describe(&mut client).await;
    assert_eq!(d.orders_sent, 1);
    assert_eq!(d.open_positions, vec!["BTCUSDT"]);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_batches_and_missing_wave_ids_are_refused_without_orders() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.invalid_symbols = vec!["BADUSDT".into(), "BAD2USDT".into()];
    let (agent, mut client) = start(cfg).await;
    let all = signals(
        1,
        1,
        &["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"],
    );

    // Round 0 may hold min(buffer_size, total_signals) = 3 signals, not 4.
    let (seen, s) = exchange(
        &mut client,
        vec![
            In::Start(start_msg("W1", 1, 2, 3, 10)),
            batch("W1", 0, 0, all[..4].to_vec()),
        ],
        |_| None,
    )
    .await;
    let s = s.unwrap();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("batch.signals:"), "{}", s.message());
    assert!(s.message().contains("round 0"), "{}", s.message());
    assert!(seen.is_empty(), "not even a verdict: {seen:?}");

    // A top-up may hold the request's count: 3 missing successes ask for 4, not 5.
    let buffer = signals(1, 11, &["BADUSDT", "BAD2USDT"]);
    let (seen, s) = exchange(
        &mut client,
        vec![
            In::Start(start_msg("W2", 1, 3, 2, 10)),
            batch("W2", 0, 0, buffer),
        ],
        |round| Some(batch("W2", round, 2, all.clone())),
    )
    .await;
    let asked = seen
        .iter()
        .find_map(|m| match &m.msg {
            Some(Out::Topup(t)) => Some(*t),
            _ => None,
        })
        .expect("a top-up request");
    assert_eq!(asked.count, 4);
    let s = s.unwrap();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("batch.signals:"), "{}", s.message());
    assert!(s.message().contains("round 1"), "{}", s.message());

    // The wave must be named: on Start, on a batch, on Exhausted.
    let (_, s) = exchange(
        &mut client,
        vec![In::Start(start_msg("", 1, 1, 1, 1))],
        |_| None,
    )
    .await;
    let s = s.unwrap();
    assert_eq!(
        (s.code(), s.message()),
        (Code::InvalidArgument, "wave_id: missing")
    );
    let (_, s) = exchange(
        &mut client,
        vec![
            In::Start(start_msg("W3", 1, 1, 1, 1)),
            batch("", 0, 0, all[..1].to_vec()),
        ],
        |_| None,
    )
    .await;
    let s = s.unwrap();
    assert_eq!(
        (s.code(), s.message()),
        (Code::InvalidArgument, "batch.wave_id: missing")
    );
    let (_, s) = exchange(
        &mut client,
        vec![
            In::Start(start_msg("W4", 1, 3, 2, 10)),
            batch("W4", 0, 0, signals(1, 21, &["BADUSDT", "BAD2USDT"])),
        ],
        |round| {
            Some(In::Exhausted(pb::Exhausted {
                round,
                wave_id: String::new(),
            }))
        },
    )
    .await;
    let s = s.unwrap();
    assert_eq!(
        (s.code(), s.message()),
        (Code::InvalidArgument, "exhausted.wave_id: missing")
    );

    let d = describe(&mut client).await;
    assert_eq!(d.orders_sent, 0);
    assert!(d.open_positions.is_empty());
    agent.shutdown().await;
}
