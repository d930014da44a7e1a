//! Persistence with sqlx: SQLite (default) or PostgreSQL through the `Any` driver, one set of
//! queries (`$N` placeholders, instants as epoch ms, flags as integers). Tables: design.md §4.

mod cancels;
pub(crate) mod checkpoint;
pub(crate) mod fault;
mod params;
mod results;
mod row;
mod signals;
mod sqlite_claim;
mod wave_params;
mod waves;

pub use cancels::CancelRecord;
pub use params::StoredParams;
pub(crate) use params::merge_wave_params;
pub use results::{Completion, StoredOutcome};
pub(crate) use results::{OutcomeKey, outcome_key};
pub use signals::InsertOutcome;
pub use wave_params::{ByExchange, ClaimedWave, ParamsUpdate, WaveParams};
pub use waves::{Claim, WaveRow, WaveStatus};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;

use crate::error::CoordinatorError;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Durability of a SQLite commit (`sqlite_sync`); PostgreSQL has `synchronous_commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// `synchronous = FULL`: every commit on disk before its ack (survives power loss).
    #[default]
    Full,
    /// `synchronous = NORMAL` (WAL): survives a process crash, not a host's; no fsync per commit.
    Normal,
}

impl SqliteSync {
    /// The `PRAGMA synchronous` statement of this setting.
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            SqliteSync::Full => "PRAGMA synchronous = FULL",
            SqliteSync::Normal => "PRAGMA synchronous = NORMAL",
        }
    }

    /// The setting's name, as `sqlite_sync` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SqliteSync::Full => "full",
            SqliteSync::Normal => "normal",
        }
    }
}

/// The coordinator's database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    faults: std::sync::Arc<wavegate_common::fault_clock::FaultClock>,
    /// SQLite: the WAL's checkpoints, off the commits' path ([`checkpoint`]).
    _checkpoints: Option<std::sync::Arc<checkpoint::Checkpoints>>,
    /// A SQLite file: the claim's own connection ([`sqlite_claim`]).
    claims: Option<std::sync::Arc<sqlite_claim::ClaimConn>>,
}

impl std::fmt::Debug for Store {
    // The URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

/// Appends `$from,$from+1,…` for `n` parameters to `sql` (PostgreSQL's numbered
/// placeholders; SQLite reads them too).
fn push_numbered(sql: &mut String, from: usize, n: usize) {
    use std::fmt::Write as _;
    for i in from..from + n {
        if i > from {
            sql.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(sql, "${i}");
    }
}

/// Epoch milliseconds of an instant.
pub fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The `VALUES` list of a statement writing `rows` rows of `columns` values each, bound in
/// order: anonymous `?` on SQLite (it looks named parameters up linearly, so binding a few
/// thousand `$N` is quadratic: milliseconds per statement), `$1, $2, …` on PostgreSQL.
fn values_rows(backend: Backend, rows: usize, columns: usize) -> String {
    // One buffer, no text per row or value: ingest builds a 1 500-value list per statement.
    let mut sql = String::with_capacity(rows * (columns * 6 + 4));
    for i in 0..rows {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        match backend {
            Backend::Sqlite => {
                for c in 0..columns {
                    sql.push_str(if c == 0 { "?" } else { ",?" });
                }
            }
            Backend::Postgres => push_numbered(&mut sql, i * columns + 1, columns),
        }
        sql.push(')');
    }
    sql
}

/// `items` cut for multi-row statements: as many of `max` rows as fit, then the rest by
/// falling powers of two (at most `log2(max) + 1` more statements). The statements' texts come
/// from a few sizes only, so each is parsed once per connection and then taken from its
/// statement cache, where a text per remainder size would be parsed again and again (on
/// PostgreSQL a round trip of its own).
fn statement_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    // A zero would cut empty chunks without end; callers pass constants.
    assert!(max > 0, "statement_chunks: max must be positive");
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if rest.len() >= max {
            max
        } else {
            // The largest power of two that fits.
            1 << rest.len().ilog2()
        };
        let (chunk, after) = rest.split_at(n);
        rest = after;
        Some(chunk)
    })
}

/// The instant of epoch milliseconds (the epoch itself when out of range).
pub fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Now, at the stored (millisecond) precision, so a row built in memory equals the one read.
pub(crate) fn now_ms() -> DateTime<Utc> {
    from_ms(ms(Utc::now()))
}

/// Runs a conditional write: true when it changed exactly one row.
async fn one_row<'c>(
    q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    conn: impl Executor<'c, Database = sqlx::Any>,
) -> Result<bool, sqlx::Error> {
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// How long a SQLite write waits for another's lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The file a `sqlite:` URL names, as sqlx opens it (percent-decoded), when the claim may
/// open it on a connection of its own: `None` for a database in memory (private to the pool)
/// and one opened read-only, immutable or through another VFS (whose locking may differ).
fn claim_file(url: &str) -> Option<std::path::PathBuf> {
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let plain = query.split('&').filter(|kv| !kv.is_empty()).all(|kv| {
        match kv.split_once('=').unwrap_or((kv, "")) {
            ("mode", mode) => mode == "rw" || mode == "rwc",
            ("immutable" | "vfs", _) => false,
            _ => true,
        }
    });
    let file = opts.get_filename();
    // sqlx names a `:memory:` database `file:sqlx-in-memory-N`.
    let named =
        !file.as_os_str().is_empty() && !file.to_string_lossy().starts_with("file:sqlx-in-memory");
    (plain && named).then(|| file.to_owned())
}

/// The file a `sqlite:` URL names (without the scheme and the query), for error messages.
pub fn sqlite_path(url: &str) -> String {
    let path = url.trim_start_matches("sqlite:");
    let path = path.strip_prefix("//").unwrap_or(path);
    path.split('?').next().unwrap_or(path).to_owned()
}

impl Store {
    /// Connects (creating a SQLite file) and migrates, with [`SqliteSync::Full`].
    pub async fn connect(url: &str) -> Result<Self, CoordinatorError> {
        Self::connect_with(url, SqliteSync::Full).await
    }

    /// [`Store::connect`] with the given SQLite commit durability.
    pub async fn connect_with(url: &str, sync: SqliteSync) -> Result<Self, CoordinatorError> {
        Self::connect_checkpointing(url, sync, checkpoint::EVERY).await
    }

    /// [`Store::connect_with`], a SQLite file's WAL checkpointed every `every` (at least 1 ms)
    /// by a task of the store instead of inside a commit (`store/checkpoint.rs`).
    pub async fn connect_checkpointing(
        url: &str,
        sync: SqliteSync,
        every: std::time::Duration,
    ) -> Result<Self, CoordinatorError> {
        let synchronous = sync.pragma();
        let busy_timeout = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
        sqlx::any::install_default_drivers();
        let sep = if url.contains('?') { '&' } else { '?' };
        let (backend, url) = match url.starts_with("sqlite:") {
            true if !url.contains("mode=") => (Backend::Sqlite, format!("{url}{sep}mode=rwc")),
            true => (Backend::Sqlite, url.to_owned()),
            false => (Backend::Postgres, url.to_owned()),
        };
        let opts = AnyConnectOptions::from_str(&url)?;
        let faults = std::sync::Arc::new(wavegate_common::fault_clock::FaultClock::default());
        // Connections opened before the latest storage fault are closed, not reused (`fault`).
        let (f1, f2) = (faults.clone(), faults.clone());
        let pool_options = AnyPoolOptions::new()
            .before_acquire(move |_, meta| Box::pin(std::future::ready(Ok(!f1.stale(meta.age)))))
            .after_release(move |_, meta| Box::pin(std::future::ready(Ok(!f2.stale(meta.age)))));
        let pool = match backend {
            Backend::Sqlite => {
                pool_options
                    .max_connections(4)
                    // No ping per acquire (a round trip to SQLite's worker thread): a local
                    // file's connection does not go away, and a failing one errors on use.
                    .test_before_acquire(false)
                    .after_connect(move |conn, _| {
                        let busy_timeout = busy_timeout.clone();
                        Box::pin(async move {
                            // WAL: readers beside the writer; busy timeout: writers wait.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute(synchronous).await?;
                            // Built from a constant number.
                            sqlx::query(sqlx::AssertSqlSafe(busy_timeout))
                                .execute(&mut *conn)
                                .await?;
                            for pragma in checkpoint::PRAGMAS {
                                conn.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await
                    .map_err(|e| CoordinatorError::OpenDatabase {
                        path: sqlite_path(&url),
                        reason: e.to_string(),
                    })?
            }
            Backend::Postgres => pool_options.max_connections(10).connect_with(opts).await?,
        };
        let checkpoints = (backend == Backend::Sqlite)
            .then(|| std::sync::Arc::new(checkpoint::spawn(pool.clone(), every)));
        let claims = (backend == Backend::Sqlite)
            .then(|| claim_file(&url))
            .flatten()
            .map(|file| {
                std::sync::Arc::new(sqlite_claim::ClaimConn::new(file, sync, faults.clone()))
            });
        let store = Self {
            pool,
            backend,
            faults,
            _checkpoints: checkpoints,
            claims,
        };
        store.migrate().await?;
        if let Some(c) = store.claims.clone() {
            let path = sqlite_path(&url);
            tokio::task::spawn_blocking(move || c.warm())
                .await
                .map_err(|e| CoordinatorError::OpenDatabase {
                    path: path.clone(),
                    reason: e.to_string(),
                })?
                .map_err(|e| CoordinatorError::OpenDatabase {
                    path,
                    reason: e.to_string(),
                })?;
        }
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), CoordinatorError> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        Ok(migrator.run(&self.pool).await?)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for tests and maintenance.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A storage fault was seen: the connections open now are not used again.
    pub(crate) fn note_fault(&self) {
        self.faults.note();
    }

    /// A write that succeeds once writes do again; records `STORAGE_RECOVERED` once.
    pub(crate) async fn probe(&self, outage: &str, reason: &str) -> Result<(), CoordinatorError> {
        if self.backend == Backend::Postgres {
            self.probe_new_page().await?;
        }
        self.event(&NewEvent {
            event_type: "STORAGE_RECOVERED",
            event_data: serde_json::json!({ "outage": outage, "fault": reason }).to_string(),
            correlation_id: outage,
            severity: "warning",
            dedup_key: Some(format!("storage-recovered-{outage}")),
            ..NewEvent::default()
        })
        .await?;
        Ok(())
    }

    /// PostgreSQL: a row in a new temporary table, whose first page must be allocated at once
    /// (an existing table's page may still have room on a full disk).
    async fn probe_new_page(&self) -> Result<(), CoordinatorError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("CREATE TEMPORARY TABLE wavegate_space_probe (pad TEXT) ON COMMIT DROP")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO wavegate_space_probe (pad) VALUES (repeat('x', 64))")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims committed on a SQLite file's own claim connection (`store/sqlite_claim.rs`);
    /// 0 on PostgreSQL. For tests and diagnostics.
    #[doc(hidden)]
    pub fn claims_on_own_connection(&self) -> u64 {
        self.claims.as_ref().map_or(0, |c| c.committed())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        if let Some(c) = &self.claims {
            c.close();
        }
        self.pool.close().await;
    }

    /// Stores an event unless its `dedup_key` is stored; returns whether it was stored.
    pub(crate) async fn event(&self, ev: &NewEvent<'_>) -> Result<bool, CoordinatorError> {
        let mut conn = self.pool.acquire().await?;
        Ok(insert_event(&mut conn, ev).await?)
    }

    /// Events of a correlation id (a wave id), oldest first: `(event_type, event_data)`.
    pub async fn events_of(
        &self,
        correlation_id: &str,
    ) -> Result<Vec<(String, String)>, CoordinatorError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT event_type, event_data FROM events WHERE correlation_id = $1 ORDER BY id",
        )
        .bind(correlation_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}

/// One row of `events`.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewEvent<'a> {
    /// `WAVE_DETECTED`, `WAVE_COMPLETED`, `WAVE_CANCELLED`, `SIGNAL_EXECUTED`, ….
    pub event_type: &'a str,
    /// JSON payload.
    pub event_data: String,
    /// The wave id.
    pub correlation_id: &'a str,
    /// Symbol, for signal events.
    pub symbol: Option<&'a str>,
    /// Exchange name, for exchange events.
    pub exchange: Option<&'a str>,
    /// `info`, `warning` or `error`.
    pub severity: &'a str,
    /// Idempotency key.
    pub dedup_key: Option<String>,
}

/// Columns of an `events` row, as [`events_insert`] binds them.
const EVENT_COLUMNS: usize = 8;

/// Events written per statement at most (8 values each; see [`statement_chunks`]).
const EVENTS_PER_STATEMENT: usize = 128;

/// One statement inserting `evs` (a re-sent one, by its `dedup_key`, is skipped).
fn events_insert<'a>(
    backend: Backend,
    evs: &[&'a NewEvent<'a>],
) -> sqlx::query::Query<'a, sqlx::Any, sqlx::any::AnyArguments> {
    let sql = format!(
        "INSERT INTO events (event_type, event_data, correlation_id, symbol, exchange, severity, \
         created_at, dedup_key) VALUES {} ON CONFLICT (dedup_key) DO NOTHING",
        values_rows(backend, evs.len(), EVENT_COLUMNS)
    );
    let now = ms(Utc::now());
    // Built from constants and placeholder numbers only; every value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for ev in evs {
        q = q
            .bind(ev.event_type)
            .bind(ev.event_data.as_str())
            .bind(ev.correlation_id)
            .bind(ev.symbol)
            .bind(ev.exchange)
            .bind(ev.severity)
            .bind(now)
            .bind(ev.dedup_key.as_deref());
    }
    q
}

/// Inserts one event; false when its `dedup_key` was stored already.
pub(crate) async fn insert_event(
    conn: &mut sqlx::AnyConnection,
    ev: &NewEvent<'_>,
) -> Result<bool, sqlx::Error> {
    // One row: `$N` placeholders read the same on both backends.
    one_row(events_insert(Backend::Postgres, &[ev]), conn).await
}

/// Inserts `evs` in order, a few hundred per statement; one whose `dedup_key` was stored
/// already (or comes earlier in `evs`) is skipped.
pub(crate) async fn insert_events(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    evs: &[NewEvent<'_>],
) -> Result<(), sqlx::Error> {
    // The first of a key stands, as one statement per event would have it.
    let mut seen = std::collections::HashSet::new();
    let firsts: Vec<&NewEvent<'_>> = evs
        .iter()
        .filter(|e| e.dedup_key.as_ref().is_none_or(|k| seen.insert(k)))
        .collect();
    for chunk in statement_chunks(&firsts, EVENTS_PER_STATEMENT) {
        events_insert(backend, chunk).execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Backend, claim_file, statement_chunks, values_rows};

    #[test]
    fn the_claim_opens_the_file_sqlx_opens_and_no_other_kind_of_database() {
        let file = |url: &str| claim_file(url).map(|p| p.display().to_string());
        assert_eq!(
            file("sqlite:///tmp/a%20b.db?mode=rwc").as_deref(),
            Some("/tmp/a b.db")
        );
        assert_eq!(file("sqlite:data/w.db").as_deref(), Some("data/w.db"));
        assert_eq!(
            file("sqlite:///tmp/w.db?mode=rw&cache=shared").as_deref(),
            Some("/tmp/w.db")
        );
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:?mode=rwc",
            "sqlite:///tmp/w.db?mode=memory",
            "sqlite:///tmp/w.db?mode=ro",
            "sqlite:///tmp/w.db?immutable=true",
            "sqlite:///tmp/w.db?mode=rwc&vfs=unix-dotfile",
        ] {
            assert_eq!(file(url), None, "{url}");
        }
    }

    #[test]
    fn values_lists_bind_anonymous_on_sqlite_and_numbered_in_order_on_postgres() {
        assert_eq!(values_rows(Backend::Sqlite, 1, 1), "(?)");
        assert_eq!(values_rows(Backend::Sqlite, 2, 3), "(?,?,?), (?,?,?)");
        assert_eq!(values_rows(Backend::Postgres, 1, 2), "($1,$2)");
        assert_eq!(
            values_rows(Backend::Postgres, 3, 2),
            "($1,$2), ($3,$4), ($5,$6)"
        );
    }

    #[test]
    fn a_values_list_of_many_rows_has_one_placeholder_per_value() {
        let sql = values_rows(Backend::Postgres, 200, 15);
        assert!(
            sql.starts_with("($1,$2,") && sql.ends_with(",$3000)"),
            "{sql}"
        );
        assert_eq!(sql.matches('$').count(), 3_000);
        assert_eq!(
            values_rows(Backend::Sqlite, 100, 15).matches('?').count(),
            1_500
        );
    }

    #[test]
    fn rows_are_cut_into_full_statements_then_falling_powers_of_two() {
        let sizes = |n: usize| -> Vec<usize> {
            let items: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&items, 64).collect();
            // Every row once, in order.
            assert_eq!(chunks.concat(), items);
            chunks.iter().map(|c| c.len()).collect()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(7), vec![4, 2, 1]);
        assert_eq!(sizes(128), vec![64, 64]);
        assert_eq!(sizes(184), vec![64, 64, 32, 16, 8]);
    }
}
