//! Parsing tests: every format, every error with its line and field.

use chrono::TimeZone;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 15, 4).unwrap()
}

fn ok(text: &str, format: Format) -> Vec<ParsedSignal> {
    parse_signals("in", text, format, 900, now()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn errs(text: &str, format: Format) -> Vec<String> {
    parse_signals("signals.json", text, format, 900, now())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

const ARRAY: &str = r#"[
  {"id": 1, "symbol": "BTCUSDT", "exchange_id": 1, "action": "BUY", "score_week": 70, "score_month": 60,
   "wave_timestamp": "2026-11-24T12:00:00Z", "params": {"max_trades": 6}},
  {"id": 2, "symbol": "ETHUSDT", "exchange_id": 2, "action": "SELL", "score_week": 50, "score_month": 40,
   "wave_timestamp": "2026-11-24T12:00:00Z"}
]"#;

#[test]
fn json_array_with_lines_and_params() {
    let s = ok(ARRAY, Format::Auto);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].line, s[1].line), (2, 4));
    assert_eq!(s[0].signal.params().unwrap().max_trades, Some(6));
    assert_eq!(s[1].signal.symbol(), "ETHUSDT");
    assert_eq!(ok(ARRAY, Format::Json), s);
}

#[test]
fn single_object_is_one_signal() {
    let s = ok(
        r#"{"id": 9, "symbol": "X1", "exchange_id": 1, "action": "LONG", "score_week": 1, "score_month": 2}"#,
        Format::Auto,
    );
    assert_eq!(s.len(), 1);
    // No wave_timestamp: created_at (= now) rounded down to 15 minutes.
    assert_eq!(
        wave_id(s[0].signal.wave_timestamp()),
        "2026-11-24T12:15:00Z"
    );
}

#[test]
fn ndjson_skips_blank_lines_and_keeps_line_numbers() {
    let t = "{\"id\":1,\"symbol\":\"A\",\"exchange_id\":1,\"action\":\"BUY\",\"score_week\":1,\"score_month\":1}\n\n\
             {\"id\":2,\"symbol\":\"B\",\"exchange_id\":1,\"action\":\"BUY\",\"score_week\":1,\"score_month\":1}\n";
    let s = ok(t, Format::Auto);
    assert_eq!(s.iter().map(|p| p.line).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(ok(t, Format::Ndjson), s);
}

#[test]
fn csv_with_params_and_aliases() {
    let t = "id,symbol,exchange_id,action,score_week,score_month,wave_timestamp,max_trades,params.stop_loss_percent\n\
             1,BTCUSDT,1,buy,70,60,2026-11-24T12:00:00Z,6,4.0\n\
             2,\"ETHUSDT\",2,SHORT,50,40,,,\n";
    let s = ok(t, Format::Auto);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].signal.action(), wavegate_common::Action::Buy);
    let p = s[0].signal.params().unwrap();
    assert_eq!((p.max_trades, p.stop_loss_percent), (Some(6), Some(4.0)));
    assert!(s[1].signal.params().is_none());
    assert_eq!(s[1].line, 3);
    assert_eq!(ok(t, Format::Csv), s);
}

#[test]
fn tradingbot_form_explicit_and_detected() {
    let t = r#"[{"id": 7, "pair_symbol": "ETHUSDT", "recommended_action": "SELL", "exchange_id": 2,
        "score_week": 50, "score_month": 40, "timestamp": "2026-11-24T12:16:00Z",
        "max_trades_filter": 4, "stop_loss_filter": 3.5, "extra_field_of_the_bot": true}]"#;
    let explicit = ok(t, Format::Tradingbot);
    assert_eq!(explicit[0].signal.symbol(), "ETHUSDT");
    assert_eq!(explicit[0].signal.params().unwrap().max_trades, Some(4));
    assert_eq!(ok(t, Format::Auto), explicit);
    let csv = "id,pair_symbol,recommended_action,exchange_id,score_week,score_month,timestamp,max_trades_filter\n\
               7,ETHUSDT,sell,2,50,40,2026-11-24T12:16:00Z,4\n";
    assert_eq!(
        ok(csv, Format::Csv)[0].signal.params().unwrap().max_trades,
        Some(4)
    );
}

