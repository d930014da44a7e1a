//! Exact points in time left by the processes themselves: the orders the paper exchange
//! recorded (agent journal, nanosecond `created_at`) and the coordinator's log line for the
//! moment the coordinator began closing a wave (microsecond timestamp).

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use wavegate_cli::bench::timing_lines::strip_ansi;

/// One order as the paper exchange recorded it.
#[derive(Debug, Clone)]
pub struct PaperOrder {
    /// Symbol of the order.
    pub symbol: String,
    /// `entry`, `stop` or `close`.
    pub kind: String,
    /// When the paper exchange recorded the order (after persisting the position of a fill).
    pub created_at: DateTime<Utc>,
}

/// Every order in the paper exchange of an agent's journal (opened read-only; WAL lets the
/// agent keep running).
pub async fn paper_orders(journal: &Path) -> anyhow::Result<Vec<PaperOrder>> {
    let opts =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", journal.display()))?.read_only(true);
    let mut conn = opts.connect().await?;
    let rows = sqlx::query("SELECT symbol, kind, created_at FROM paper_orders")
        .fetch_all(&mut conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let at: String = r.try_get("created_at")?;
        out.push(PaperOrder {
            symbol: r.try_get("symbol")?,
            kind: r.try_get("kind")?,
            created_at: parse_utc(&at).with_context(|| format!("paper created_at {at:?}"))?,
        });
    }
    conn.close().await?;
    Ok(out)
}

fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Wave id → when the coordinator began closing it: its `wave closed and claimed` log line
/// (logged after the claim and params committed, right before dispatch is spawned) minus the
/// line's `close_us`. Empty when the log level hides it.
pub fn closed_and_claimed(log: &str) -> HashMap<String, DateTime<Utc>> {
    let mut out = HashMap::new();
    for line in log
        .lines()
        .filter(|l| l.contains("wave closed and claimed"))
    {
        let line = strip_ansi(line);
        let Some(at) = line.split_whitespace().next().and_then(parse_utc) else {
            continue;
        };
        let Some(rest) = line.split("wave_id=").nth(1) else {
            continue;
        };
        let id: String = rest
            .trim_start_matches('"')
            .chars()
            .take_while(|c| *c != '"' && !c.is_whitespace())
            .collect();
        // The line is written after the claim committed; `close_us` is how long closing took
        // from the decision. A line without it (an older coordinator) is left out, so the
        // bench falls back to `closed_at` and says so, rather than measuring from the commit.
        let Some(close_us) = line
            .split("close_us=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        out.insert(id, at - chrono::Duration::microseconds(close_us));
    }
    out
}
