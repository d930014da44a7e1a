//! The machine's floor under issue 14's two latency targets: the hops and writes wavegate's
//! path cannot do without, done by the simplest processes that can do them, on the same
//! machine, with the same SQLite and driver (sqlx) and the same clock as the waves bench.
//!
//! ```text
//! cargo bench -p wavegate-tests --bench floor               # 300 waves each (about 30 s)
//! cargo bench -p wavegate-tests --bench floor -- --waves 100
//! ```
//!
//! **Close → first order** (`first`): at the decision to close, one process commits the claim
//! (`BEGIN`, one `UPDATE`, `COMMIT` with `synchronous = FULL` in WAL mode, as the coordinator's
//! default), then writes a 16-byte frame to each of `agents` processes over open TCP
//! connections (`TCP_NODELAY`). Each agent process, asleep in its read, commits one journal row
//! (`synchronous = NORMAL`, the agent's default) and answers with its instants. The first
//! agent's commit is the floor of "first order at the exchange": wavegate's waves bench ends
//! that interval when the paper exchange records the entry, after the entry's journal commit.
//! What the floor leaves out is everything wavegate does besides: HTTP/2 and protobuf, the
//! claim's reads and params, the session's start, validation, the rate limiter.
//!
//! **A walked signal** (`walk`): the worked example's shape. After the claim's commit
//! (`synchronous = NORMAL`, the own-cost target's setting), two agents walk 7 and 4 signals,
//! each signal one awaited journal commit (the entry's row: wavegate commits one row before an
//! entry leaves, and a fresh fill's first stop rides on it) and one outcome frame back; then
//! one commit of the result and the result frame. The makespan ends at the last result; per
//! walked signal it is divided by 7, as `wavegate bench` divides the own cost. The exchange
//! calls themselves cost nothing here, as the paper exchange at 0 ms.

mod agent;
mod frame;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use sqlx::Connection as _;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use wavegate_cli::bench::stats::Summary;

use frame::{Frame, Kind, now_us};

/// The worked example's walks: (signals, exchange calls) per exchange (Binance 7 and 13,
/// Bybit 4 and 8; docs/benchmarks.md).
const WALKS: [(u32, u32); 2] = [(7, 13), (4, 8)];
/// Paper exchange latencies of the walk, in ms (issue 14's own-cost target: 0 and 2 ms).
const LATENCIES_MS: [u32; 2] = [0, 2];
/// Pause between waves, so the agents are asleep when a wave comes (as between real waves).
const GAP: Duration = Duration::from_millis(20);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--agent") {
        let addr = args.get(pos + 1).context("--agent ADDR DIR")?;
        let dir = args.get(pos + 2).context("--agent ADDR DIR")?;
        return agent::run(addr, Path::new(dir)).await;
    }
    let waves = match args.iter().position(|a| a == "--waves") {
        Some(p) => args.get(p + 1).context("--waves N")?.parse()?,
        None => 300,
    };
    let dir = tempfile::tempdir()?;
    println!("# The machine's floor ({waves} waves each; ms)\n");
    println!("| interval | agents | claim's `synchronous` | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    // `FULL` is the coordinator's default; `NORMAL` shows what the claim's fsync costs.
    for (agents, sync) in [(1, "FULL"), (8, "FULL"), (8, "NORMAL")] {
        let mut floor = Floor::start(dir.path(), agents, sync).await?;
        let first = floor.first(waves).await?;
        for (what, s) in [
            ("claim commit", &first.claim),
            ("claim → first agent reads", &first.way),
            ("first agent's journal commit", &first.commit),
            ("**close → first order**", &first.total),
        ] {
            row(what, agents, sync, s);
        }
        floor.stop().await;
    }
    let mut floor = Floor::start(dir.path(), WALKS.len(), "NORMAL").await?;
    for latency in LATENCIES_MS {
        let (makespan, own) = floor.walk(waves, latency).await?;
        let what = format!("worked example at {latency} ms: close → last result");
        row(&what, 2, "NORMAL", &makespan);
        let what = format!("**own cost per walked signal** at {latency} ms");
        row(&what, 2, "NORMAL", &own);
    }
    floor.stop().await;
    Ok(())
}

fn row(what: &str, agents: usize, sync: &str, s: &Summary) {
    println!(
        "| {what} | {agents} | `{sync}` | {:.3} | {:.3} | {:.3} |",
        s.p50, s.p99, s.max
    );
}

/// The close → first order floor's parts, per wave.
struct First {
    claim: Summary,
    way: Summary,
    commit: Summary,
    total: Summary,
}

/// A claiming process (this one) with its agent processes connected.
struct Floor {
    db: sqlx::SqliteConnection,
    agents: Vec<TcpStream>,
    children: Vec<tokio::process::Child>,
}

