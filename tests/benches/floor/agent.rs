//! An agent process of the floor: asleep in a blocking read until the claiming process writes,
//! then only the journal commits wavegate's agent must make, and the frames back.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::db;
use crate::frame::{Frame, Kind, now_us};

/// Connects to `addr`, journals into `dir`, answers until the connection closes.
pub fn run(addr: &str, dir: &Path) -> anyhow::Result<()> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_nodelay(true)?;
    // The agent's default journal durability (`journal_sync = "normal"`).
    let mut journal = db::open(&dir.join("journal.db"), "NORMAL")?;
    // Rows committed since the last checkpoint.
    let mut commits = 0i64;
    while let Some(f) = Frame::read_or_end(&mut conn)? {
        let read_at = now_us();
        match f.kind {
            Kind::Go => {
                db::commit_row(&mut journal, f.wave, 0)?;
                let done = Frame::new(Kind::Committed, f.wave, read_at, now_us(), 0);
                conn.write_all(&done.bytes())?;
                commits += 1;
            }
            Kind::Walk => {
                let latency = Duration::from_micros(u64::try_from(f.c).unwrap_or(0));
                for n in 0..f.a {
                    // The entry's row committed before it leaves, then the entry, then its stop
                    // (a fresh fill's first stop rides on the entry's row) while calls last.
                    db::commit_row(&mut journal, f.wave, n)?;
                    call(&mut journal, f.wave, latency)?;
                    if f.a + n < f.b {
                        call(&mut journal, f.wave, latency)?;
                    }
                    let out = Frame::new(Kind::Outcome, f.wave, n, now_us(), 0);
                    conn.write_all(&out.bytes())?;
                }
                // The result, journaled before it is sent.
                db::commit_row(&mut journal, f.wave, -1)?;
                let result = Frame::new(Kind::Result, f.wave, f.a, now_us(), 0);
                conn.write_all(&result.bytes())?;
                // The walk's rows, its calls' records and the result's row.
                commits += f.a + f.b + 1;
            }
            Kind::Checkpoint => {
                // At the agent's cadence, but between waves: outside the timed part.
                if commits >= db::CHECKPOINT_EVERY {
                    db::checkpoint(&journal)?;
                    commits = 0;
                }
                conn.write_all(&Frame::new(Kind::Checkpointed, f.wave, 0, 0, 0).bytes())?;
            }
            other => anyhow::bail!("an agent does not take {other:?}"),
        }
    }
    Ok(())
}

/// One paper exchange call as `agent/src/exchange/paper.rs` makes it: the call's record
/// committed while its latency passes, so a call that returned is on disk; the latency ends
/// at its deadline from the call's start (a sleep to 150 µs before it, the rest spun). At
/// 0 ms the commit alone. One thread does both here: the commit, then what is left of the
/// latency.
fn call(journal: &mut rusqlite::Connection, wave: u32, latency: Duration) -> anyhow::Result<()> {
    const SPIN: Duration = Duration::from_micros(150);
    let deadline = Instant::now() + latency;
    db::commit_row(journal, wave, -2)?;
    std::thread::sleep(deadline.saturating_duration_since(Instant::now() + SPIN));
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
    Ok(())
}
