//! The public ingest API over real gRPC against `spawn` on 127.0.0.1:0 (SQLite in a temp
//! dir): per-signal rejections, oversize calls, the streaming `Publish`, bulk ingest, and the
//! health service. No agent is running: exchanges lack params or point at a closed port.

use crate::api_support::{clients, config, finished, wave};
use crate::support::{TestDb, current_wave, sig};
use tonic::Code;
use tonic::transport::Channel;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{to_proto, wave_id};

#[tokio::test]
async fn bad_input_is_rejected_precisely_and_changes_nothing() {
    let db = TestDb::sqlite().await;
    let mut cfg = config(&db);
    cfg.max_batch_signals = 6;
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let mut c = clients(&h).await;
    let ts = current_wave();
    let mut nan = sig(2, "ETHUSDT", 1, 10.0, ts);
    nan.score_week = f64::NAN;
    let mut no_action = sig(6, "ADAUSDT", 1, 10.0, ts);
    no_action.action = 0;
    let late_ts = current_wave() - chrono::Duration::hours(3);
    let signals = vec![
        sig(1, "BTCUSDT", 1, 50.0, ts),
        nan,
        sig(3, "XRPUSDT", 99, 10.0, ts),
        sig(4, "SOLUSDT", 1, 10.0, late_ts),
        sig(1, "DOGEUSDT", 1, 10.0, ts),
        no_action,
    ];
    let s = c
        .ingest
        .publish_wave(wave(ts, signals, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.accepted, s.rejected), (1, 5), "{s:?}");
    let got: Vec<(u32, i64, &str, i32)> = s
        .rejections
        .iter()
        .map(|r| (r.position, r.signal_id, r.field.as_str(), r.code))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 2, "score_week", Code::InvalidArgument as i32),
            (2, 3, "exchange_id", Code::NotFound as i32),
            (3, 4, "wave_timestamp", Code::FailedPrecondition as i32),
            (4, 1, "id", Code::AlreadyExists as i32),
            (5, 6, "action", Code::InvalidArgument as i32),
        ]
    );
    assert!(
        s.rejections[0].reason.contains("finite"),
        "{:?}",
        s.rejections[0]
    );
    assert_eq!(s.wave_ids, vec![wave_id(ts)]);

    // Oversize: the whole call is refused and nothing is stored.
    let many: Vec<_> = (10..17).map(|i| sig(i, "BTCUSDT", 1, 1.0, ts)).collect();
    let e = c
        .ingest
        .publish_wave(wave(ts, many, true))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    let d = c
        .waves
        .get(pb::GetWaveRequest {
            wave_id: wave_id(ts),
        })
        .await
        .unwrap()
        .into_inner();
    let summary = d.summary.unwrap();
    assert_eq!(summary.signal_count, 1);
    assert_eq!(summary.status, pb::WaveStatus::Collecting as i32);

    let e = c
        .waves
        .get(pb::GetWaveRequest {
            wave_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .ingest
        .publish_wave(pb::Wave {
            wave_timestamp: None,
            signals: vec![],
            close: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("wave_timestamp"));
    h.shutdown().await;
}

#[tokio::test]
async fn a_stream_reports_positions_and_a_quiet_wave_closes_by_itself() {
    let db = TestDb::sqlite().await;
    let mut cfg = config(&db);
    cfg.waves.quiet_secs = 1;
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let mut c = clients(&h).await;
    let ts = current_wave();
    let ts2 = current_wave() + chrono::Duration::seconds(900);
    let mut bad = sig(3, "btc", 1, 1.0, ts);
    bad.symbol = "btc".into();
    let items = vec![
        pb::PublishRequest {
            item: Some(pb::publish_request::Item::Signal(sig(
                1, "BTCUSDT", 1, 9.0, ts,
            ))),
        },
        pb::PublishRequest {
            item: Some(pb::publish_request::Item::Signal(sig(
                2, "ETHUSDT", 1, 8.0, ts,
            ))),
        },
        pb::PublishRequest {
            item: Some(pb::publish_request::Item::Signal(bad)),
        },
        pb::PublishRequest {
            item: Some(pb::publish_request::Item::Close(pb::CloseWave {
                wave_timestamp: Some(to_proto(ts)),
            })),
        },
        pb::PublishRequest {
            item: Some(pb::publish_request::Item::Signal(sig(
                4, "SOLUSDT", 1, 7.0, ts,
            ))),
        },
        pb::PublishRequest {
            item: Some(pb::publish_request::Item::Signal(sig(
                1, "BTCUSDT", 1, 7.0, ts2,
            ))),
        },
    ];
    let s = c
        .ingest
        .publish(tokio_stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.accepted, s.rejected), (3, 2), "{s:?}");
    assert_eq!(
        (s.rejections[0].position, s.rejections[0].field.as_str()),
        (2, "symbol")
    );
    assert_eq!(
        (s.rejections[1].position, s.rejections[1].code),
        (3, Code::FailedPrecondition as i32)
    );
    assert_eq!(s.closed_wave_ids, vec![wave_id(ts)]);
    assert_eq!(s.wave_ids, vec![wave_id(ts), wave_id(ts2)]);
    // ts2 was never closed by the producer: the quiet period closes it.
    let d = finished(&mut c, &wave_id(ts2)).await;
    assert_eq!(d.exchanges[0].error, "no_params");
    h.shutdown().await;
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    let db = TestDb::sqlite().await;
    let h = wavegate_coordinator::spawn(config(&db)).await.unwrap();
    let ch = Channel::from_shared(format!("http://{}", h.local_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let r = tonic_health::pb::health_client::HealthClient::new(ch.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "wavegate.v1.SignalIngest".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    // Reflection (what grpcurl uses) lists the public services, not the agent protocol, over
    // v1 and over v1alpha (grpcurl before 1.9 and many clients speak only v1alpha).
    let want = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "wavegate.v1.Agents",
        "wavegate.v1.Params",
        "wavegate.v1.SignalIngest",
        "wavegate.v1.Waves",
    ];
    {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let list = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let answer = ServerReflectionClient::new(ch.clone())
            .server_reflection_info(tokio_stream::iter(vec![list]))
            .await
            .unwrap()
            .into_inner()
            .message()
            .await
            .unwrap()
            .unwrap()
            .message_response;
        let Some(MessageResponse::ListServicesResponse(l)) = answer else {
            panic!("expected a service list, got {answer:?}");
        };
        let mut names: Vec<String> = l.service.into_iter().map(|s| s.name).collect();
        names.sort();
        assert_eq!(names, want, "v1");
    }
    {
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let list = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let answer = ServerReflectionClient::new(ch)
            .server_reflection_info(tokio_stream::iter(vec![list]))
            .await
            .unwrap()
            .into_inner()
            .message()
            .await
            .unwrap()
            .unwrap()
            .message_response;
        let Some(MessageResponse::ListServicesResponse(l)) = answer else {
            panic!("expected a service list over v1alpha, got {answer:?}");
        };
        let mut names: Vec<String> = l.service.into_iter().map(|s| s.name).collect();
        names.sort();
        assert_eq!(names, want, "v1alpha");
    }
    h.shutdown().await;
}

#[tokio::test]
async fn streamed_ingest_of_many_signals_is_committed_in_batches() {
    let db = TestDb::sqlite().await;
    let h = wavegate_coordinator::spawn(config(&db)).await.unwrap();
    let mut c = clients(&h).await;
    let ts = current_wave();
    let n = 50_000i64;
    let items: Vec<_> = (1..=n)
        .map(|i| pb::PublishRequest {
            item: Some(pb::publish_request::Item::Signal(sig(
                i,
                "BTCUSDT",
                2,
                (i % 100) as f64,
                ts,
            ))),
        })
        .collect();
    let started = std::time::Instant::now();
    let s = c
        .ingest
        .publish(tokio_stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    eprintln!("ingest over gRPC: {n} signals at {rate:.0}/s ({build} build)");
    assert_eq!((s.accepted, s.rejected), (n as u32, 0));
    let w = h.store().wave(&wave_id(ts)).await.unwrap().unwrap();
    assert_eq!(i64::from(w.signal_count), n);
    h.shutdown().await;
}

#[tokio::test]
async fn a_streamed_signal_is_stored_while_the_producer_pauses_and_an_empty_item_is_a_rejection() {
    let db = TestDb::sqlite().await;
    let h = wavegate_coordinator::spawn(config(&db)).await.unwrap();
    let mut c = clients(&h).await;
    let ts = current_wave();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut ingest = c.ingest.clone();
    let call = tokio::spawn(async move {
        ingest
            .publish(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    let item = |s| pb::PublishRequest {
        item: Some(pb::publish_request::Item::Signal(s)),
    };
    tx.send(item(sig(1, "BTCUSDT", 1, 9.0, ts))).await.unwrap();
    // The stream stays open: the signal must still be stored (the quiet period counts from
    // it), not wait for the next one.
    let stored = async {
        loop {
            let got = c
                .waves
                .get(pb::GetWaveRequest {
                    wave_id: wave_id(ts),
                })
                .await;
            if let Ok(d) = got
                && d.into_inner().summary.is_some_and(|s| s.signal_count == 1)
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(crate::api_support::GUARD, stored)
        .await
        .expect("the paused stream's signal is stored");
    tx.send(pb::PublishRequest { item: None }).await.unwrap();
    tx.send(item(sig(2, "ETHUSDT", 1, 8.0, ts))).await.unwrap();
    drop(tx);
    let s = call.await.unwrap().unwrap().into_inner();
    assert_eq!((s.accepted, s.rejected), (2, 1), "{s:?}");
    assert_eq!(
        (s.rejections[0].position, s.rejections[0].field.as_str()),
        (1, "item")
    );
    assert_eq!(s.rejections[0].code, Code::InvalidArgument as i32);
    h.shutdown().await;
}
