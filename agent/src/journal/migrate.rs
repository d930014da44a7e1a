//! The journal's schema: `agent/migrations`, applied by sqlx at open. A journal created before
//! sqlx managed it has no `_sqlx_migrations` table; its columns say which migrations it holds.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::SqlitePool;

static MIGRATOR: Migrator = sqlx::migrate!();

/// The last column each column-adding migration adds, by version. The hand-written migration
/// added them in this order, so a journal that has one has every column up to it.
const MARKERS: &[(i64, &str)] = &[
    (2, "stop_attempt"),
    (3, "round"),
    (4, "stops_sent"),
    (5, "trailing_error"),
];

/// Brings the journal to the latest schema, first recording as applied the migrations a
/// journal from before sqlx holds (the first one only creates what is missing).
pub(super) async fn run(pool: &SqlitePool) -> Result<(), MigrateError> {
    if let Some(version) = adopted(pool).await? {
        MIGRATOR.run_to(1, pool).await?;
        MIGRATOR.skip(pool, Some(version)).await?;
    }
    MIGRATOR.run(pool).await
}

/// The last migration a journal from before sqlx holds; `None` when there is none to adopt
/// (a new journal, one sqlx manages, or one of the first release).
async fn adopted(pool: &SqlitePool) -> Result<Option<i64>, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name IN ('_sqlx_migrations', 'orders')",
    )
    .fetch_all(pool)
    .await?;
    if tables.iter().any(|t| t == "_sqlx_migrations") || !tables.iter().any(|t| t == "orders") {
        return Ok(None);
    }
    let cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('orders')")
        .fetch_all(pool)
        .await?;
    Ok(MARKERS
        .iter()
        .rev()
        .find(|(_, col)| cols.iter().any(|c| c == col))
        .map(|(version, _)| *version))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::str::FromStr;

    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use super::MIGRATOR;
    use crate::journal::{Journal, OrderState, StopState, TrailingState};

    /// The first release's `orders` columns.
    const FIRST: &str = "client_order_id TEXT PRIMARY KEY, wave_id TEXT NOT NULL,
        signal_id INTEGER NOT NULL, symbol TEXT NOT NULL, state TEXT NOT NULL,
        exchange_order_id TEXT, executed INTEGER NOT NULL DEFAULT 0, error TEXT,
        fill_price REAL NOT NULL DEFAULT 0, quantity REAL NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL";

    /// Writes a journal as the code before sqlx left it, with raw SQL, in a new temp dir.
    async fn old_journal(stmts: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(&path)
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
        for s in stmts {
            let s = sqlx::AssertSqlSafe(s.to_string());
            sqlx::query(s).execute(&pool).await.unwrap();
        }
        pool.close().await;
        (dir, path)
    }

    /// `(version, execution_time)` of every recorded migration: -1 marks one adopted, not run.
    async fn recorded(j: &Journal) -> Vec<(i64, i64)> {
        let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, execution_time, checksum FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(j.pool())
        .await
        .unwrap();
        for (v, _, sum) in &rows {
            let m = MIGRATOR.iter().find(|m| m.version == *v).unwrap();
            assert_eq!(&*m.checksum, sum.as_slice(), "checksum of {v}");
        }
        rows.into_iter().map(|(v, t, _)| (v, t.min(0))).collect()
    }

    /// What [`recorded`] holds after adopting `adopted` and running the rest.
    fn expect(adopted: std::ops::RangeInclusive<i64>) -> Vec<(i64, i64)> {
        let n = i64::try_from(MIGRATOR.iter().count()).unwrap();
        (1..=n)
            .map(|v| (v, if adopted.contains(&v) { -1 } else { 0 }))
            .collect()
    }

    #[tokio::test]
    async fn a_journal_of_the_first_release_gains_every_column_and_keeps_its_rows() {
        let create = format!("CREATE TABLE orders ({FIRST})");
        let (_dir, path) = old_journal(&[
            &create,
            "INSERT INTO orders (client_order_id, wave_id, signal_id, symbol, state,
                 updated_at) VALUES ('wg-old', 'W', 7, 'BTCUSDT', 'sent', 'x')",
            "INSERT INTO orders (client_order_id, wave_id, signal_id, symbol, state, error,
                 updated_at) VALUES ('wg-dup', 'W', 8, 'ETHUSDT', 'unknown',
                 'duplicate_client_order_id', 'x')",
        ])
        .await;
        let j = Journal::open(&path).await.unwrap();
        let rows = j.wave_orders("W").await.unwrap();
        assert_eq!(rows.len(), 2);
        let dup = &rows[1];
        assert_eq!(
            (dup.state, dup.error.as_deref()),
            (OrderState::Exists, None),
            "the duplicate-id marker became a state"
        );
        let r = &rows[0];
        assert_eq!(
            (r.signal_id, r.side, r.target, r.index, r.round),
            (7, None, None, None, 0)
        );
        assert_eq!(r.stop, StopState::None);
        assert_eq!((r.stop_attempt, r.stops_sent), (0, 0));
        assert_eq!(r.trailing, TrailingState::Off);
        assert_eq!(r.trailing_params, None);
        assert_eq!(recorded(&j).await, expect(0..=0), "nothing adopted");
        j.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_journal_of_the_hand_written_migration_is_adopted_and_keeps_its_rows() {
        // As the last code before sqlx created it, with a row of each kind.
        let create = format!(
            "CREATE TABLE orders ({FIRST}, stop_state TEXT NOT NULL DEFAULT 'none',
             stop_attempt INTEGER NOT NULL DEFAULT 0, stops_sent INTEGER NOT NULL DEFAULT 0,
             side TEXT, wave_target INTEGER, rank_index INTEGER, round INTEGER,
             trailing_state TEXT NOT NULL DEFAULT 'off', trailing_attempt INTEGER NOT NULL
             DEFAULT 0, trailing_activation REAL, trailing_distance REAL, trailing_error TEXT)"
        );
        let (_dir, path) = old_journal(&[
            &create,
            "CREATE INDEX orders_by_wave ON orders (wave_id, signal_id)",
            "CREATE TABLE wave_results (wave_id TEXT PRIMARY KEY, result BLOB NOT NULL,
                 completed_at TEXT NOT NULL)",
            "CREATE TABLE journal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE leverage_settings (symbol TEXT PRIMARY KEY, leverage INTEGER
                 NOT NULL, margin_mode TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE TABLE acknowledged_positions (symbol TEXT PRIMARY KEY,
                 acknowledged_at TEXT NOT NULL)",
            "INSERT INTO orders (client_order_id, wave_id, signal_id, symbol, state,
                 executed, fill_price, quantity, updated_at, stop_state, stop_attempt, side,
                 wave_target, rank_index, round, trailing_state, trailing_activation,
                 trailing_distance) VALUES ('wg-a', 'W', 3, 'BTCUSDT', 'filled', 1, 100.5,
                 0.25, 'x', 'placed', 1, 'short', 5, 2, 1, 'placed', 1.5, 0.5)",
            "INSERT INTO wave_results (wave_id, result, completed_at) VALUES ('W', x'', 'x')",
            "INSERT INTO journal_meta (key, value) VALUES ('exchange_id', '1')",
            "INSERT INTO leverage_settings VALUES ('BTCUSDT', 5, 'isolated', 'x')",
            "INSERT INTO acknowledged_positions VALUES ('XRPUSDT', 'x')",
        ])
        .await;
        for _ in 0..2 {
            let j = Journal::open(&path).await.unwrap();
            let rows = j.wave_orders("W").await.unwrap();
            assert_eq!(rows.len(), 1);
            let r = &rows[0];
            assert_eq!(
                (r.state, r.executed, r.stop),
                (OrderState::Filled, true, StopState::Placed)
            );
            assert_eq!((r.target, r.index, r.round), (Some(5), Some(2), 1));
            assert_eq!(r.trailing, TrailingState::Placed);
            assert!(j.load_result("W").await.unwrap().is_some());
            assert_eq!(j.leverage_settings().await.unwrap().len(), 1);
            let mut known = j.known_position_symbols().await.unwrap();
            known.sort();
            assert_eq!(known, ["BTCUSDT", "XRPUSDT"]);
            assert_eq!(recorded(&j).await, expect(2..=5), "the rest run once");
            j.close().await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_journal_between_releases_gets_the_columns_it_lacks() {
        let create = format!(
            "CREATE TABLE orders ({FIRST}, stop_state TEXT NOT NULL DEFAULT 'none',
             stop_attempt INTEGER NOT NULL DEFAULT 0, side TEXT, wave_target INTEGER,
             rank_index INTEGER, round INTEGER)"
        );
        let (_dir, path) = old_journal(&[
            &create,
            "INSERT INTO orders (client_order_id, wave_id, signal_id, symbol, state,
                 updated_at, stop_state, side, round) VALUES ('wg-a', 'W', 3, 'BTCUSDT',
                 'sent', 'x', 'sending', 'long', 2)",
        ])
        .await;
        let j = Journal::open(&path).await.unwrap();
        let rows = j.wave_orders("W").await.unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (r.state, r.stop, r.round),
            (OrderState::Sent, StopState::Sending, 2)
        );
        assert_eq!(
            (r.stops_sent, r.trailing),
            (0, TrailingState::Off),
            "new columns"
        );
        assert_eq!(recorded(&j).await, expect(2..=3));
        j.close().await.unwrap();
    }
}
