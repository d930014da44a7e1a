//! Shared plumbing of the telemetry end-to-end tests: the worked example's coordinator and
//! paper agents with `[telemetry] otlp_endpoint` and `/metrics` on announced ports, and a scrape.
#![allow(dead_code)]

use std::path::Path;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wavegate_tests::Proc;

use crate::coordinator_support::{GUARD, PaperAgent};

/// A process with its metrics port.
pub struct Observed {
    pub proc: Proc,
    pub metrics_port: u16,
}

impl Observed {
    /// `proc` with the metrics port it announced (printed just after its gRPC address).
    async fn new(proc: Proc) -> Self {
        let addr = tokio::time::timeout(GUARD, async {
            loop {
                if let Some(a) = proc.metrics_addr() {
                    return a;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("no \"metrics on\" line");
        Self {
            metrics_port: addr.port(),
            proc,
        }
    }
}

fn list(v: &[&str]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", items.join(", "))
}

fn telemetry(otlp: Option<&str>) -> String {
    match otlp {
        Some(e) => format!("[telemetry]\notlp_endpoint = \"{e}\"\n"),
        None => String::new(),
    }
}

/// A paper agent exporting to `otlp` and serving `/metrics`.
pub async fn agent(dir: &Path, a: &PaperAgent, otlp: Option<&str>) -> Observed {
    // Any free port: the process announces the one it bound.
    let port = 0;
    let metrics_port = 0;
    let toml = format!(
        "listen = \"127.0.0.1:{port}\"\nexchange_id = {}\nexchange_name = \"{}\"\n\
         region = \"test\"\njournal = \"{}\"\nexecution_mode = \"sequential\"\n\
         metrics_listen = \"127.0.0.1:{metrics_port}\"\n\
         [rate_limit]\norders_per_second = 1000\nburst = 1000\n\
         [adapter]\nkind = \"paper\"\n[adapter.paper]\nlatency_ms = 0\n\
         open_positions = {}\n[faults]\nexec_fail = {}\n{}",
        a.exchange_id,
        a.name,
        dir.join(format!("agent-{}.db", a.exchange_id)).display(),
        list(&a.open_positions),
        list(&a.exec_fail),
        telemetry(otlp),
    );
    let proc = Proc::spawn("wavegate-agent", &toml, dir).await.unwrap();
    Observed::new(proc).await
}

/// The coordinator of the worked example (binance and bybit agents) exporting to `otlp`.
pub async fn coordinator(
    dir: &Path,
    agents: &[(u32, &str, String)],
    otlp: Option<&str>,
) -> Observed {
    // Any free port: the process announces the one it bound.
    let port = 0;
    let metrics_port = 0;
    let mut toml = format!(
        "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"sqlite://{}/c.db?mode=rwc\"\n\
         node_id = \"telemetry\"\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n\
         [waves]\nquiet_secs = 3\n[dispatch]\nretries = 2\nconnect_timeout_ms = 500\n{}",
        dir.display(),
        telemetry(otlp),
    );
    for (id, name, endpoint) in agents {
        toml.push_str(&format!(
            "[[exchanges]]\nid = {id}\nname = \"{name}\"\nagent = \"{endpoint}\"\n"
        ));
    }
    let proc = Proc::spawn("wavegate-coordinator", &toml, dir)
        .await
        .unwrap();
    Observed::new(proc).await
}

/// `GET /metrics` (retried until the endpoint answers: it starts after gRPC health).
pub async fn scrape(port: u16) -> String {
    tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                if s.write_all(req.as_bytes()).await.is_ok() {
                    let mut out = String::new();
                    if s.read_to_string(&mut out).await.is_ok() && out.contains(" 200 ") {
                        return out;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("metrics endpoint did not answer")
}

/// Scrapes `port` until `series` reads `value` (metrics counted just after the state a test
/// waited for), within the test guard; returns that scrape.
pub async fn scrape_until(port: u16, series: &str, value: f64) -> String {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let text = scrape(port).await;
        if sample(&text, series) == value || tokio::time::Instant::now() >= deadline {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The value of the sample `line_prefix` (full name with labels), 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}
