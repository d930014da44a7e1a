//! A journal on a full disk (a small tmpfs; issue 12, item 3): an order cannot be journaled
//! before it is sent, so none is sent; the walk stops, the next wave is refused with
//! `UNAVAILABLE`, and trading resumes by itself once the disk has room again.

use wavegate_tests::small_disk::SmallDisk;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_journal_disk_stops_trading_until_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("journal"), "1m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (CAP_SYS_ADMIN)");
        return;
    };
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.journal = dir.path().join("journal/binance.db");
    let (agent, mut client) = start(cfg).await;
    let (_tx, mut stream) = open_wave(
        &mut client,
        start_msg("W1", 1, 1, 1, 1),
        signals(1, 1, &["BTCUSDT"]),
    )
    .await;
    assert_eq!(result_of(&mut stream).await.stats.unwrap().executed, 1);

    disk.fill();
    // The WAL may still hold a few writes: waves until one fails to journal, each of them
    // sending no order it could not journal first.
    let mut stopped = None;
    for n in 0..50 {
        let symbols: Vec<String> = (0..20).map(|i| format!("S{n}X{i}USDT")).collect();
        let symbols: Vec<&str> = symbols.iter().map(String::as_str).collect();
        let (_tx, mut stream) = open_wave(
            &mut client,
            start_msg(&format!("F{n}"), 1, 20, 20, 20),
            signals(1, 1, &symbols),
        )
        .await;
        let r = loop {
            match stream.message().await {
                Ok(Some(m)) => {
                    if let Some(wavegate_common::proto::v1::agent_msg::Msg::Result(r)) = m.msg {
                        break Ok(r);
                    }
                }
                Ok(None) => panic!("stream ended without a result"),
                Err(status) => break Err(status),
            }
        };
        match r {
            Ok(r) if r.stats.as_ref().unwrap().error == "journal_unwritable" => {
                stopped = Some(r);
                break;
            }
            Ok(_) => {}
            Err(status) => panic!("refused before a write failed: {status:?}"),
        }
    }
    let stopped = stopped.expect("the full disk never failed a journal write");
    let s = stopped.stats.unwrap();
    assert!(s.executed < 20, "the walk stopped: {s:?}");
    let sent_before = describe(&mut client).await.orders_sent;

    // The next wave is refused while the disk is full; nothing is sent.
    let (_tx, mut stream) = open_wave(
        &mut client,
        start_msg("W2", 1, 1, 1, 1),
        signals(1, 100, &["ETHUSDT"]),
    )
    .await;
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("stream ended without an error"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("journal"), "{status:?}");
    assert_eq!(describe(&mut client).await.orders_sent, sent_before);

    disk.free();
    let (_tx, mut stream) = open_wave(
        &mut client,
        start_msg("W3", 1, 1, 1, 1),
        signals(1, 200, &["SOLUSDT"]),
    )
    .await;
    assert_eq!(result_of(&mut stream).await.stats.unwrap().executed, 1);
    agent.shutdown().await;
    drop(disk);
}
