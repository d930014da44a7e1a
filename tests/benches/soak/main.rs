//! Soak run with random faults (issue 12): the real coordinator (SQLite) and two paper agents
//! run ≥ 500 waves while the bench kills agents (SIGKILL, restarted after up to 3 s), stops them
//! (SIGSTOP for up to 3 s) and kills the coordinator; at the end it checks the guarantees
//! against what the agents' exchanges hold and prints (and writes) a results table.
//!
//! ```text
//! cargo build --bins                                              # the binaries under test
//! cargo bench --profile dev -p wavegate-tests --bench soak        # 500 waves (minutes)
//! cargo bench --profile dev -p wavegate-tests --bench soak -- --waves 50 --seed 7 --out soak.md
//! ```
//!
//! Invariants (exit code 1 when one fails): no symbol opened twice on an exchange; never more
//! positions in a candle than its target; each wave's reported `executed` equals the entries
//! the exchange filled for it; every position wavegate opened holds its stop.

mod check;
mod faults;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use tonic::transport::Channel;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::signal_ingest_client::SignalIngestClient;
use wavegate_common::proto::v1::waves_client::WavesClient;
use wavegate_common::time::{to_proto, wave_id};
use wavegate_tests::Proc;

use crate::faults::{Fault, Rng};

/// Exchanges of the run.
const EXCHANGES: [u32; 2] = [1, 2];
/// Signals per exchange per wave, and the target (max_trades).
const SIGNALS: usize = 6;
const TARGET: u32 = 3;
/// Symbols drawn from (so later waves also meet open positions: duplicates).
const SYMBOLS: u64 = 4000;
/// A wave that does not finish within this is a failure of the run.
const WAVE_GUARD: Duration = Duration::from_secs(120);

struct Args {
    waves: usize,
    seed: u64,
    out: Option<std::path::PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        waves: 500,
        seed: 12,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--waves" => a.waves = it.next().context("--waves N")?.parse()?,
            "--seed" => a.seed = it.next().context("--seed N")?.parse()?,
            "--out" => a.out = Some(it.next().context("--out FILE")?.into()),
            // `cargo bench` passes --bench.
            "--bench" => {}
            other => bail!("unknown argument {other:?} (--waves N, --seed N, --out FILE)"),
        }
    }
    Ok(a)
}

fn agent_toml(dir: &std::path::Path, id: u32) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nexchange_id = {id}\nexchange_name = \"ex{id}\"\n\
         journal = \"{}\"\nmetrics_listen = \"off\"\n\
         [rate_limit]\norders_per_second = 100000\nburst = 100000\n\
         [adapter]\nkind = \"paper\"\n[adapter.paper]\nlatency_ms = 5\n",
        check::journal(dir, id).display(),
    )
}

/// One-second candles, so every wave is its own candle; waves close on the producer's word.
fn coordinator_toml(dir: &std::path::Path, agents: &[Proc]) -> String {
    let mut t = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}/coordinator.db?mode=rwc\"\n\
         node_id = \"soak\"\n[waves]\ninterval_secs = 1\ngrace_secs = 7000\nquiet_secs = 3600\n\
         deadline_secs = 30\n[dispatch]\nconnect_timeout_ms = 500\nresult_wait_secs = 60\n\
         progress_timeout_secs = 3\nlease_secs = 6\n",
        dir.display()
    );
    for (id, a) in EXCHANGES.iter().zip(agents) {
        t.push_str(&format!(
            "[[exchanges]]\nid = {id}\nname = \"ex{id}\"\nagent = \"{}\"\n",
            a.endpoint()
        ));
    }
    t
}

async fn channel(p: &Proc) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(p.endpoint())?.connect().await?)
}

