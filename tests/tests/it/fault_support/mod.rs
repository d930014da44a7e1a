//! What the fault tests read besides the gRPC answers: a paper agent's exchange book and
//! journal (the SQLite file it keeps both in, read-only while it runs), and the moment an
//! exchange's first execution outcome arrives.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::wave_event::Event;
use wavegate_tests::Proc;

use crate::coordinator_support::{GUARD, publish_worked_example_watched};

/// A paper agent's book: its exchange's orders and positions, and its journal.
pub struct Book {
    path: PathBuf,
}

impl Book {
    /// The book of the agent that `coordinator_support::start_agent` started for `exchange_id`.
    pub fn of_agent(dir: &Path, exchange_id: u32) -> Self {
        Self {
            path: dir.join(format!("agent-{exchange_id}.db")),
        }
    }

    async fn pool(&self) -> SqlitePool {
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(&self.path)
            .read_only(true);
        SqlitePool::connect_with(opts).await.unwrap()
    }

    async fn count(&self, sql: &'static str) -> u32 {
        let pool = self.pool().await;
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        u32::try_from(n).unwrap()
    }

    /// Entries the exchange filled (positions wavegate opened).
    pub async fn entries_filled(&self) -> u32 {
        self.count("SELECT COUNT(*) FROM paper_orders WHERE kind = 'entry' AND status = 'filled'")
            .await
    }

    /// Symbols with a position wavegate opened and no resting stop on the exchange.
    pub async fn unprotected(&self) -> Vec<String> {
        let pool = self.pool().await;
        let v = sqlx::query_scalar(
            "SELECT p.symbol FROM paper_positions p
             WHERE EXISTS (SELECT 1 FROM paper_orders e WHERE e.symbol = p.symbol
                           AND e.kind = 'entry' AND e.status = 'filled')
               AND NOT EXISTS (SELECT 1 FROM paper_orders s WHERE s.symbol = p.symbol
                               AND s.kind = 'stop' AND s.status = 'open')
             ORDER BY p.symbol",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        v
    }

    /// Journal rows that count as executed but whose stop step is not finished.
    pub async fn journal_unprotected(&self) -> u32 {
        self.count(
            "SELECT COUNT(*) FROM orders WHERE executed = 1
             AND stop_state NOT IN ('placed', 'closed', 'gone')",
        )
        .await
    }

    /// Waits until the exchange holds a filled entry without its stop (the agent is between
    /// the two calls).
    pub async fn wait_for_unprotected_fill(&self) {
        tokio::time::timeout(GUARD, async {
            while self.unprotected().await.is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("no filled entry without its stop");
    }
}

/// Publishes the worked example for `ts` (watched) and returns once exchange `exchange_id`
/// reported its first execution outcome.
pub async fn publish_and_wait_for_execution(
    coord: &Proc,
    ts: DateTime<Utc>,
    exchange_id: u32,
) -> tonic::Streaming<pb::WaveEvent> {
    let mut watch = publish_worked_example_watched(coord, ts).await;
    tokio::time::timeout(GUARD, async {
        while let Some(ev) = watch.message().await.unwrap() {
            if let Some(Event::Outcome(o)) = ev.event
                && o.exchange_id == exchange_id
                && o.outcome.unwrap().stage == pb::Stage::Execution as i32
            {
                return;
            }
        }
    })
    .await
    .expect("no execution outcome");
    watch
}