impl Floor {
    async fn start(dir: &Path, agents: usize, sync: &str) -> anyhow::Result<Floor> {
        let path = dir.join(format!("claims-{agents}-{sync}.db"));
        let mut db =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await?;
        for pragma in [
            "PRAGMA journal_mode = WAL".to_owned(),
            format!("PRAGMA synchronous = {sync}"),
            "CREATE TABLE IF NOT EXISTS waves (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)".into(),
            "INSERT OR IGNORE INTO waves VALUES (1, 0)".into(),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(pragma))
                .execute(&mut db)
                .await?;
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let exe = std::env::current_exe()?;
        let mut children = Vec::new();
        let mut conns = Vec::new();
        for i in 0..agents {
            let agent_dir = dir.join(format!("agent-{agents}-{sync}-{i}"));
            std::fs::create_dir_all(&agent_dir)?;
            children.push(
                tokio::process::Command::new(&exe)
                    .arg("--agent")
                    .arg(&addr)
                    .arg(&agent_dir)
                    .stdin(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()?,
            );
            // In spawn order, so agent i is connection i.
            let (conn, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
                .await
                .context("agent did not connect")??;
            conn.set_nodelay(true)?;
            conns.push(conn);
        }
        Ok(Floor {
            db,
            agents: conns,
            children,
        })
    }

    /// The claim's one write, committed: `BEGIN`, `UPDATE`, `COMMIT` (three driver round trips,
    /// the claim's least).
    async fn claim(&mut self) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        sqlx::query("UPDATE waves SET n = n + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn first(&mut self, waves: usize) -> anyhow::Result<First> {
        let (mut claim, mut way, mut commit, mut total) = (vec![], vec![], vec![], vec![]);
        for wave in 0..waves {
            tokio::time::sleep(GAP).await;
            let t0 = now_us();
            self.claim().await?;
            let claimed = now_us();
            let go = Frame::new(Kind::Go, wave_no(wave), 0, 0);
            for a in &mut self.agents {
                a.write_all(&go.bytes()).await?;
            }
            let (mut read_at, mut done_at) = (i64::MAX, i64::MAX);
            for a in &mut self.agents {
                // Each agent answers, after its commit, with when it read the frame (`a`) and
                // when its row committed (`b`).
                let done = Frame::read(a).await?.expect_kind(Kind::Committed)?;
                if done.b < done_at {
                    (read_at, done_at) = (done.a, done.b);
                }
            }
            let ms = |us: i64| us as f64 / 1e3;
            claim.push(ms(claimed - t0));
            way.push(ms(read_at - claimed));
            commit.push(ms(done_at - read_at));
            total.push(ms(done_at - t0));
        }
        Ok(First {
            claim: Summary::of(&claim),
            way: Summary::of(&way),
            commit: Summary::of(&commit),
            total: Summary::of(&total),
        })
    }

    /// The worked example's walks at `latency_ms` per call: makespans, and the own cost per
    /// walked signal as `wavegate bench` computes it, (makespan − calls × latency) / walked.
    async fn walk(&mut self, waves: usize, latency_ms: u32) -> anyhow::Result<(Summary, Summary)> {
        let (mut spans, mut own) = (vec![], vec![]);
        let (walked, calls) = WALKS[0];
        for wave in 0..waves {
            tokio::time::sleep(GAP).await;
            let t0 = now_us();
            self.claim().await?;
            for (a, (n, calls)) in self.agents.iter_mut().zip(WALKS) {
                let mut walk = Frame::new(Kind::Walk, wave_no(wave), n.into(), calls.into());
                walk.c = i64::from(latency_ms) * 1_000;
                a.write_all(&walk.bytes()).await?;
            }
            // Both agents walk at once; each one's outcomes are read as they come.
            let results = futures::future::try_join_all(self.agents.iter_mut().zip(WALKS).map(
                |(a, (n, _))| async move {
                    for _ in 0..n {
                        Frame::read(a).await?.expect_kind(Kind::Outcome)?;
                    }
                    Frame::read(a).await?.expect_kind(Kind::Result)?;
                    anyhow::Ok(now_us())
                },
            ))
            .await?;
            let end = results.into_iter().max().unwrap_or(t0);
            let span = (end - t0) as f64 / 1e3;
            spans.push(span);
            own.push((span - f64::from(calls * latency_ms)) / f64::from(walked));
        }
        Ok((Summary::of(&spans), Summary::of(&own)))
    }

    async fn stop(mut self) {
        for a in &mut self.agents {
            let _ = a.shutdown().await;
        }
        for c in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(5), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
    }
}

fn wave_no(wave: usize) -> u32 {
    u32::try_from(wave).unwrap_or(u32::MAX)
}