fn wave_of(ts: DateTime<Utc>, rng: &mut Rng) -> pb::Wave {
    let mut signals = Vec::new();
    for ex in EXCHANGES {
        for i in 0..SIGNALS {
            let n = rng.below(SYMBOLS);
            signals.push(pb::Signal {
                id: i64::from(ex) * 100 + i as i64,
                symbol: format!("S{n}USDT"),
                exchange_id: ex,
                action: pb::Action::Buy as i32,
                score_week: 90.0 - i as f64,
                score_month: 50.0,
                wave_timestamp: Some(to_proto(ts)),
                created_at: Some(to_proto(Utc::now())),
                params: (i == 0).then_some(pb::SignalParams {
                    max_trades: Some(TARGET),
                    stop_loss_percent: Some(4.0),
                    trailing_activation_percent: None,
                    trailing_distance_percent: None,
                    ..Default::default()
                }),
            });
        }
    }
    pb::Wave {
        wave_timestamp: Some(to_proto(ts)),
        signals,
        close: true,
    }
}

/// Publishes until accepted (the coordinator may be restarting).
async fn publish(coord: &Proc, wave: &pb::Wave) -> anyhow::Result<()> {
    let until = Instant::now() + WAVE_GUARD;
    loop {
        if let Ok(ch) = channel(coord).await
            && let Ok(s) = SignalIngestClient::new(ch).publish_wave(wave.clone()).await
        {
            let s = s.into_inner();
            // A retry after a lost answer: the signals already stored come back as duplicates.
            let stored = s
                .rejections
                .iter()
                .all(|r| r.code == tonic::Code::AlreadyExists as i32);
            if stored && (s.accepted + s.rejected) as usize == wave.signals.len() {
                return Ok(());
            }
            bail!("wave refused: {s:?}");
        }
        if Instant::now() > until {
            bail!("could not publish within {WAVE_GUARD:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for the wave's final detail.
async fn finished(coord: &Proc, id: &str) -> anyhow::Result<pb::WaveDetail> {
    let until = Instant::now() + WAVE_GUARD;
    loop {
        if let Ok(ch) = channel(coord).await
            && let Ok(d) = WavesClient::new(ch)
                .get(pb::GetWaveRequest { wave_id: id.into() })
                .await
        {
            let d = d.into_inner();
            if d.summary
                .as_ref()
                .is_some_and(|s| s.status >= pb::WaveStatus::Completed as i32)
            {
                return Ok(d);
            }
        }
        if Instant::now() > until {
            bail!("wave {id} did not finish within {WAVE_GUARD:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let dir = tempfile::Builder::new().prefix("wavegate-soak").tempdir()?;
    let mut agents = Vec::new();
    for id in EXCHANGES {
        agents.push(Proc::spawn("wavegate-agent", &agent_toml(dir.path(), id), dir.path()).await?);
    }
    let mut coord = Proc::spawn(
        "wavegate-coordinator",
        &coordinator_toml(dir.path(), &agents),
        dir.path(),
    )
    .await?;
    let mut rng = Rng::new(a.seed);
    let mut tally = faults::Tally::default();
    let mut reported = Vec::new();
    // Candles one second apart, all in the past hour (within the grace), oldest first.
    let base = DateTime::<Utc>::from_timestamp(Utc::now().timestamp() - 3600, 0)
        .context("clock out of range")?;
    let started = Instant::now();
    for k in 0..a.waves {
        let ts = base + chrono::Duration::seconds(k as i64);
        let wave = wave_of(ts, &mut rng);
        publish(&coord, &wave).await?;
        let fault = Fault::draw(&mut rng);
        faults::inject(fault, &mut rng, &mut agents, &mut coord).await?;
        tally.count(fault);
        let d = finished(&coord, &wave_id(ts)).await?;
        reported.push((wave_id(ts), d));
        if (k + 1) % 50 == 0 {
            eprintln!("soak: {} waves, {:?}", k + 1, started.elapsed());
        }
    }
    let elapsed = started.elapsed();
    // Whatever a last fault left is settled before serving again (start-up re-protection).
    for a in &mut agents {
        a.restart().await?;
    }
    let results = check::run(dir.path(), &EXCHANGES, TARGET, &reported).await?;
    let table = check::table(&a, &tally, elapsed, &results);
    println!("{table}");
    if let Some(out) = &a.out {
        std::fs::write(out, &table).with_context(|| format!("writing {}", out.display()))?;
    }
    drop(coord);
    if results.iter().any(|r| !r.held()) {
        std::process::exit(1);
    }
    Ok(())
}
