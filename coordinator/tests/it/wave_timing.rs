//! Wave timing and wave-timestamp sanity over real gRPC (issues 10 and 12): repeats do not
//! hold a wave open, timestamps off the candle grid or far from now are refused naming
//! `wave_timestamp`, a late close says "late", and a retry of stored signals is a duplicate
//! (stored already) even after the wave closed.

use std::time::Duration;

use tonic::Code;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::wave_id;

use crate::api_support::{Clients, GUARD, clients, config, wave};
use crate::support::{TestDb, current_wave, sig};

async fn status(c: &mut Clients, id: &str) -> i32 {
    let d = c
        .waves
        .get(pb::GetWaveRequest { wave_id: id.into() })
        .await
        .unwrap()
        .into_inner();
    d.summary.unwrap().status
}

#[tokio::test]
async fn a_producer_resending_its_window_does_not_hold_the_wave_open() {
    let db = TestDb::sqlite().await;
    let mut cfg = config(&db);
    cfg.waves.quiet_secs = 1;
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let mut c = clients(&h).await;
    let ts = current_wave();
    let id = wave_id(ts);
    let first = vec![sig(1, "BTCUSDT", 2, 50.0, ts)];
    let s = c
        .ingest
        .publish_wave(wave(ts, first.clone(), false))
        .await
        .unwrap();
    assert_eq!(s.into_inner().accepted, 1);
    // Re-send the same signal every 0.25 s (well inside the 1 s quiet period), as the
    // reference's server pushes its whole window again and again. The wave must close once
    // 1 s passes without a NEW signal, however often repeats come.
    let closed = tokio::time::timeout(GUARD, async {
        loop {
            let s = c
                .ingest
                .publish_wave(wave(ts, first.clone(), false))
                .await
                .unwrap()
                .into_inner();
            // A repeat is "stored already", before and after the wave closed.
            assert_eq!((s.accepted, s.rejected), (0, 1), "{s:?}");
            assert_eq!(s.rejections[0].code, Code::AlreadyExists as i32, "{s:?}");
            if status(&mut c, &id).await != pb::WaveStatus::Collecting as i32 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "repeats kept wave {id} collecting");
    h.shutdown().await;
}

#[tokio::test]
async fn wave_timestamps_off_the_grid_ahead_or_too_old_are_refused() {
    let db = TestDb::sqlite().await;
    let h = wavegate_coordinator::spawn(config(&db)).await.unwrap();
    let mut c = clients(&h).await;
    let ts = current_wave();
    let minute = chrono::Duration::seconds(60);
    let year_2099 = chrono::DateTime::parse_from_rfc3339("2099-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let signals = vec![
        sig(1, "BTCUSDT", 2, 50.0, ts),
        sig(2, "ETHUSDT", 2, 50.0, ts + minute),
        sig(3, "SOLUSDT", 2, 50.0, ts + minute * 2),
        sig(4, "XRPUSDT", 2, 50.0, year_2099),
        sig(5, "ADAUSDT", 2, 50.0, ts + chrono::Duration::seconds(1800)),
        sig(6, "DOGEUSDT", 2, 50.0, ts - chrono::Duration::hours(3)),
    ];
    let s = c
        .ingest
        .publish_wave(wave(ts, signals, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.accepted, s.rejected), (1, 5), "{s:?}");
    // :00, :01 and :02 of one candle make ONE wave.
    assert_eq!(s.wave_ids, vec![wave_id(ts)]);
    let got: Vec<(i64, &str, i32)> = s
        .rejections
        .iter()
        .map(|r| (r.signal_id, r.field.as_str(), r.code))
        .collect();
    let bad = Code::InvalidArgument as i32;
    let late = Code::FailedPrecondition as i32;
    assert_eq!(
        got,
        vec![
            (2, "wave_timestamp", bad),
            (3, "wave_timestamp", bad),
            (4, "wave_timestamp", bad),
            (5, "wave_timestamp", bad),
            (6, "wave_timestamp", late),
        ]
    );
    assert!(
        s.rejections[0].reason.contains("not the open time"),
        "{s:?}"
    );
    assert!(s.rejections[2].reason.contains("ahead of now"), "{s:?}");
    assert!(s.rejections[4].reason.starts_with("late:"), "{s:?}");

    // A close for a misaligned wave names the field as a bad request.
    let e = c
        .ingest
        .publish_wave(wave(ts + minute, vec![], true))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("close.wave_timestamp"), "{e:?}");
    h.shutdown().await;
}

#[tokio::test]
async fn a_late_signal_and_its_close_are_reported_late_not_not_found() {
    let db = TestDb::sqlite().await;
    let h = wavegate_coordinator::spawn(config(&db)).await.unwrap();
    let mut c = clients(&h).await;
    // Three candles back: at least 45 minutes old, past the default acceptance window
    // (T + 15 + 10 + 2 minutes) but younger than max_wave_age (2 h).
    let ts = current_wave() - chrono::Duration::seconds(3 * 900);
    let e = c
        .ingest
        .publish_wave(wave(ts, vec![sig(1, "BTCUSDT", 2, 50.0, ts)], true))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("late: wave"), "{e:?}");
    let s = c
        .ingest
        .publish_wave(wave(ts, vec![sig(1, "BTCUSDT", 2, 50.0, ts)], false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.rejections[0].code, Code::FailedPrecondition as i32);
    assert!(
        s.rejections[0].reason.contains("stopped accepting signals"),
        "{s:?}"
    );
    h.shutdown().await;
}