#[test]
fn bad_field_names_line_of_the_field() {
    let t = "[\n  {\"id\": 1, \"symbol\": \"A\", \"exchange_id\": 1, \"action\": \"BUY\",\n   \"score_week\": 170, \"score_month\": 1}\n]";
    assert_eq!(
        errs(t, Format::Auto),
        vec!["signals.json:3: score_week: must be in 0..=100, got 170"]
    );
}

#[test]
fn csv_non_finite_score() {
    let t = "id,symbol,exchange_id,action,score_week,score_month\n1,A,1,BUY,1,1\n2,B,1,BUY,1,1\n3,C,1,BUY,NaN,1\n";
    assert_eq!(
        errs(t, Format::Csv),
        vec!["signals.json:4: score_week: must be finite, got NaN"]
    );
}

#[test]
fn every_error_is_reported_with_line_and_field() {
    let t = r#"{"id":1,"symbol":"btc","exchange_id":1,"action":"BUY","score_week":1,"score_month":1}
{"id":2,"symbol":"B","exchange_id":1,"action":"HOLD","score_week":1,"score_month":1}
{"id":3,"symbol":"C","exchange_id":1,"action":"BUY","score_week":"high","score_month":1}
{"id":4,"symbol":"D","exchange_id":1,"action":"BUY","score_week":1}
{"id":5,"sybmol":"E","exchange_id":1,"action":"BUY","score_week":1,"score_month":1}
{"id":6,"symbol":"F","action":"BUY","score_week":1,"score_month":1}
{"id":7,"symbol":"G","exchange_id":1,"action":"BUY","score_week":1,"score_month":1,"params":{"max_trades":0}}
{"id":8,"symbol":"H","exchange_id":1,"action":"BUY","score_week":1,"score_month":1}
{"id":8,"symbol":"I","exchange_id":1,"action":"BUY","score_week":1,"score_month":1}
[1]
"#;
    let e = errs(t, Format::Ndjson);
    assert_eq!(e.len(), 9, "{e:#?}");
    // Prefixes; the messages of index 3 and 8 are whole.
    let want = [
        "signals.json:1: symbol: ",
        "signals.json:2: action: ",
        "signals.json:3: score_week: invalid type",
        "signals.json:4: score_month: missing",
        "signals.json:5: sybmol: unknown field",
        "signals.json:6: exchange_id: missing",
        "signals.json:7: params.max_trades: must be at least 1",
        "signals.json:9: id: 8 appears twice in wave",
        "signals.json:10: expected a signal object",
    ];
    for (got, want) in e.iter().zip(want) {
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
    assert_eq!((e[3].len(), e[8].len()), (want[3].len(), want[8].len()));
    assert!(e[7].ends_with("(first at line 8)"), "{}", e[7]);
}

#[test]
fn syntax_errors_carry_the_line() {
    assert!(errs("[\n{\"id\": 1,\n", Format::Json)[0].starts_with("signals.json:3: invalid JSON"));
    assert!(
        errs("{\"id\":1}\n{oops\n", Format::Ndjson)[0].starts_with("signals.json:2: invalid JSON")
    );
    for (text, format, want) in [
        (
            "id,color\n1,red\n",
            Format::Csv,
            "1: unknown column \"color\" in the header",
        ),
        (
            "id,symbol\n1,A,extra\n",
            Format::Csv,
            "2: expected 2 cells as in the header, got 3",
        ),
        (
            "id,exchange_id\nx,1\n",
            Format::Csv,
            "2: id: \"x\" is not an integer",
        ),
        ("", Format::Auto, "1: no signals in the input"),
        ("[]", Format::Auto, "1: no signals in the input"),
    ] {
        assert_eq!(errs(text, format), vec![format!("signals.json:{want}")]);
    }
}

/// Two records as the reference server sends them (µs `created_at`, null filters).
const RECORDS: &str = r#"[
    {"id": 3561244, "pair_symbol": "SKLUSDT", "recommended_action": "BUY", "score_week": 92.9,
     "score_month": 69.7, "timestamp": "2025-10-28T18:15:00+00:00",
     "created_at": "2025-10-28T18:34:01.517343+00:00", "trading_pair_id": 1187, "exchange_id": 1,
     "score_week_filter": 60.0, "score_month_filter": null, "max_trades_filter": 3,
     "stop_loss_filter": 4.0, "trailing_activation_filter": 2.0, "trailing_distance_filter": 0.5},
    {"id": 3561245, "pair_symbol": "ONDOUSDT", "recommended_action": "SELL", "score_week": 0,
     "score_month": 0, "timestamp": "2025-10-28T18:15:00+00:00",
     "created_at": "2025-10-28T18:34:02.004001+00:00", "trading_pair_id": 977, "exchange_id": 2,
     "score_week_filter": null, "score_month_filter": null, "max_trades_filter": null,
     "stop_loss_filter": null, "trailing_activation_filter": null, "trailing_distance_filter": null}
  ]"#;

