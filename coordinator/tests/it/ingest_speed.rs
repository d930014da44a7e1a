//! Ingest throughput on SQLite, printed (never asserted: machines are noisy). Run with
//! `cargo test --release -p wavegate-coordinator --test it ingest_speed -- --nocapture`.

use crate::support::{TestDb, current_wave, sig};
use chrono::Utc;
use wavegate_common::Signal;
use wavegate_coordinator::store::Store;

#[tokio::test]
async fn store_batches_print_their_rate() {
    let db = TestDb::sqlite().await;
    let store = Store::connect(&db.url).await.unwrap();
    let ts = current_wave();
    let n = 50_000i64;
    let batch: Vec<Signal> = (1..=n)
        .map(|i| {
            Signal::from_proto(&sig(i, "BTCUSDT", 2, (i % 100) as f64, ts), 900, Utc::now())
                .unwrap()
        })
        .collect();
    let started = std::time::Instant::now();
    for chunk in batch.chunks(20_000) {
        let out = store
            .insert_signals(chunk, |t| t + chrono::Duration::seconds(1020), Utc::now())
            .await
            .unwrap();
        assert_eq!(out.accepted.len(), chunk.len());
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    eprintln!("store: {n} signals at {rate:.0}/s");
    store.close().await;
}
