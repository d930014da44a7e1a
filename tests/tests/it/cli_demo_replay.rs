//! End-to-end: the real `wavegate` binary runs `demo` and `replay` (each starts a coordinator
//! and paper agents in its own process over loopback gRPC).

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;
use wavegate_tests::binary;

/// Failure guard only; a healthy run takes about a second.
const GUARD: Duration = Duration::from_secs(120);

fn example(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(rel)
}

async fn wavegate(args: &[&str]) -> Output {
    let run = Command::new(binary("wavegate"))
        .args(args)
        .env_remove("WAVEGATE_COORDINATOR")
        .env_remove("WAVEGATE_TOKEN")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(GUARD, run)
        .await
        .expect("wavegate did not finish within the guard")
        .expect("wavegate could not be started")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn demo_runs_the_worked_example_and_a_topup_wave() {
    let out = wavegate(&["demo", "--latency-ms", "0"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("binance 6/6 (buffer saved us)"), "{stdout}");
    assert!(stdout.contains("bybit 4/4 (buffer saved us)\n"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("binance 4/4 (") && l.contains("topped up 3)")),
        "{stdout}"
    );
    assert!(
        stdout.contains("demo finished: 2 waves completed"),
        "{stdout}"
    );
    // The worked example comes before the top-up wave.
    let first = stdout.find("binance 6/6").unwrap();
    let second = stdout.find("binance 4/4").unwrap();
    assert!(first < second);
}

#[tokio::test]
async fn demo_with_processes_prints_the_same_results() {
    let out = wavegate(&["demo", "--processes", "--latency-ms", "0"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("binance 6/6 (buffer saved us)"), "{stdout}");
    assert!(stdout.contains("bybit 4/4 (buffer saved us)\n"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("binance 4/4 (") && l.contains("topped up 3)")),
        "{stdout}"
    );
    assert!(
        stdout.contains("demo finished: 2 waves completed"),
        "{stdout}"
    );
}

#[tokio::test]
async fn processes_without_the_sibling_binaries_fail_with_the_build_command() {
    // A copy of wavegate alone in a directory: no wavegate-coordinator next to it.
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("wavegate");
    // A hard link opens no file for writing; a copy does, and a process forked meanwhile by
    // another test inherits that descriptor, so exec may briefly fail with ETXTBSY.
    if std::fs::hard_link(binary("wavegate"), &lone).is_err() {
        std::fs::copy(binary("wavegate"), &lone).unwrap();
    }
    let mut tries = 0;
    let out = loop {
        let run = Command::new(&lone)
            .args(["demo", "--processes"])
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(GUARD, run).await.unwrap() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            r => break r.unwrap(),
        }
    };
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("wavegate-coordinator"), "{stderr}");
    assert!(stderr.contains("cargo build --release --bins"), "{stderr}");
    assert!(
        !stdout.contains("coordinator on"),
        "nothing started: {stdout}"
    );
}

fn exchange(
    id: u32,
    name: &str,
    counts: [u32; 11],
    flags: (bool, bool),
    symbols: &[&str],
) -> Value {
    let [
        total,
        selected,
        validated,
        topped,
        tfe,
        executed,
        exec_failed,
        val_failed,
        dups,
        target,
        buffer,
    ] = counts;
    json!({
        "exchange_id": id, "exchange_name": name,
        "total_signals": total, "selected_for_validation": selected,
        "validated_successful": validated, "topped_up": topped, "total_for_execution": tfe,
        "executed": executed, "execution_failed": exec_failed, "validation_failed": val_failed,
        "duplicates": dups, "target": target, "buffer_size": buffer,
        "target_reached": flags.0, "buffer_saved_us": flags.1,
        "params_source": "db", "skipped": 0, "topup_rounds": 0,
        "executed_symbols": symbols,
    })
}

async fn replay_json(scenario: &str) -> Value {
    replay_json_with(scenario, &[]).await
}

async fn replay_json_with(scenario: &str, extra: &[&str]) -> Value {
    let path = example(scenario);
    let mut args = vec!["replay", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = wavegate(&args).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{stdout}"))
}

#[tokio::test]
async fn replay_of_the_worked_example_matches_design_to_the_field() {
    let r = replay_json("replay/worked-example.json").await;
    assert_eq!(r["wave_id"], "2026-11-24T12:00:00Z");
    assert_eq!(
        r["totals"],
        json!({"total_signals": 16, "exchanges_processed": 2, "total_executed": 10,
               "total_failed": 1, "total_validated": 13, "validation_errors": 0, "duplicates": 3})
    );
    // Binance: 9 selected, 7 validated (2 duplicates), 1 ok, 2 ok, 3 fails, 4–7 ok → 6/6.
    assert_eq!(
        r["exchanges"]["1"],
        exchange(
            1,
            "binance",
            [9, 9, 7, 0, 7, 6, 1, 0, 2, 6, 9],
            (true, true),
            &[
                "BTCUSDT", "ETHUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "AVAXUSDT"
            ],
        )
    );
    // Bybit: 7 selected, 6 validated (1 duplicate), 1–4 ok → 4/4; 5–6 unused.
    assert_eq!(
        r["exchanges"]["2"],
        exchange(
            2,
            "bybit",
            [7, 7, 6, 0, 6, 4, 0, 0, 1, 4, 7],
            (true, true),
            &["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOTUSDT"],
        )
    );
    assert_eq!(r["exchanges"].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn replay_of_the_topup_case_validates_floor_of_one_and_a_half_times_needed() {
    let r = replay_json("replay/topup.json").await;
    let mut want = exchange(
        1,
        "binance",
        [12, 7, 2, 3, 5, 4, 0, 5, 0, 4, 7],
        (true, true),
        &["LTCUSDT", "TRXUSDT", "ATOMUSDT", "FILUSDT"],
    );
    want["topup_rounds"] = json!(1);
    want["validation_failures"] = json!({"symbol_not_tradable": 5});
    assert_eq!(r["exchanges"]["1"], want);
    assert_eq!(r["exchanges"]["2"]["executed"], 3);
    assert_eq!(r["exchanges"]["2"]["validation_failed"], 1);
}

#[tokio::test]
async fn replay_of_an_exchange_without_params_skips_it_with_no_params() {
    let r = replay_json("replay/no-params.json").await;
    assert_eq!(r["status"], "partial");
    let x = &r["exchanges"]["3"];
    assert_eq!(x["error"], "no_params");
    assert_eq!(x["skipped"], 3);
    assert_eq!(x["total_signals"], 3);
    assert_eq!(x["executed"], 0);
    assert_eq!(x["selected_for_validation"], 0);
    assert_eq!(x["executed_symbols"], json!([]));
    assert_eq!(r["exchanges"]["1"]["executed"], 2);
    assert!(r["exchanges"]["1"].get("error").is_none());
    assert_eq!(r["totals"]["exchanges_processed"], 1);
    assert_eq!(r["totals"]["total_signals"], 6);
}

#[tokio::test]
async fn replay_with_a_balance_for_two_opens_two_and_refuses_the_rest_for_funds() {
    let r = replay_json("replay/insufficient-balance.json").await;
    let x = &r["exchanges"]["1"];
    assert_eq!(x["target"], 6);
    assert_eq!(x["executed"], 2);
    assert_eq!(x["executed_symbols"], json!(["BTCUSDT", "ETHUSDT"]));
    // The rest never reached the exchange: refused at validation, no top-up asked.
    assert_eq!(x["validation_failed"], 7);
    assert_eq!(x["validation_failures"], json!({"insufficient_balance": 7}));
    assert_eq!(x["execution_failed"], 0);
    assert_eq!(x["topup_rounds"], 0);
    assert_eq!(x["target_reached"], false);
}

#[tokio::test]
async fn replay_text_report_counts_validation_failures_per_reason() {
    // The table form (`replay`, like `waves show`) says why signals failed, not only how many.
    let path = example("replay/insufficient-balance.json");
    let out = wavegate(&["replay", path.to_str().unwrap()]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(
        stdout.contains(
            "  binance 2/6 (target missed)\n    validation failures: insufficient_balance 7\n"
        ),
        "{stdout}"
    );
}

#[tokio::test]
async fn replay_with_processes_gives_the_same_report() {
    for scenario in [
        "replay/worked-example.json",
        "replay/no-params.json",
        "replay/insufficient-balance.json",
    ] {
        // The report carries no wall-clock field: the two runs must agree to the field.
        let inproc = replay_json(scenario).await;
        let procs = replay_json_with(scenario, &["--processes"]).await;
        assert_eq!(procs, inproc, "{scenario}");
    }
}

#[tokio::test]
async fn bad_scenario_exits_2_naming_the_json_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"params": {"1": {"exchange_name": "binance", "max_trades": 3, "buffer_size": 2}},
            "signals": [{"id": 1, "symbol": "BTCUSDT", "exchange_id": 1, "action": "BUY",
                         "score_week": 1, "score_month": 1}]}"#,
    )
    .unwrap();
    let out = wavegate(&["replay", path.to_str().unwrap(), "--json"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("bad.json: params.1.buffer_size: must be >= max_trades (3), got 2"),
        "{stderr}"
    );
}
