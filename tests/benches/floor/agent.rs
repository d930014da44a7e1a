//! An agent process of the floor: asleep in its read until the claiming process writes, then
//! only the journal commits wavegate's agent must make, and the frames back.

use std::path::Path;
use std::time::Duration;

use sqlx::Connection as _;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::frame::{Frame, Kind, now_us};

/// Connects to `addr`, journals into `dir`, answers until the connection closes.
pub async fn run(addr: &str, dir: &Path) -> anyhow::Result<()> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.set_nodelay(true)?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("journal.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await?;
    for pragma in [
        "PRAGMA journal_mode = WAL",
        // The agent's default journal durability (`journal_sync = "normal"`).
        "PRAGMA synchronous = NORMAL",
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, wave INTEGER NOT NULL, \
         n INTEGER NOT NULL, at_us INTEGER NOT NULL)",
    ] {
        sqlx::query(pragma).execute(&mut db).await?;
    }
    while let Some(f) = Frame::read_or_end(&mut conn).await? {
        let read_at = now_us();
        match f.kind {
            Kind::Go => {
                journal(&mut db, f.wave, 0).await?;
                let done = Frame::new(Kind::Committed, f.wave, read_at, now_us());
                conn.write_all(&done.bytes()).await?;
            }
            Kind::Walk => {
                let latency = Duration::from_micros(u64::try_from(f.c).unwrap_or(0));
                for n in 0..f.a {
                    // The entry's row committed before it leaves, then the entry; its stop
                    // (a fresh fill's first stop rides on the entry's row) while calls last.
                    journal(&mut db, f.wave, n).await?;
                    call(&mut db, f.wave, latency).await?;
                    if f.a + n < f.b {
                        call(&mut db, f.wave, latency).await?;
                    }
                    let out = Frame::new(Kind::Outcome, f.wave, n, now_us());
                    conn.write_all(&out.bytes()).await?;
                }
                // The result, journaled before it is sent.
                journal(&mut db, f.wave, -1).await?;
                let result = Frame::new(Kind::Result, f.wave, f.a, now_us());
                conn.write_all(&result.bytes()).await?;
            }
            other => anyhow::bail!("an agent does not take {other:?}"),
        }
    }
    Ok(())
}

/// One paper exchange call, as `agent/src/exchange/paper.rs` makes it: the call's record
/// committed while its latency passes (a thread's sleep to 150 µs before the deadline, the
/// rest spun), so a call that returned is on disk; at 0 ms the commit alone.
async fn call(db: &mut sqlx::SqliteConnection, wave: u32, latency: Duration) -> anyhow::Result<()> {
    const SPIN: Duration = Duration::from_micros(150);
    let deadline = std::time::Instant::now() + latency;
    let slept = async {
        if latency.is_zero() {
            return Ok(());
        }
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            std::thread::sleep(deadline.saturating_duration_since(started + SPIN));
            while std::time::Instant::now() < deadline {
                std::hint::spin_loop();
            }
        })
        .await
    };
    let (stored, slept) = tokio::join!(journal(db, wave, -2), slept);
    stored?;
    slept?;
    Ok(())
}

/// One row, committed on its own (an autocommit `INSERT`: one transaction).
async fn journal(db: &mut sqlx::SqliteConnection, wave: u32, n: i64) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO orders (wave, n, at_us) VALUES (?, ?, ?)")
        .bind(i64::from(wave))
        .bind(n)
        .bind(now_us())
        .execute(db)
        .await?;
    Ok(())
}