fn envelope(count: usize) -> String {
    format!(
        "{{\"type\": \"signals\", \"timestamp\": \"2025-10-28T21:34:05.123456\", \"count\": {count},\n  \"data\": {RECORDS}}}"
    )
}

/// The two records of [`RECORDS`], from any of the reference's forms.
fn assert_reference_records(s: &[ParsedSignal]) {
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].signal.symbol(), "SKLUSDT");
    assert_eq!(
        wave_id(s[0].signal.wave_timestamp()),
        "2025-10-28T18:15:00Z"
    );
    assert_eq!(
        s[0].signal.created_at().to_rfc3339(),
        "2025-10-28T18:34:01.517343+00:00"
    );
    let p = s[0].signal.params().unwrap();
    assert_eq!((p.max_trades, p.stop_loss_percent), (Some(3), Some(4.0)));
    assert_eq!(s[1].signal.exchange_id(), 2);
    assert!(s[1].signal.params().is_none());
}

#[test]
fn server_envelope_publishes_its_records_with_their_lines() {
    let s = ok(&envelope(2), Format::Auto);
    assert_eq!(ok(&envelope(2), Format::Tradingbot), s);
    assert_eq!((s[0].line, s[1].line), (3, 8));
    assert_reference_records(&s);
}

#[test]
fn envelope_count_mismatch_and_other_messages_are_refused() {
    assert_eq!(
        errs(&envelope(3), Format::Auto),
        vec!["signals.json:1: count says 3 but data holds 2 records"]
    );
    let e = errs(
        r#"{"type": "auth_success", "query_interval": 5}"#,
        Format::Auto,
    );
    assert!(e[0].contains("holds no signals"), "{e:?}");
}

#[test]
fn reference_csv_export_publishes_as_is() {
    // The signal database's CSV export: exactly the 15 fields, PostgreSQL's timestamp form.
    let t = "id,pair_symbol,recommended_action,score_week,score_month,timestamp,created_at,trading_pair_id,exchange_id,score_week_filter,score_month_filter,max_trades_filter,stop_loss_filter,trailing_activation_filter,trailing_distance_filter\n\
             3561244,SKLUSDT,BUY,92.9,69.7,2025-10-28 18:15:00+00,2025-10-28 18:34:01.517343+00,1187,1,60,,3,4,2,0.5\n\
             3561245,ONDOUSDT,SELL,0,0,2025-10-28 18:15:00+00,2025-10-28 18:34:02.004001+00,977,2,,,,,,\n";
    let s = ok(t, Format::Auto);
    assert_eq!(ok(t, Format::Csv), s);
    // `--format tradingbot` takes the export too.
    assert_eq!(ok(t, Format::Tradingbot), s);
    assert_reference_records(&s);
}

