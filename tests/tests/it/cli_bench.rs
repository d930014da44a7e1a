//! End-to-end: `wavegate bench` runs the real binaries as processes (a coordinator and two
//! paper agents per setting, and a delay proxy between them for the multi-region part) and
//! reports each wave's walk, makespan and bound. Only what the run did is asserted, never
//! how fast it was.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use wavegate_tests::binary;

/// Failure guard only; this small run takes a few seconds.
const GUARD: Duration = Duration::from_secs(180);

async fn wavegate(args: &[&str]) -> Output {
    let run = Command::new(binary("wavegate"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(GUARD, run)
        .await
        .expect("wavegate bench did not finish within the guard")
        .expect("wavegate could not be started")
}

fn sample<'a>(cell: &'a Value, name: &str) -> &'a Value {
    cell["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sample"] == name)
        .unwrap_or_else(|| panic!("no sample {name} in {cell}"))
}

fn exchange(s: &Value, id: u64) -> &Value {
    s["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["exchange_id"] == id)
        .unwrap_or_else(|| panic!("no exchange {id} in {s}"))
}

#[tokio::test]
async fn bench_json_reports_every_setting_with_the_walks_and_bounds() {
    let out = wavegate(&[
        "bench",
        "--json",
        "--latencies-ms",
        "3",
        // One run of each wave: the shape of every setting is what is checked here; the
        // breakdown test below runs two and checks how they add up.
        "--waves",
        "1",
        "--region-rtt-ms",
        "10",
        "--region-exchange-ms",
        "1",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let r: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(r["reps"], 1);
    let cells = r["cells"].as_array().unwrap();
    // Grid: sequential and windowed at 3 ms; regions: agents near (both modes) and reference.
    let shape: Vec<(String, u64, String)> = cells
        .iter()
        .map(|c| {
            (
                c["part"].as_str().unwrap().to_owned(),
                c["latency_ms"].as_u64().unwrap(),
                c["mode"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("grid", 3, "sequential"),
        ("grid", 3, "windowed"),
        ("agents_near_exchange", 1, "sequential"),
        ("agents_near_exchange", 1, "windowed"),
        // The reference pays the 10 ms round trip on every exchange call.
        ("reference", 11, "sequential"),
    ];
    let want: Vec<(String, u64, String)> = want
        .iter()
        .map(|(p, l, m)| ((*p).to_owned(), *l, (*m).to_owned()))
        .collect();
    assert_eq!(shape, want);
    assert_eq!(cells[2]["agent_rtt_ms"], 10.0);
    assert_eq!(cells[4]["agent_rtt_ms"], 0.0);
    for c in cells {
        // docs/design.md §1's worked example: binance 6 opened + 1 rejected = 13 calls, bybit 4 = 8.
        let w = sample(c, "worked-example");
        let b = exchange(w, 1);
        assert_eq!(
            (&b["executed"], &b["failed"], &b["calls"]),
            (&6.into(), &1.into(), &13.into())
        );
        assert_eq!(exchange(w, 2)["calls"], 8);
        assert_eq!(w["walked"], 7);
        let latency = c["latency_ms"].as_f64().unwrap();
        assert_eq!(w["calls_ms"].as_f64().unwrap(), 13.0 * latency);
        // docs/design.md §5: the calls plus one coordinator ↔ agent round trip, measured (the
        // delay proxy's included).
        let rtt = w["round_trip_ms"].as_f64().unwrap();
        assert!(rtt > c["agent_rtt_ms"].as_f64().unwrap(), "{w}");
        let bound = w["bound_ms"].as_f64().unwrap();
        assert!((bound - (13.0 * latency + rtt)).abs() < 1e-9, "{w}");
        assert_eq!(w["makespan_ms"]["n"], 1);
        assert!(w["makespan_ms"]["min"].as_f64().unwrap() > 0.0, "{w}");
        // The top-up wave: binance asks once and opens its 4.
        let t = sample(c, "topup");
        assert_eq!(exchange(t, 1)["topup_rounds"], 1);
        assert_eq!(exchange(t, 1)["executed"], 4);
        assert_eq!(t["makespan_ms"]["n"], 1);
    }
}

#[tokio::test]
async fn bench_refuses_bad_arguments_before_starting_anything() {
    let out = wavegate(&["bench", "--waves", "0"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--waves: must be between 1 and"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn with_the_agents_timing_lines_kept_the_walk_is_broken_down() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bench");
    let run = Command::new(binary("wavegate"))
        .args(["bench", "--json", "--latencies-ms", "0", "--waves", "2"])
        .args(["--no-regions", "--data-dir", data.to_str().unwrap()])
        .env(
            "RUST_LOG",
            "info,wavegate_agent::timing=debug,wavegate_coordinator::timing=debug",
        )
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(GUARD, run)
        .await
        .expect("wavegate bench did not finish within the guard")
        .expect("wavegate could not be started");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let cells = r["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{r}");
    // With the coordinator's wave lines too, the time outside the walk is split, each part an
    // interval between two logged instants, the parts adding up to it.
    let b = &sample(&cells[0], "worked-example")["breakdown"];
    let parts = b["outside"].as_object().expect("the split");
    let names = [
        "claim_ms",
        "dispatch_ms",
        "to_agent_ms",
        "session_start_ms",
        "to_first_order_ms",
        "result_ms",
        "to_coordinator_ms",
        "reported_ms",
    ];
    let mut sum = 0.0;
    for n in names {
        let v = parts[n].as_f64().unwrap();
        assert!(v >= 0.0, "{n}: {b}");
        sum += v;
    }
    assert_eq!(parts.len(), names.len(), "{b}");
    assert!(parts["claim_ms"].as_f64().unwrap() > 0.0, "{b}");
    assert!(parts["to_agent_ms"].as_f64().unwrap() > 0.0, "{b}");
    assert!(
        (sum - b["outside_walk_ms"].as_f64().unwrap()).abs() < 1e-6,
        "{b}"
    );
    // Sequential: binance's walk of the worked example, 7 signals in each of the 2 waves.
    assert_eq!(b["waves"], 2, "{b}");
    assert_eq!(b["walked"], 7.0, "{b}");
    // The breakdown covers the measured waves: its total is their makespan per walked signal.
    let m = &sample(&cells[0], "worked-example")["makespan_ms"];
    let per_wave = b["total_ms"].as_f64().unwrap() * 7.0;
    let (lo, hi) = (m["min"].as_f64().unwrap(), m["max"].as_f64().unwrap());
    assert!(
        lo - 1e-6 <= per_wave && per_wave <= hi + 1e-6,
        "{per_wave} not in [{lo}, {hi}]: {b}"
    );
    // The agent timed its steps: journal commits precede every request, the paper exchange
    // answered every call.
    assert!(b["journal_ms"].as_f64().unwrap() > 0.0, "{b}");
    assert!(b["paper_exchange_ms"].as_f64().unwrap() > 0.0, "{b}");
    // Windowed walks overlap: no per-signal breakdown.
    assert!(sample(&cells[1], "worked-example")["breakdown"].is_null());
    // The kept directory holds each setting's logs.
    assert!(
        data.join("00-grid-0ms-sequential")
            .join("agent-1.log")
            .is_file()
    );
}
