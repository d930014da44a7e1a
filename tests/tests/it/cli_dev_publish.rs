//! End-to-end: `wavegate dev` as a process on ports it picks and prints, then `publish`, `waves show --json`,
//! `watch`, `params`, `agents` from the real binary against it; and the exit codes of bad input
//! and of an unreachable coordinator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use wavegate_tests::{Proc, binary, free_port};

/// Failure guard only.
const GUARD: Duration = Duration::from_secs(120);

fn example(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

async fn wavegate(coordinator: &str, args: &[&str]) -> Output {
    wavegate_env(coordinator, args, &[]).await
}

/// `wavegate` with extra environment variables (`COLUMNS` is unset unless given).
async fn wavegate_env(coordinator: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let run = Command::new(binary("wavegate"))
        .arg("--coordinator")
        .arg(coordinator)
        .args(args)
        .env_remove("WAVEGATE_TOKEN")
        .env_remove("COLUMNS")
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(GUARD, run)
        .await
        .expect("wavegate did not finish within the guard")
        .expect("wavegate could not be started")
}

fn out(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `wavegate dev` on ports it picks and prints, killed on drop. Ready once it printed
/// "Ctrl-C stops.".
struct Dev {
    endpoint: String,
    /// The agents' ports.
    agent_ports: [u16; 2],
    proc: Proc,
    dir: tempfile::TempDir,
}

async fn start_dev() -> Dev {
    start_dev_with(&[]).await
}

/// `wavegate dev` with `extra` arguments (e.g. `--processes`).
async fn start_dev_with(extra: &[&str]) -> Dev {
    let dir = tempfile::tempdir().unwrap();
    let any = "127.0.0.1:0";
    let mut proc = Proc::builder("wavegate", dir.path())
        .args(["dev", "--listen", any, "--binance", any, "--bybit", any])
        .args(["--data-dir"])
        .args([dir.path()])
        .args(extra)
        .no_wait()
        .spawn()
        .await
        .unwrap();
    let ready = tokio::time::timeout(GUARD, async {
        while proc.alive() {
            if proc.log_text().contains("Ctrl-C stops.") {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    })
    .await;
    let seen = proc.log_text();
    assert_eq!(ready, Ok(true), "dev did not come up; printed:\n{seen}");
    // "wavegate dev: coordinator on http://ADDR (use --coordinator …)".
    let endpoint = seen
        .lines()
        .find_map(|l| l.strip_prefix("wavegate dev: coordinator on "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no coordinator endpoint printed:\n{seen}"))
        .to_owned();
    // "  paper agent NAME (exchange ID) on ADDR", Binance first.
    let agent_port = |name: &str| -> u16 {
        seen.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("paper agent {name} ")))
            .and_then(|rest| rest.rsplit(' ').next()?.parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("no address of agent {name} printed:\n{seen}"))
            .port()
    };
    let agent_ports = [agent_port("binance"), agent_port("bybit")];
    Dev {
        endpoint,
        agent_ports,
        proc,
        dir,
    }
}

#[tokio::test]
async fn dev_with_processes_serves_publish_and_stops_its_children_on_sigterm() {
    let mut dev = start_dev_with(&["--processes"]).await;
    let e = dev.endpoint.clone();
    let o = wavegate(
        &e,
        &["publish", &example("waves/worked-example.json"), "--close"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = wavegate(&e, &["watch", "2026-11-24T12:00:00Z"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("binance 6/6 (buffer saved us)"),
        "{}",
        out(&o)
    );
    assert!(
        stdout.contains("bybit 4/4 (buffer saved us)"),
        "{}",
        out(&o)
    );
    // The agents are separate processes with their generated configs and logs.
    for f in [
        "coordinator.toml",
        "coordinator.log",
        "agent-1.toml",
        "agent-2.log",
    ] {
        assert!(dev.dir.path().join(f).is_file(), "{f} missing");
    }

    let status = dev
        .proc
        .terminate()
        .await
        .expect("dev did not stop after SIGTERM");
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    // Its children stopped before it exited: their ports are free again.
    for port in dev.agent_ports {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "agent port {port} still taken"
        );
    }
    assert!(
        std::net::TcpListener::bind(e.trim_start_matches("http://")).is_ok(),
        "coordinator port still taken"
    );
}

#[tokio::test]
async fn publish_then_waves_show_against_dev() {
    let dev = start_dev().await;
    let e = dev.endpoint.as_str();

    let o = wavegate(
        e,
        &["publish", &example("waves/worked-example.json"), "--close"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("accepted 16, rejected 0"), "{}", out(&o));
    assert!(
        stdout.contains("closed: 2026-11-24T12:00:00Z"),
        "{}",
        out(&o)
    );

    // `watch` returns once the wave is done (even if it already is), with the result table.
    let o = wavegate(e, &["watch", "2026-11-24T12:00:00Z"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("binance 6/6 (buffer saved us)"),
        "{}",
        out(&o)
    );
    assert!(
        stdout.contains("bybit 4/4 (buffer saved us)"),
        "{}",
        out(&o)
    );

    let o = wavegate(e, &["waves", "show", "2026-11-24T12:00:00Z", "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let w: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|err| panic!("{err}: {}", out(&o)));
    assert_eq!(w["status"], "completed");
    assert_eq!(w["signal_count"], 16);
    let b = &w["exchanges"]["1"];
    assert_eq!(
        (
            &b["executed"],
            &b["execution_failed"],
            &b["duplicates"],
            &b["total_for_execution"]
        ),
        (
            &Value::from(6),
            &Value::from(1),
            &Value::from(2),
            &Value::from(7)
        )
    );
    assert_eq!(b["buffer_saved_us"], true);
    // Params came with the wave's signals.
    assert_eq!(b["params_source"], "wave");
    assert!(
        b["outcomes"].as_array().map(Vec::len).unwrap_or(0) >= 9,
        "{b}"
    );
    assert_eq!(w["exchanges"]["2"]["executed"], 4);
    assert_eq!(w["totals"]["total_executed"], 10);
    // The stored WAVE_COMPLETED event (docs/design.md §1 step 7), as JSON.
    let ev = &w["completed_event"];
    assert_eq!(ev["wave_timestamp"], "2026-11-24T12:00:00Z", "{w}");
    assert_eq!(ev["positions_opened"], 10, "{w}");
    assert_eq!(ev["exchanges_processed"], 2, "{w}");
    assert_eq!(ev["per_exchange_stats"]["1"]["executed"], 6, "{w}");
    assert_eq!(ev["per_exchange_stats"]["1"]["target_reached"], true, "{w}");

    let o = wavegate(e, &["waves", "list", "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["wave_id"], "2026-11-24T12:00:00Z");

    // The wave is closed. Publishing the same file again is the protocol's idempotent retry:
    // every copy is stored already (ALREADY_EXISTS), which counts as success → exit 0.
    let o = wavegate(e, &["publish", &example("waves/worked-example.json")]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("rejected 16"), "{}", out(&o));
    assert!(
        stdout.contains("worked-example.json:2: signal 101: id: duplicate signal id 101"),
        "{}",
        out(&o)
    );
    assert!(
        stdout.contains("16 signal(s) were stored already"),
        "{}",
        out(&o)
    );
    // A new signal for the closed wave is late (exit 1), not "not found".
    let late = dev.dir.path().join("late.json");
    std::fs::write(
        &late,
        r#"[{"id": 999, "symbol": "BTCUSDT", "exchange_id": 1, "action": "BUY", "score_week": 50,
            "score_month": 50, "wave_timestamp": "2026-11-24T12:00:00Z"}]"#,
    )
    .unwrap();
    let o = wavegate(e, &["publish", late.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("late: wave 2026-11-24T12:00:00Z is closed"),
        "{}",
        out(&o)
    );

    // By name; an id without an agent is refused (exit 2, nothing stored) unless --force.
    let o = wavegate(
        e,
        &["params", "set", "bybit", "--max-trades", "5", "--json"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = wavegate(e, &["params", "set", "9", "--max-trades", "3"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no agent for exchange 9"),
        "{}",
        out(&o)
    );
    let o = wavegate(e, &["params", "get", "--json"]).await;
    let all: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|err| panic!("{err}: {}", out(&o)));
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|p| p["exchange_id"] != 9),
        "{all}"
    );
    let o = wavegate(e, &["params", "get", "2", "--json"]).await;
    let p: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|err| panic!("{err}: {}", out(&o)));
    assert_eq!(p[0]["max_trades"], 5);
    assert_eq!(p[0]["buffer_size"], 8);
    assert_eq!(p[0]["exchange_name"], "bybit");

    let o = wavegate(e, &["agents", "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = a
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["exchange_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["binance", "bybit"]);
}

#[tokio::test]
async fn bad_file_exits_2_with_line_and_field_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signals.json");
    std::fs::write(
        &path,
        concat!(
            "[\n",
            r#"  {"id": 1, "symbol": "BTCUSDT", "exchange_id": 1, "action": "BUY", "score_week": 70, "score_month": 60},"#, "\n",
            r#"  {"id": 2, "symbol": "ETHUSDT", "exchange_id": 1, "action": "BUY", "score_week": 70, "score_month": 60},"#, "\n",
            r#"  {"id": 3, "symbol": "SOLUSDT", "exchange_id": 1, "action": "BUY", "score_week": 170, "score_month": 60}"#, "\n",
            "]\n"
        ),
    )
    .unwrap();
    // Nobody listens there: a bad file must be refused before any connection is tried.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let o = wavegate(&nowhere, &["publish", path.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("signals.json:4: score_week: must be in 0..=100, got 170"),
        "{}",
        out(&o)
    );
}

#[tokio::test]
async fn unreachable_coordinator_exits_3_and_usage_errors_exit_2() {
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let o = wavegate(&nowhere, &["waves", "list"]).await;
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("coordinator unreachable"), "{}", out(&o));
    // One line, each cause once, no colour codes (stderr is not a terminal here).
    assert_eq!(stderr.trim_end().lines().count(), 1, "{}", out(&o));
    assert!(
        !stderr.contains("tcp connect error: tcp connect error"),
        "{}",
        out(&o)
    );
    assert!(!stderr.contains('\x1b'), "{}", out(&o));

    let o = wavegate(&nowhere, &["params", "set", "1"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let o = wavegate(&nowhere, &["--token", "s3cr3t-token", "waves", "list"]).await;
    assert!(!out(&o).contains("s3cr3t-token"), "{}", out(&o));
}

#[tokio::test]
async fn waves_cancel_stops_a_running_wave_and_exits_as_documented() {
    // 300 ms per exchange call: the worked example runs for seconds.
    let dev = start_dev_with(&["--latency-ms", "300"]).await;
    let e = dev.endpoint.as_str();
    let w = "2026-11-24T12:00:00Z";
    let o = wavegate(
        e,
        &["publish", &example("waves/worked-example.json"), "--close"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));

    let o = wavegate(
        e,
        &["waves", "cancel", w, "--reason", "cli drill", "--json"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|err| panic!("{err}: {}", out(&o)));
    assert_eq!(v["wave_id"], w, "{v}");
    assert_eq!(v["status"], "dispatching", "{v}");
    assert_eq!(v["exchanges_stopping"], 2, "{v}");
    assert_eq!(v["reason"], "cli drill", "{v}");

    // The wave still completes (partial): each exchange reports what it opened, "cancelled".
    let o = wavegate(e, &["watch", w]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("  reason: cancelled: cli drill\n"),
        "{}",
        out(&o)
    );
    assert!(
        stdout.contains("exchanges: 0 of 2 processed fully (binance: cancelled, bybit: cancelled)"),
        "{}",
        out(&o)
    );
    let o = wavegate(e, &["waves", "show", w, "--json"]).await;
    let shown: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|err| panic!("{err}: {}", out(&o)));
    assert_eq!(shown["status"], "partial", "{shown}");
    assert_eq!(shown["reason"], "cancelled: cli drill", "{shown}");
    let opened = shown["totals"]["total_executed"].as_u64().unwrap();
    assert!(opened < 10, "{shown}");
    // Timing: closed before completed, and each exchange started and finished in between.
    let closed = shown["timing"]["closed_at"].as_str().unwrap();
    let completed = shown["timing"]["completed_at"].as_str().unwrap();
    assert!(closed <= completed, "{shown}");
    assert!(shown["timing"]["duration_ms"].is_u64(), "{shown}");
    for ex in ["1", "2"] {
        let t = &shown["exchanges"][ex]["timing"];
        let (started, finished) = (t["started_at"].as_str(), t["finished_at"].as_str());
        assert!(started.is_some_and(|s| s >= closed), "{shown}");
        assert!(finished.is_some_and(|f| f <= completed), "{shown}");
    }
    // The text form says the same, within 80 columns.
    let o = wavegate_env(e, &["waves", "show", w], &[("COLUMNS", "80")]).await;
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("reason: cancelled: cli drill"), "{}", out(&o));
    assert!(text.contains(&format!("closed {closed}")), "{}", out(&o));
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{}", out(&o));
    let o = wavegate_env(e, &["waves", "list"], &[("COLUMNS", "80")]).await;
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("cancelled: cli drill"), "{}", out(&o));

    // Finished (1), unknown (1), malformed id or reason (2).
    let o = wavegate(e, &["waves", "cancel", w]).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("FailedPrecondition"),
        "{}",
        out(&o)
    );
    let o = wavegate(e, &["waves", "cancel", "2026-11-24T12:15:00Z"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("NotFound"),
        "{}",
        out(&o)
    );
    let o = wavegate(e, &["waves", "cancel", "last-tuesday"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let o = wavegate(e, &["waves", "cancel", w, "--reason", "two\nlines"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--reason"),
        "{}",
        out(&o)
    );
}

/// Waits until `waves show` reports a final status and returns its JSON.
async fn finished_wave(e: &str, wave: &str) -> Value {
    tokio::time::timeout(GUARD, async {
        loop {
            let o = wavegate(e, &["waves", "show", wave, "--json"]).await;
            if o.status.code() == Some(0) {
                let w: Value = serde_json::from_slice(&o.stdout).unwrap();
                if w["status"] != "collecting" && w["status"] != "dispatching" {
                    return w;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the wave did not finish within the guard")
}

#[tokio::test]
async fn reference_message_and_csv_export_publish_and_an_identical_retry_exits_0() {
    let dev = start_dev().await;
    let e = dev.endpoint.clone();
    // The signal server's `signals` message as a file (issue 10), closed at once.
    let message = example("reference/signals-message.json");
    let o = wavegate(&e, &["publish", &message, "--close"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("accepted 8, rejected 0"), "{}", out(&o));
    assert!(stdout.contains("2025-10-28T18:15:00Z"), "{}", out(&o));
    // The same file again: every copy is stored already, which the protocol calls success
    // (issue 12 item 8), also after the wave closed.
    let o = wavegate(&e, &["publish", &message, "--close"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("8 signal(s) were stored already"),
        "{}",
        out(&o)
    );
    let w = finished_wave(&e, "2025-10-28T18:15:00Z").await;
    assert_eq!(w["status"], "completed", "{w}");
    assert_eq!(w["signal_count"], 8, "{w}");
    // max_trades_filter 3 on Binance; four signals tie at 92.9 / 69.7: equal score_week too,
    // so the lowest ids go first.
    assert_eq!(
        w["exchanges"]["1"]["executed_symbols"],
        serde_json::json!(["SKLUSDT", "ONDOUSDT", "ARBUSDT"]),
        "{w}"
    );
    assert_eq!(w["exchanges"]["2"]["executed"], 2, "{w}");

    // The signal database's CSV export, as is (15 columns, `2025-10-28 18:30:00+00`).
    let csv = example("reference/signals-export.csv");
    let o = wavegate(&e, &["publish", &csv, "--close"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("accepted 8, rejected 0"), "{}", out(&o));
    let w = finished_wave(&e, "2025-10-28T18:30:00Z").await;
    // The next candle repeats the symbols: those opened by the first wave are duplicates.
    assert_eq!(w["exchanges"]["1"]["duplicates"], 3, "{w}");
    assert_eq!(
        w["exchanges"]["1"]["executed_symbols"],
        serde_json::json!(["OPUSDT", "INJUSDT"]),
        "{w}"
    );
}
