//! Scenario checks: the shipped examples load, and each bad document names its JSON path.

use chrono::TimeZone;
use serde_json::json;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 20, 0).unwrap()
}

fn base() -> Value {
    json!({
        "params": {"1": {"exchange_name": "binance", "max_trades": 2, "buffer_size": 3}},
        "world": {"1": {"open_positions": ["SOLUSDT"], "exec_fail": ["XRPUSDT"]}},
        "signals": [
            {"id": 1, "symbol": "BTCUSDT", "exchange_id": 1, "action": "BUY", "score_week": 1, "score_month": 1,
             "wave_timestamp": "2026-11-24T12:00:00Z"},
            {"id": 2, "symbol": "ETHUSDT", "exchange_id": 3, "action": "SELL", "score_week": 1, "score_month": 1,
             "wave_timestamp": "2026-11-24T12:00:00Z"}
        ]
    })
}

fn err_of(mutate: impl FnOnce(&mut Value)) -> String {
    let mut v = base();
    mutate(&mut v);
    parse_value(&v, now()).unwrap_err().to_string()
}

#[test]
fn base_scenario_parses() {
    let s = parse_value(&base(), now()).unwrap();
    assert_eq!(s.params[&1].max_trades, 2);
    assert_eq!(s.world[&1].exec_fail, vec!["XRPUSDT"]);
    assert_eq!(s.exchange_ids(), vec![1, 3]);
    assert_eq!(wave_id(s.wave_timestamp), "2026-11-24T12:00:00Z");
}

#[test]
fn shipped_examples_load() {
    for (name, text) in crate::samples::SCENARIOS {
        let s = parse_str(text, now()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!s.signals.is_empty(), "{name}");
    }
}

#[test]
fn every_refusal_names_its_path() {
    type Mutation = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|v| v["params"]["1"]["max_trades"] = json!(0)),
            "params.1.max_trades: must be an integer >= 1",
        ),
        (
            Box::new(|v| v["params"]["1"]["buffer_size"] = json!(1)),
            "params.1.buffer_size: must be >= max_trades (2), got 1",
        ),
        (
            Box::new(|v| {
                v["params"]["1"]
                    .as_object_mut()
                    .unwrap()
                    .remove("exchange_name");
            }),
            "params.1.exchange_name: missing",
        ),
        (
            Box::new(|v| v["params"]["x"] = json!({})),
            "params.x: key must be an exchange id",
        ),
        (
            Box::new(|v| v["params"]["1"]["colour"] = json!(1)),
            "params.1.colour: unknown key",
        ),
        (
            Box::new(|v| v["signals"][1]["score_week"] = json!("high")),
            "signals[1].score_week: invalid type",
        ),
        (
            Box::new(|v| v["signals"][1]["score_week"] = json!(101)),
            "signals[1].score_week: must be in 0..=100",
        ),
        (
            Box::new(|v| v["signals"][1]["id"] = json!(1)),
            "signals[1].id: 1 appears twice",
        ),
        (
            Box::new(|v| v["signals"][1]["wave_timestamp"] = json!("2026-11-24T12:15:00Z")),
            "signals[1].wave_timestamp: a scenario is one wave",
        ),
        (
            Box::new(|v| v["signals"] = json!([])),
            "signals: must hold at least one signal",
        ),
        (
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("signals");
            }),
            "signals: missing",
        ),
        (
            Box::new(|v| v["world"]["3"] = json!({})),
            "world.3: exchange 3 has no params",
        ),
        (
            Box::new(|v| v["world"]["1"]["exec_fail"] = json!(["bad-symbol"])),
            "world.1.exec_fail[0]: ",
        ),
        (
            Box::new(|v| v["world"]["1"]["open_positions"] = json!("SOLUSDT")),
            "world.1.open_positions: must be an array",
        ),
        (Box::new(|v| v["extra"] = json!(1)), "extra: unknown key"),
        (Box::new(|v| *v = json!([])), "$: must be an object"),
    ];
    for (mutate, expected) in cases {
        let e = err_of(mutate);
        assert!(
            e.starts_with(expected),
            "{e:?} should start with {expected:?}"
        );
    }
}

#[test]
fn syntax_error_has_line_and_column() {
    let e = parse_str("{\n \"params\": ,\n}", now())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("$: invalid JSON:") && e.contains("line 2"),
        "{e}"
    );
}
