//! Batches of many multi-row INSERT statements (a partial last one too) are stored whole, on
//! both backends. (Throughput is `wavegate bench`'s to measure, never asserted: machines are noisy.)

use crate::support::{TestDb, current_wave, sig};
use chrono::Utc;
use wavegate_common::Signal;
use wavegate_common::time::wave_id;
use wavegate_coordinator::store::Store;

#[tokio::test]
async fn large_batches_are_stored_whole_and_resent_ones_are_all_duplicates() {
    for db in TestDb::both().await {
        let store = Store::connect(&db.url).await.unwrap();
        let ts = current_wave();
        let n = 2_501i64;
        let batch: Vec<Signal> = (1..=n)
            .map(|i| {
                Signal::from_proto(&sig(i, "BTCUSDT", 2, (i % 100) as f64, ts), 900, Utc::now())
                    .unwrap()
            })
            .collect();
        let close_by = |t| t + chrono::Duration::seconds(1020);
        for chunk in batch.chunks(2_000) {
            let out = store
                .insert_signals(chunk, close_by, Utc::now())
                .await
                .unwrap();
            assert_eq!(out.accepted.len(), chunk.len(), "{:?}", db.backend);
        }
        let stored = store.wave_signals(&wave_id(ts), ts).await.unwrap();
        assert_eq!(stored.len(), n as usize, "{:?}", db.backend);
        let again = store
            .insert_signals(&batch[..2_000], close_by, Utc::now())
            .await
            .unwrap();
        assert_eq!(
            (again.accepted.len(), again.duplicates.len()),
            (0, 2_000),
            "{:?}",
            db.backend
        );
        store.close().await;
    }
}
