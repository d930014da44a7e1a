//! Unit tests of the checked `Signal`: wire and JSON forms, each field's error.

use super::*;
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 15, 4).unwrap()
}

const EXAMPLE: &str = r#"{ "id": 101, "symbol": "BTCUSDT", "exchange_id": 1, "action": "BUY",
    "score_week": 72.5, "score_month": 64.0, "wave_timestamp": "2026-11-24T12:00:00Z",
    "created_at": "2026-11-24T12:15:04Z",
    "params": { "max_trades": 6, "stop_loss_percent": 4.0,
                "trailing_activation_percent": 2.0, "trailing_distance_percent": 0.5 } }"#;

#[test]
fn design_example_parses_and_round_trips_through_proto() {
    let d: SignalDraft = serde_json::from_str(EXAMPLE).unwrap();
    let s = d.check(900, now()).unwrap();
    assert_eq!(s.score(), 136.5);
    assert_eq!(s.params().unwrap().max_trades, Some(6));
    let back = Signal::from_proto(&s.to_proto(), 900, now()).unwrap();
    assert_eq!(back, s);
}

fn draft() -> SignalDraft {
    serde_json::from_str(EXAMPLE).unwrap()
}

#[test]
fn each_bad_field_is_named() {
    let cases: Vec<(SignalDraft, &str)> = vec![
        (
            SignalDraft {
                symbol: Some(String::new()),
                ..draft()
            },
            "symbol",
        ),
        (
            SignalDraft {
                symbol: Some("btcusdt".into()),
                ..draft()
            },
            "symbol",
        ),
        (
            SignalDraft {
                symbol: Some("BTC-USDT".into()),
                ..draft()
            },
            "symbol",
        ),
        (
            SignalDraft {
                score_week: Some(f64::NAN),
                ..draft()
            },
            "score_week",
        ),
        (
            SignalDraft {
                score_month: Some(f64::INFINITY),
                ..draft()
            },
            "score_month",
        ),
        (
            SignalDraft {
                score_month: Some(100.5),
                ..draft()
            },
            "score_month",
        ),
        (
            SignalDraft {
                exchange_id: None,
                ..draft()
            },
            "exchange_id",
        ),
        (
            SignalDraft {
                exchange_id: Some(0),
                ..draft()
            },
            "exchange_id",
        ),
        (
            SignalDraft {
                id: Some(0),
                ..draft()
            },
            "id",
        ),
        (
            SignalDraft {
                action: None,
                ..draft()
            },
            "action",
        ),
        (
            SignalDraft {
                params: Some(SignalParams {
                    max_trades: Some(0),
                    ..Default::default()
                }),
                ..draft()
            },
            "params.max_trades",
        ),
    ];
    for (d, field) in cases {
        let err = d.check(900, now()).unwrap_err();
        assert_eq!(err.field, field, "{err}");
    }
}

#[test]
fn missing_wave_timestamp_is_created_at_rounded_down() {
    let s = SignalDraft {
        wave_timestamp: None,
        ..draft()
    }
    .check(900, now())
    .unwrap();
    assert_eq!(
        crate::time::wave_id(s.wave_timestamp()),
        "2026-11-24T12:15:00Z"
    );
}

#[test]
fn unknown_json_field_is_refused() {
    let r: Result<SignalDraft, _> = serde_json::from_str(r#"{"id":1,"sybmol":"X"}"#);
    assert!(r.unwrap_err().to_string().contains("sybmol"));
}

#[test]
fn proto_unspecified_action_is_refused() {
    let mut p = draft().check(900, now()).unwrap().to_proto();
    p.action = 0;
    assert_eq!(
        Signal::from_proto(&p, 900, now()).unwrap_err().field,
        "action"
    );
    p.action = 42;
    assert_eq!(
        Signal::from_proto(&p, 900, now()).unwrap_err().field,
        "action"
    );
}

#[test]
fn tradingbot_record_maps_timestamp_to_the_wave_and_created_at_to_created_at() {
    // The signal server's 15-field record (issue 10): `timestamp` is the candle's open time.
    let t: TradingbotSignal = serde_json::from_str(
        r#"{"id": 3561244, "pair_symbol": "SKLUSDT", "recommended_action": "SELL",
            "score_week": 92.9, "score_month": 69.7, "timestamp": "2025-10-28T18:15:00+00:00",
            "created_at": "2025-10-28T18:34:01.517343+00:00", "trading_pair_id": 1187,
            "exchange_id": 2, "score_week_filter": 60.0, "score_month_filter": null,
            "max_trades_filter": 4, "stop_loss_filter": 3.5, "trailing_activation_filter": null,
            "trailing_distance_filter": null}"#,
    )
    .unwrap();
    let s = t.into_draft().unwrap().check(900, now()).unwrap();
    assert_eq!(s.symbol(), "SKLUSDT");
    assert_eq!(s.action(), Action::Sell);
    assert_eq!(s.exchange_id(), 2);
    assert_eq!(s.params().unwrap().max_trades, Some(4));
    assert_eq!(s.params().unwrap().trailing_activation_percent, None);
    assert_eq!(
        crate::time::wave_id(s.wave_timestamp()),
        "2025-10-28T18:15:00Z"
    );
    assert_eq!(
        s.created_at().to_rfc3339(),
        "2025-10-28T18:34:01.517343+00:00"
    );
}

