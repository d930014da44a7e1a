//! Columns added to `orders` after its first release, and the migration that adds them to a
//! journal file created before they existed. Rows from before a column existed read it as its
//! default (stop columns) or NULL (the order's side, wave target, rank index and round), and
//! the code reading them treats NULL as "not known" (see [`JournalOrder`](super::JournalOrder)).

use sqlx::sqlite::SqlitePool;

/// `(column, statement adding it)` of every column added by a later version, in the order
/// they came.
const ADDED: &[(&str, &str)] = &[
    (
        "stop_state",
        "ALTER TABLE orders ADD COLUMN stop_state TEXT NOT NULL DEFAULT 'none'",
    ),
    (
        "stop_attempt",
        "ALTER TABLE orders ADD COLUMN stop_attempt INTEGER NOT NULL DEFAULT 0",
    ),
    // What a re-sent wave needs to settle an order without its signal (the new walk may not
    // reach it) and to keep the first run's target.
    ("side", "ALTER TABLE orders ADD COLUMN side TEXT"),
    (
        "wave_target",
        "ALTER TABLE orders ADD COLUMN wave_target INTEGER",
    ),
    (
        "rank_index",
        "ALTER TABLE orders ADD COLUMN rank_index INTEGER",
    ),
    ("round", "ALTER TABLE orders ADD COLUMN round INTEGER"),
    // The stop ids a run that retries protection of an unprotected (`close_failed`) position
    // looks up first; the close step overwrites `stop_attempt`.
    (
        "stops_sent",
        "ALTER TABLE orders ADD COLUMN stops_sent INTEGER NOT NULL DEFAULT 0",
    ),
    // The trailing stop's step (`journal/trailing.rs`). Rows from before it read `off`: their
    // trailing stop, if any, was placed unjournaled and is not recovered.
    (
        "trailing_state",
        "ALTER TABLE orders ADD COLUMN trailing_state TEXT NOT NULL DEFAULT 'off'",
    ),
    (
        "trailing_attempt",
        "ALTER TABLE orders ADD COLUMN trailing_attempt INTEGER NOT NULL DEFAULT 0",
    ),
    (
        "trailing_activation",
        "ALTER TABLE orders ADD COLUMN trailing_activation REAL",
    ),
    (
        "trailing_distance",
        "ALTER TABLE orders ADD COLUMN trailing_distance REAL",
    ),
    (
        "trailing_error",
        "ALTER TABLE orders ADD COLUMN trailing_error TEXT",
    ),
];

/// Rewrites of rows an earlier version stored differently, each idempotent (run at every open).
const REWRITES: &[&str] = &[
    // An entry refused as a duplicate id was `unknown` with this marker as its error; it is
    // the `exists` state now (the error column is for reasons, not states).
    "UPDATE orders SET state = 'exists', error = NULL
     WHERE state = 'unknown' AND error = 'duplicate_client_order_id'",
];

/// Adds the columns a journal created by an earlier version lacks, and rewrites rows stored
/// in an earlier representation.
pub(super) async fn add_missing_columns(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('orders')")
        .fetch_all(pool)
        .await?;
    for (name, add) in ADDED {
        if !cols.iter().any(|c| c == name) {
            sqlx::query(*add).execute(pool).await?;
        }
    }
    for rewrite in REWRITES {
        sqlx::query(*rewrite).execute(pool).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use std::str::FromStr;

    #[tokio::test]
    async fn a_journal_of_the_first_release_gains_every_column_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let opts = SqliteConnectOptions::from_str("sqlite://")
                .unwrap()
                .filename(&path)
                .create_if_missing(true);
            let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
            sqlx::query(
                "CREATE TABLE orders (client_order_id TEXT PRIMARY KEY, wave_id TEXT NOT NULL,
                 signal_id INTEGER NOT NULL, symbol TEXT NOT NULL, state TEXT NOT NULL,
                 exchange_order_id TEXT, executed INTEGER NOT NULL DEFAULT 0, error TEXT,
                 fill_price REAL NOT NULL DEFAULT 0, quantity REAL NOT NULL DEFAULT 0,
                 updated_at TEXT NOT NULL)",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO orders (client_order_id, wave_id, signal_id, symbol, state,
                 updated_at) VALUES ('wg-old', 'W', 7, 'BTCUSDT', 'sent', 'x')",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO orders (client_order_id, wave_id, signal_id, symbol, state, error,
                 updated_at) VALUES ('wg-dup', 'W', 8, 'ETHUSDT', 'unknown',
                 'duplicate_client_order_id', 'x')",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let j = crate::journal::Journal::open(&path).await.unwrap();
        let rows = j.wave_orders("W").await.unwrap();
        assert_eq!(rows.len(), 2);
        let dup = &rows[1];
        assert_eq!(
            (dup.state, dup.error.as_deref()),
            (crate::journal::OrderState::Exists, None),
            "the duplicate-id marker became a state"
        );
        let r = &rows[0];
        assert_eq!(
            (r.signal_id, r.side, r.target, r.index, r.round),
            (7, None, None, None, 0)
        );
        assert_eq!(r.stop, crate::journal::StopState::None);
        assert_eq!((r.stop_attempt, r.stops_sent), (0, 0));
        assert_eq!(r.trailing, crate::journal::TrailingState::Off);
        assert_eq!(r.trailing_params, None);
        j.close().await.unwrap();
    }
}
