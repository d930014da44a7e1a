//! The machine's floor under issue 14's two latency targets: the commits and hops wavegate's
//! path cannot do without, done by the simplest processes that can do them, on the same
//! machine, with the same SQLite and the same clock as the waves bench.
//!
//! ```text
//! cargo bench -p wavegate-tests --bench floor               # 300 waves each (under a minute)
//! cargo bench -p wavegate-tests --bench floor -- --waves 100
//! ```
//!
//! Every process is single-threaded and blocks in its reads; every commit is rusqlite's on the
//! process's own thread, with WAL checkpoints between waves, outside the timed part (wavegate's
//! agent pays one in every 256th journal batch; the coordinator's task checkpoints once a
//! second beside its claims). wavegate commits with rusqlite too since the ninth round, the
//! journal's acknowledged writes and a SQLite claim on the caller's task when nothing is queued
//! ahead and nothing would wait (`agent/src/journal/writer.rs`,
//! `coordinator/src/store/sqlite_claim.rs`), else handed to a task or the blocking pool. So the
//! floor leaves out those checkpoints, the async runtimes' wake-ups and hand-offs, and
//! everything wavegate does besides: HTTP/2 and protobuf, the claim's params, the session's
//! start, validation, the rate limiter, spans.
//!
//! **Close → first order** (`first`): at the decision to close, one process commits the claim
//! (`BEGIN IMMEDIATE`, one `UPDATE`, `COMMIT`; `synchronous = FULL`, the coordinator's
//! default, or `NORMAL`), then writes a 32-byte frame to each of `agents` processes over open
//! TCP connections (`TCP_NODELAY`). Each agent process commits one journal row (`NORMAL`, the
//! agent's default) and answers with its instants. The first agent's commit is the floor of
//! "first entry recorded": the waves bench ends that interval at the paper exchange, after the
//! entry's journal commit.
//!
//! **A walked signal** (`walk`): the worked example's shape. After a `NORMAL` claim, two agents
//! walk 7 signals (13 exchange calls) and 4 (8 calls). Each signal is one journal commit before
//! its entry (a fresh fill's first stop rides on the entry's row), its entry call, its stop call
//! while calls last, and an outcome frame back; each call is the paper exchange's: its record
//! committed, the rest of its latency waited. Then the result's commit and frame. The makespan
//! ends when the claiming process reads the last result; the own cost is computed as `wavegate
//! bench` computes it, `(makespan − 13 × latency) / 7`.

mod agent;
mod db;
mod frame;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use wavegate_cli::bench::stats::Summary;

use frame::{Frame, Kind, now_us};

