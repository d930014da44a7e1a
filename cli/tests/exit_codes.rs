//! The `wavegate` binary's exit codes and messages, from the outside. (Being an integration
//! test here also makes `cargo test --workspace` build the binary `tests/` starts.)

use std::process::Command;

fn wavegate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wavegate"))
}

#[test]
fn a_bad_signal_file_exits_2_naming_line_and_field_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signals.ndjson");
    std::fs::write(
        &file,
        concat!(
            r#"{"id": 1, "symbol": "BTCUSDT", "exchange_id": 1, "action": "BUY", "score_week": 50, "score_month": 50}"#,
            "\n",
            r#"{"id": 2, "symbol": "ETHUSDT", "exchange_id": 1, "action": "BUY", "score_week": 170, "score_month": 50}"#,
            "\n"
        ),
    )
    .unwrap();
    // Nothing listens on port 1: the file must be refused before any connection is tried.
    let out = wavegate()
        .args(["--coordinator", "http://127.0.0.1:1", "publish"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(":2:") && stderr.contains("score_week"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_coordinator_exits_3() {
    let out = wavegate()
        .args(["--coordinator", "http://127.0.0.1:1", "waves", "list"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = wavegate().args(["publish"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_ca_cert_that_is_not_pem_exits_2_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "secret-looking-bytes, not a certificate").unwrap();
    // Nothing listens on port 1: the file must be refused before any connection is tried.
    let out = wavegate()
        .args(["--coordinator", "https://127.0.0.1:1", "--ca-cert"])
        .arg(&ca)
        .args(["waves", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--ca-cert") && stderr.contains("ca.pem") && stderr.contains("not a PEM"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-looking-bytes"), "{stderr}");
}

/// A file with a 20 MB bad CSV header is refused with a short message.
#[test]
fn a_huge_bad_csv_header_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signals.csv");
    let header = "h".repeat(20 * 1024 * 1024);
    std::fs::write(&file, format!("{header}\n1\n")).unwrap();
    let out = wavegate()
        .args([
            "--coordinator",
            "http://127.0.0.1:1",
            "publish",
            "--format",
            "csv",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", stderr.len());
    assert!(
        stderr.contains("unknown column"),
        "{}",
        &stderr[..stderr.len().min(500)]
    );
    assert!(stderr.len() < 2000, "stderr is {} bytes", stderr.len());
}