#[test]
fn tradingbot_naive_timestamps_are_utc() {
    let t: TradingbotSignal = serde_json::from_str(
        r#"{"id": 7, "pair_symbol": "ETHUSDT", "recommended_action": "BUY", "exchange_id": 1,
            "score_week": 50, "score_month": 40, "timestamp": "2025-10-27T14:15:00",
            "created_at": "2025-10-27T14:33:10"}"#,
    )
    .unwrap();
    let s = t.into_draft().unwrap().check(900, now()).unwrap();
    assert_eq!(
        crate::time::wave_id(s.wave_timestamp()),
        "2025-10-27T14:15:00Z"
    );
    assert_eq!(crate::time::wave_id(s.created_at()), "2025-10-27T14:33:10Z");
}

#[test]
fn action_names_round_trip_case_insensitively() {
    for a in [Action::Buy, Action::Sell, Action::Long, Action::Short] {
        assert_eq!(Action::parse(a.as_str()), Some(a));
        assert_eq!(
            Action::parse(&format!(" {} ", a.as_str().to_lowercase())),
            Some(a)
        );
        // The name is the JSON form's.
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            format!("\"{}\"", a.as_str())
        );
    }
    assert_eq!(Action::parse("HOLD"), None);
    assert_eq!(Action::parse(""), None);
}

#[test]
fn position_params_json_form_parses_checks_and_round_trips() {
    // Issue 11: a signal's params may carry leverage, margin mode and entry size.
    let json = EXAMPLE.replace(
        r#""max_trades": 6,"#,
        r#""max_trades": 6, "leverage": 5, "margin_mode": "isolated", "position_size_usd": 40.0,"#,
    );
    let s = serde_json::from_str::<SignalDraft>(&json)
        .unwrap()
        .check(900, now())
        .unwrap();
    let p = s.params().unwrap();
    assert_eq!(
        (p.leverage, p.margin_mode, p.position_size_usd),
        (Some(5), Some(MarginMode::Isolated), Some(40.0))
    );
    let wire = s.to_proto();
    let wp = wire.params.as_ref().unwrap();
    assert_eq!(wp.margin_mode, pb::MarginMode::Isolated as i32);
    assert_eq!(Signal::from_proto(&wire, 900, now()).unwrap(), s);
    // The JSON written back names the mode in lower case, and leaves out what is not carried.
    let out = serde_json::to_value(SignalDraft::from(&s)).unwrap();
    assert_eq!(out["params"]["margin_mode"], "isolated");
    assert_eq!(out["params"]["leverage"], 5);
    let cross = serde_json::to_value(SignalParams {
        margin_mode: Some(MarginMode::Cross),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(cross, serde_json::json!({ "margin_mode": "cross" }));

    // An unknown mode is a parse error naming the value; bad ranges name the field.
    let bad = EXAMPLE.replace(r#""max_trades": 6,"#, r#""margin_mode": "portfolio","#);
    let e = serde_json::from_str::<SignalDraft>(&bad).unwrap_err();
    assert!(e.to_string().contains("portfolio"), "{e}");
    let typo = EXAMPLE.replace(r#""max_trades": 6,"#, r#""levrage": 4,"#);
    let e = serde_json::from_str::<SignalDraft>(&typo).unwrap_err();
    assert!(e.to_string().contains("levrage"), "{e}");
    for (params, field) in [
        (
            SignalParams {
                leverage: Some(0),
                ..Default::default()
            },
            "params.leverage",
        ),
        (
            SignalParams {
                position_size_usd: Some(0.0),
                ..Default::default()
            },
            "params.position_size_usd",
        ),
        (
            SignalParams {
                position_size_usd: Some(f64::INFINITY),
                ..Default::default()
            },
            "params.position_size_usd",
        ),
    ] {
        let d = SignalDraft {
            params: Some(params),
            ..draft()
        };
        assert_eq!(d.check(900, now()).unwrap_err().field, field);
    }
    // On the wire, an unknown margin mode value is refused, naming the field.
    let mut p = wire.clone();
    p.params.as_mut().unwrap().margin_mode = 7;
    let e = Signal::from_proto(&p, 900, now()).unwrap_err();
    assert_eq!(
        (e.field, e.reason.as_str()),
        ("params.margin_mode", "unknown margin mode 7")
    );
}