/// The worked example's walks: (signals, exchange calls) per exchange (Binance 7 and 13,
/// Bybit 4 and 8; docs/benchmarks.md).
const WALKS: [(u32, u32); 2] = [(7, 13), (4, 8)];
/// Paper exchange latencies of the walk, in ms (issue 14's own-cost target: 0 and 2 ms).
const LATENCIES_MS: [u32; 2] = [0, 2];
/// Pause between waves, so the agents are asleep when a wave comes (as between real waves).
const GAP: Duration = Duration::from_millis(20);
/// Waves between two checkpoints of the claims' file, outside the timed part (the
/// coordinator's task checkpoints once a second: 50 waves here). The agents checkpoint at
/// their own cadence, also between waves (`db::CHECKPOINT_EVERY`).
const CLAIMS_CHECKPOINT_EVERY: usize = 50;
/// Longest wait for an agent's frame: a stalled agent fails the run instead of hanging it.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut waves, mut bench) = (300usize, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // This binary re-run as one of the agent processes.
            "--agent" => {
                let (Some(addr), Some(dir)) = (args.next(), args.next()) else {
                    bail!("--agent ADDR DIR");
                };
                return agent::run(&addr, Path::new(&dir));
            }
            "--waves" => {
                let v = args.next().unwrap_or_default();
                waves = v
                    .parse()
                    .with_context(|| format!("--waves: {v:?} is not a whole number of waves"))?;
                if waves == 0 {
                    bail!("--waves: at least 1, got 0");
                }
            }
            // `cargo bench` passes it; `cargo test --benches` does not.
            "--bench" => bench = true,
            other => bail!("unknown argument {other:?} (--waves N)"),
        }
    }
    if !bench {
        eprintln!("floor: run with `cargo bench -p wavegate-tests --bench floor [-- --waves N]`");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    println!("# The machine's floor ({waves} waves each; ms)\n");
    println!("| interval | agents | claim's `synchronous` | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    // `FULL` is the coordinator's default; `NORMAL` shows what the claim's fsync costs.
    for (agents, sync) in [(1, "FULL"), (8, "FULL"), (8, "NORMAL")] {
        let mut floor = Floor::start(dir.path(), agents, sync)?;
        let first = floor.first(waves)?;
        for (what, s) in [
            ("claim commit", &first.claim),
            ("claim → the first-committing agent reads", &first.way),
            ("that agent's journal commit", &first.commit),
            ("**close → first order**", &first.total),
        ] {
            row(what, agents, sync, s);
        }
        floor.stop()?;
    }
    let mut floor = Floor::start(dir.path(), WALKS.len(), "NORMAL")?;
    for latency in LATENCIES_MS {
        let (makespan, own) = floor.walk(waves, latency)?;
        let what = format!("worked example at {latency} ms: close → last result");
        row(&what, 2, "NORMAL", &makespan);
        let what = format!("**own cost per walked signal** at {latency} ms");
        row(&what, 2, "NORMAL", &own);
    }
    floor.stop()
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
    db: rusqlite::Connection,
    agents: Vec<TcpStream>,
    children: Vec<Child>,
    claims: usize,
}

impl Floor {
    fn start(dir: &Path, agents: usize, sync: &str) -> anyhow::Result<Floor> {
        let db = db::open(&dir.join(format!("claims-{agents}-{sync}.db")), sync)?;
        db.execute("INSERT OR IGNORE INTO rows VALUES (1, 0, 0, 0)", [])?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        listener.set_nonblocking(true)?;
        let exe = std::env::current_exe()?;
        let mut floor = Floor {
            db,
            agents: Vec::new(),
            children: Vec::new(),
            claims: 0,
        };
        for i in 0..agents {
            let agent_dir = dir.join(format!("agent-{agents}-{sync}-{i}"));
            std::fs::create_dir_all(&agent_dir)?;
            floor.children.push(
                Command::new(&exe)
                    .arg("--agent")
                    .arg(&addr)
                    .arg(&agent_dir)
                    .stdin(Stdio::null())
                    .spawn()?,
            );
            // In spawn order, so agent i is connection i.
            let conn = accept(&listener, Duration::from_secs(30))?;
            conn.set_nonblocking(false)?;
            conn.set_nodelay(true)?;
            conn.set_read_timeout(Some(READ_TIMEOUT))?;
            floor.agents.push(conn);
        }
        Ok(floor)
    }

    /// The claim's one write, committed: `BEGIN IMMEDIATE`, `UPDATE`, `COMMIT`.
    fn claim(&mut self) -> anyhow::Result<()> {
        let tx = (self.db).transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.prepare_cached("UPDATE rows SET n = n + 1 WHERE id = 1")?
            .execute([])?;
        tx.commit()?;
        Ok(())
    }

    /// Waits between waves (the files are checkpointed there, outside the timed part); returns
    /// the next wave's number, one count for every frame of this run.
    fn pause(&mut self) -> anyhow::Result<u32> {
        self.claims += 1;
        if self.claims.is_multiple_of(CLAIMS_CHECKPOINT_EVERY) {
            db::checkpoint(&self.db)?;
        }
        let wave = wave_no(self.claims);
        let go = Frame::new(Kind::Checkpoint, wave, 0, 0, 0).bytes();
        for a in &mut self.agents {
            a.write_all(&go)?;
        }
        for a in &mut self.agents {
            Frame::read(a, Kind::Checkpointed, wave)?;
        }
        std::thread::sleep(GAP);
        Ok(wave)
    }

    fn first(&mut self, waves: usize) -> anyhow::Result<First> {
        let (mut claim, mut way, mut commit, mut total) = (vec![], vec![], vec![], vec![]);
        for _ in 0..waves {
            let wave = self.pause()?;
            let t0 = now_us();
            self.claim()?;
            let claimed = now_us();
            let go = Frame::new(Kind::Go, wave, 0, 0, 0).bytes();
            for a in &mut self.agents {
                a.write_all(&go)?;
            }
            // The agent whose row committed first, with when it read the frame (its `a`).
            let mut first: Option<Frame> = None;
            for a in &mut self.agents {
                let done = Frame::read(a, Kind::Committed, wave)?;
                if first.is_none_or(|f| done.b < f.b) {
                    first = Some(done);
                }
            }
            let Some(first) = first else {
                bail!("no agent answered");
            };
            let ms = |us: i64| us as f64 / 1e3;
            claim.push(ms(claimed - t0));
            way.push(ms(first.a - claimed));
            commit.push(ms(first.b - first.a));
            total.push(ms(first.b - t0));
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
    fn walk(&mut self, waves: usize, latency_ms: u32) -> anyhow::Result<(Summary, Summary)> {
        let (mut spans, mut own) = (vec![], vec![]);
        let (walked, calls) = WALKS[0];
        for _ in 0..waves {
            let wave = self.pause()?;
            let t0 = now_us();
            self.claim()?;
            for (a, (n, calls)) in self.agents.iter_mut().zip(WALKS) {
                let c = i64::from(latency_ms) * 1_000;
                a.write_all(&Frame::new(Kind::Walk, wave, n.into(), calls.into(), c).bytes())?;
            }
            // Read in turn: a result that came while another agent's frames were read waits in
            // its socket, so the last read is the last result, to a few µs.
            let mut end = t0;
            for (a, (n, _)) in self.agents.iter_mut().zip(WALKS) {
                for _ in 0..n {
                    Frame::read(a, Kind::Outcome, wave)?;
                }
                Frame::read(a, Kind::Result, wave)?;
                end = now_us();
            }
            let span = (end - t0) as f64 / 1e3;
            spans.push(span);
            own.push((span - f64::from(calls * latency_ms)) / f64::from(walked));
        }
        Ok((Summary::of(&spans), Summary::of(&own)))
    }

    /// Closes the connections and waits for every agent to exit cleanly.
    fn stop(mut self) -> anyhow::Result<()> {
        self.agents.clear();
        let mut failed = Vec::new();
        for child in &mut self.children {
            match wait_exit(child, Duration::from_secs(10)) {
                Ok(status) if status.success() => {}
                Ok(status) => failed.push(format!("an agent failed: {status}")),
                Err(e) => failed.push(e.to_string()),
            }
        }
        self.children.clear();
        if !failed.is_empty() {
            bail!("{}", failed.join("; "));
        }
        Ok(())
    }
}

impl Drop for Floor {
    /// A run that failed midway leaves no agent behind.
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The child's exit status within `within`; past it the child is killed and it is an error.
fn wait_exit(child: &mut Child, within: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let until = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            bail!("an agent did not exit after its connection closed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The next connection on the non-blocking `listener`, within `within`.
fn accept(listener: &TcpListener, within: Duration) -> anyhow::Result<TcpStream> {
    let until = Instant::now() + within;
    loop {
        match listener.accept() {
            Ok((conn, _)) => return Ok(conn),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => bail!("an agent did not connect: {e}"),
        }
    }
}

fn wave_no(wave: usize) -> u32 {
    u32::try_from(wave).unwrap_or(u32::MAX)
}