#[test]
fn naive_timestamps_are_utc_in_every_form() {
    let json = r#"[{"id": 1, "symbol": "BTCUSDT", "exchange_id": 1, "action": "BUY",
        "score_week": 1, "score_month": 1, "wave_timestamp": "2025-10-27T14:15:00",
        "created_at": "2025-10-27T14:33:00"}]"#;
    let bot = r#"[{"id": 1, "pair_symbol": "BTCUSDT", "exchange_id": 1, "recommended_action": "BUY",
        "score_week": 1, "score_month": 1, "timestamp": "2025-10-27T14:15:00",
        "created_at": "2025-10-27T14:33:00"}]"#;
    let csv = "id,symbol,exchange_id,action,score_week,score_month,wave_timestamp,created_at\n\
               1,BTCUSDT,1,BUY,1,1,2025-10-27 14:15:00,2025-10-27 14:33:00\n";
    for (t, f) in [
        (json, Format::Auto),
        (bot, Format::Auto),
        (csv, Format::Csv),
    ] {
        let s = ok(t, f);
        assert_eq!(
            wave_id(s[0].signal.wave_timestamp()),
            "2025-10-27T14:15:00Z"
        );
        assert_eq!(wave_id(s[0].signal.created_at()), "2025-10-27T14:33:00Z");
    }
}

/// Checking is linear: the guard catches a rescan per record (minutes), not a speed claim.
#[test]
fn a_large_file_is_checked_in_one_pass() {
    const N: i64 = 20_000;
    let rec = |i: i64| {
        format!(
            r#"{{"id": {i}, "symbol": "BTCUSDT", "exchange_id": 1, "action": "BUY", "score_week": 1, "score_month": 2, "wave_timestamp": "2026-11-24T12:00:00Z"}}"#
        )
    };
    let ndjson: String = (1..=N).map(|i| rec(i) + "\n").collect();
    let array = format!("[\n{}\n]", (1..=N).map(rec).collect::<Vec<_>>().join(",\n"));
    let csv: String = std::iter::once(
        "id,symbol,exchange_id,action,score_week,score_month,wave_timestamp\n".to_owned(),
    )
    .chain((1..=N).map(|i| format!("{i},BTCUSDT,1,BUY,1,2,2026-11-24T12:00:00Z\n")))
    .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let a = ok(&ndjson, Format::Auto);
        let b = ok(&array, Format::Json);
        let c = ok(&csv, Format::Csv);
        let last = |s: &[ParsedSignal]| (s.len(), s[s.len() - 1].line);
        let _ = tx.send((last(&a), last(&b), last(&c)));
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(180))
        .expect("checking 20 000 records did not finish within the guard: not linear");
    let n = N as usize;
    assert_eq!(got, ((n, n), (n, n + 1), (n, n + 1)));
}

/// A huge bad value is never echoed whole.
#[test]
fn errors_quote_only_an_excerpt_of_huge_input() {
    let huge = "x".repeat(2_000_000);
    let csv = format!("{huge},symbol\n1,BTCUSDT\n");
    let e = errs(&csv, Format::Csv);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("unknown column") && e[0].len() < 400,
        "{}",
        e[0].len()
    );
    let json = format!(
        r#"[{{"id": 1, "symbol": "BTCUSDT", "exchange_id": 1, "action": "BUY", "score_week": "{huge}", "score_month": 2}}]"#
    );
    let e = errs(&json, Format::Json);
    assert!(
        e[0].contains("score_week") && e[0].len() < 400,
        "{}",
        e[0].len()
    );
    let key = format!(r#"[{{"{huge}": 1}}]"#);
    let e = errs(&key, Format::Json);
    assert!(e.iter().all(|m| m.len() < 400));
}
