//! Fresh databases for tests on both backends: a SQLite file in a temporary directory, or a
//! PostgreSQL database created on `WAVEGATE_PG_URL` and dropped when the value is dropped, also
//! when the test panics (CI still drops any `wg_test_*` left by a killed run).

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// The PostgreSQL server tests use when `WAVEGATE_PG_URL` is not set.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// A fresh, empty database, gone when this is dropped.
pub struct TestDb {
    /// Connection URL for the coordinator's `database_url`.
    pub url: String,
    /// Its backend.
    pub backend: Backend,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A SQLite database in a new temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        Self {
            url: sqlite_url(dir.path()),
            backend: Backend::Sqlite,
            pg: None,
            _dir: Some(dir),
        }
    }

    /// A new database on `WAVEGATE_PG_URL`.
    pub async fn postgres() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let admin = std::env::var("WAVEGATE_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
        let name = format!(
            "wg_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            chrono::Utc::now().timestamp_micros()
        );
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .expect("WAVEGATE_PG_URL ends in /<database>");
        Self {
            url: format!("{base}/{name}"),
            backend: Backend::Postgres,
            pg: Some((admin, name)),
            _dir: None,
        }
    }

    /// One of each backend, SQLite first.
    pub async fn both() -> Vec<TestDb> {
        vec![Self::sqlite().await, Self::postgres().await]
    }

    /// A fresh database of `backend`.
    pub async fn of(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres().await,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            // Blocking on purpose: Drop cannot await, and the database must be gone before the
            // test process exits.
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            // DROP DATABASE waits for a checkpoint, which fails while a disk-full test
            // (`pg_small_disk`) holds its tablespace full on the same server: tried again
            // until that test frees its disk (seconds), then reported as usual.
            let mut r = try_psql(admin, &sql);
            for _ in 0..120 {
                match &r {
                    Err(e) if e.contains("checkpoint request failed") => {
                        std::thread::sleep(std::time::Duration::from_millis(250));
                        r = try_psql(admin, &sql);
                    }
                    _ => break,
                }
            }
            check(&sql, r);
        }
    }
}

/// The SQLite URL of `wavegate.db` in `dir`, created on first use.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}/wavegate.db?mode=rwc", dir.display())
}

fn psql(url: &str, sql: &str) {
    check(sql, try_psql(url, sql));
}

/// Fails the test with psql's error (unless it is failing already).
fn check(sql: &str, r: Result<(), String>) {
    if let Err(e) = r {
        assert!(std::thread::panicking(), "{sql}: {e}");
    }
}

/// Runs `sql` on `url`; psql's error output when it fails.
fn try_psql(url: &str, sql: &str) -> Result<(), String> {
    let out = std::process::Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("psql is needed for the PostgreSQL tests");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
