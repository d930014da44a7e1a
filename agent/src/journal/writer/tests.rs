//! The writer's unit tests on a temp SQLite file.

use super::*;
use rusqlite::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::str::FromStr;

/// A fresh database file, its writer, and table `t` created by `create`.
async fn setup(create: &'static str) -> (tempfile::TempDir, SqlitePool, Writer) {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(dir.path().join("w.db"))
        .create_if_missing(true);
    let p = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
    let w = Writer::spawn(p.clone());
    w.write(vec![Stmt::new(create, vec![])]).await.unwrap();
    (dir, p, w)
}

fn insert(k: i64, v: &str) -> Stmt {
    Stmt::new(
        "INSERT INTO t (k, v) VALUES (?, ?)",
        vec![k.into(), v.into()],
    )
}

#[tokio::test]
async fn queued_writes_commit_in_order_and_one_failure_spares_the_batch() {
    let (_dir, p, w) = setup("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)").await;
    for k in 0..100_i64 {
        w.queue(format!("row {k}"), vec![insert(k, "a")]);
    }
    let dup = w.write(vec![insert(5, "dup")]);
    let stale = w.write(vec![
        Stmt::new("UPDATE t SET v = 'b' WHERE k = ?", vec![1000_i64.into()]).expecting_a_row(),
    ]);
    let (dup, stale) = tokio::join!(dup, stale);
    assert!(matches!(dup, Err(WriteError::Statement(_))), "{dup:?}");
    assert!(matches!(stale, Err(WriteError::NoRow)), "{stale:?}");
    w.queue(
        "update".into(),
        vec![Stmt::new("UPDATE t SET v = 'z' WHERE k = 99", vec![])],
    );
    w.flush().await.unwrap();
    let (n, last): (i64, String) = sqlx::query_as("SELECT COUNT(*), MAX(v) FROM t")
        .fetch_one(&p)
        .await
        .unwrap();
    assert_eq!(
        (n, last.as_str()),
        (100, "z"),
        "all queued writes, in order"
    );
}

#[tokio::test]
async fn a_batch_reports_each_write_and_a_failed_statement_spares_the_others() {
    let (_dir, p, w) = setup("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)").await;
    let set = |k: i64, v: &str| {
        Stmt::new("UPDATE t SET v = ? WHERE k = ?", vec![v.into(), k.into()]).expecting_a_row()
    };
    // Queued before the writer runs: one batch of five statements, one transaction.
    w.queue("one".into(), vec![insert(1, "a")]);
    w.queue("two".into(), vec![insert(2, "a"), set(2, "b")]);
    let (lost, won) = tokio::join!(w.write(vec![set(99, "x")]), w.write(vec![set(1, "c")]));
    assert!(matches!(lost, Err(WriteError::NoRow)), "{lost:?}");
    assert!(won.is_ok(), "{won:?}");
    // A failing statement is undone alone; the rest of its batch commits.
    w.queue("three".into(), vec![insert(3, "a")]);
    let (dup, four) = tokio::join!(
        w.write(vec![insert(1, "dup")]),
        w.write(vec![insert(4, "a")])
    );
    assert!(matches!(dup, Err(WriteError::Statement(_))), "{dup:?}");
    assert!(four.is_ok(), "{four:?}");
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT k, v FROM t ORDER BY k")
        .fetch_all(&p)
        .await
        .unwrap();
    let want = [(1, "c"), (2, "b"), (3, "a"), (4, "a")].map(|(k, v)| (k, v.to_owned()));
    assert_eq!(rows, want.to_vec());
}

// One runtime thread: a write waiting for the lock on it would stop every other task.
#[tokio::test(flavor = "current_thread")]
async fn a_write_waits_on_the_blocking_pool_while_another_connection_holds_the_lock() {
    let (_dir, p, w) = setup("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)").await;
    w.write(vec![insert(1, "a")]).await.unwrap();
    // Another connection takes the file's write lock and keeps it for a while.
    let mut other = p.acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *other)
        .await
        .unwrap();
    let waiting = tokio::spawn({
        let w = w.clone();
        async move { w.write(vec![insert(2, "b")]).await }
    });
    // Ten short sleeps of this task go by while the write waits. Were the runtime's only
    // thread blocked (the lock's 10 s wait), the deadline would pass before they did.
    let ticks = async {
        for _ in 0..10 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), ticks)
        .await
        .expect("the runtime keeps running while the write waits for the lock");
    assert!(!waiting.is_finished(), "the write waits for the lock");
    sqlx::query("COMMIT").execute(&mut *other).await.unwrap();
    drop(other);
    let written = waiting.await.unwrap();
    assert!(written.is_ok(), "{written:?}");
    // The connection runs inline again afterwards.
    w.write(vec![insert(3, "c")]).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(&p)
        .await
        .unwrap();
    assert_eq!(n, 3);
}

/// Sets the file's journal to WAL, as the journal's pool opens it: SQLite deletes the `-wal`
/// file when the file's last connection closes, which tells that the writer's is closed.
async fn wal(p: &SqlitePool) {
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(p)
        .await
        .unwrap();
}

/// True while some connection (the pool's closed, so the writer's) has the file open.
fn wal_exists(dir: &tempfile::TempDir) -> bool {
    dir.path().join("w.db-wal").exists()
}

#[tokio::test]
async fn close_commits_what_was_queued_and_closes_the_connection() {
    let (dir, p, w) = setup("CREATE TABLE t (k INTEGER PRIMARY KEY)").await;
    wal(&p).await;
    for k in 0..10_i64 {
        w.queue(
            format!("row {k}"),
            vec![Stmt::new("INSERT INTO t (k) VALUES (?)", vec![k.into()])],
        );
    }
    let other = w.clone();
    w.close().await;
    let late = other
        .write(vec![Stmt::new("INSERT INTO t (k) VALUES (99)", vec![])])
        .await;
    assert!(matches!(late, Err(WriteError::Stopped)), "{late:?}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(&p)
        .await
        .unwrap();
    assert_eq!(n, 10, "writes queued before the close are committed");
    // A handle still alive (as the paper exchange's) does not keep the file open.
    p.close().await;
    assert!(!wal_exists(&dir), "the writer's connection is closed");
    other.close().await;
}

#[tokio::test]
async fn closing_the_pool_closes_the_writers_connection_and_refuses_later_writes() {
    let (dir, p, w) = setup("CREATE TABLE t (k INTEGER)").await;
    wal(&p).await;
    w.write(vec![Stmt::new("INSERT INTO t (k) VALUES (0)", vec![])])
        .await
        .unwrap();
    p.close().await;
    let late = w
        .write(vec![Stmt::new("INSERT INTO t (k) VALUES (1)", vec![])])
        .await;
    assert!(matches!(late, Err(WriteError::Batch(_))), "{late:?}");
    // The writer heard of the close before that write (it refused it).
    assert!(!wal_exists(&dir), "the writer's connection is closed");
}

/// The WAL file's length.
fn wal_len(dir: &tempfile::TempDir) -> u64 {
    std::fs::metadata(dir.path().join("w.db-wal"))
        .unwrap()
        .len()
}

/// A writer's store of the file in `dir`, used directly (no task), with `journal_sync` normal.
fn store_of(dir: &tempfile::TempDir) -> Store {
    Store {
        path: dir.path().join("w.db"),
        full: false,
        conn: None,
        pool_open: true,
        since_checkpoint: 0,
    }
}

/// Commits one batch inserting row `k` (a page's worth) through `store`.
async fn commit_row(store: &mut Store, k: i64) {
    let row = Stmt::new(
        "INSERT INTO t (k, v) VALUES (?, ?)",
        vec![k.into(), Value::Blob(vec![7; 3000])],
    );
    let mut batch = vec![Write {
        stmts: vec![row],
        what: String::new(),
        ack: None,
    }];
    match store.commit(&mut batch).await {
        Ok(o) => assert!(matches!(o.as_slice(), [Ok(())]), "{o:?}"),
        Err(e) => panic!("batch {k} failed: {}", e.reason),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_wal_is_checkpointed_off_the_worker_every_so_many_batches() {
    let (dir, p, w) = setup("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)").await;
    w.close().await;
    wal(&p).await;
    let mut store = store_of(&dir);
    let every = i64::from(CHECKPOINT_EVERY);
    for k in 1..every {
        commit_row(&mut store, k).await;
    }
    // SQLite's own checkpoint would run inside an inline `COMMIT`.
    let auto: i64 = store
        .conn
        .as_ref()
        .unwrap()
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        auto, 0,
        "the writer's connection never checkpoints in a COMMIT"
    );
    let before = wal_len(&dir);
    for k in every..4 * every {
        commit_row(&mut store, k).await;
    }
    // Without a checkpoint the WAL would hold ~4× the frames it held before the first one;
    // after each, the next commit writes it from its start again.
    let after = wal_len(&dir);
    assert!(
        after < before * 3 / 2,
        "WAL {before} bytes after {} batches, {after} after {}",
        every - 1,
        4 * every - 1
    );
}

/// Lets the file grow by two pages at most on `conn`: a large row then fails with SQLITE_FULL,
/// as on a full disk.
fn cap_growth(conn: &Connection) {
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    conn.pragma_update(None, "max_page_count", pages + 2)
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_storage_fault_mid_batch_fails_the_whole_batch() {
    let (dir, p, w) = setup("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)").await;
    w.close().await;
    let mut store = store_of(&dir);
    commit_row(&mut store, 1).await;
    cap_growth(store.conn.as_ref().unwrap());
    let row = |k: i64, len: usize| Write {
        stmts: vec![Stmt::new(
            "INSERT INTO t (k, v) VALUES (?, ?)",
            vec![k.into(), Value::Blob(vec![7; len])],
        )],
        what: String::new(),
        ack: None,
    };
    let mut batch = vec![row(2, 10), row(3, 1_000_000), row(4, 10)];
    let failed = store.commit(&mut batch).await.expect_err("the batch fails");
    assert!(failed.fault, "a storage fault: {}", failed.reason);
    assert!(store.conn.is_none(), "the connection is let go");
    // Nothing of the batch is stored: the file holds a prefix of the queue.
    let ks: Vec<i64> = sqlx::query_scalar("SELECT k FROM t ORDER BY k")
        .fetch_all(&p)
        .await
        .unwrap();
    assert_eq!(ks, vec![1]);
}

// One runtime thread: the writer's task runs only when this test's task waits.
#[tokio::test(flavor = "current_thread")]
async fn a_write_with_nothing_queued_commits_on_the_callers_task_and_never_overtakes_the_queue() {
    use futures::FutureExt as _;
    let (_dir, p, w) = setup("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)").await;
    // Done in its first poll: committed without the writer's task running.
    let first = w.write(vec![insert(1, "a")]).now_or_never();
    assert!(matches!(first, Some(Ok(()))), "{first:?}");
    let flushed = w.flush().now_or_never();
    assert!(
        matches!(flushed, Some(Ok(()))),
        "nothing queued: {flushed:?}"
    );

    // A queued write ahead: this one waits for the task, and finds the row it queued.
    w.queue("row 2".into(), vec![insert(2, "a")]);
    let mut behind = Box::pin(w.write(vec![
        Stmt::new("UPDATE t SET v = 'after' WHERE k = 2", vec![]).expecting_a_row(),
    ]));
    assert!(
        (&mut behind).now_or_never().is_none(),
        "queued behind row 2"
    );
    behind.await.unwrap();
    // The queue is empty again: back on the caller's task.
    let again = w.write(vec![insert(3, "a")]).now_or_never();
    assert!(matches!(again, Some(Ok(()))), "{again:?}");
    // A failed statement is reported from the caller's task as from the writer's.
    let dup = w.write(vec![insert(3, "dup")]).now_or_never();
    assert!(
        matches!(dup, Some(Err(WriteError::Statement(_)))),
        "{dup:?}"
    );
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT k, v FROM t ORDER BY k")
        .fetch_all(&p)
        .await
        .unwrap();
    let want = [(1, "a"), (2, "after"), (3, "a")].map(|(k, v)| (k, v.to_owned()));
    assert_eq!(rows, want.to_vec());
}

#[tokio::test(flavor = "current_thread")]
async fn with_journal_sync_full_every_write_commits_off_the_runtime() {
    use futures::FutureExt as _;
    let (dir, p, w) = setup("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)").await;
    w.close().await;
    let full = Writer::spawn_with(p.clone(), Arc::default(), JournalSync::Full);
    full.write(vec![insert(1, "a")]).await.unwrap();
    // An fsync is never waited for on a runtime thread: the write goes to the task.
    let mut next = Box::pin(full.write(vec![insert(2, "a")]));
    assert!((&mut next).now_or_never().is_none());
    next.await.unwrap();
    full.close().await;
    drop(dir);
}

// Two runtime threads: callers commit on their own tasks while the writer's task commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_contention_no_write_overtakes_one_that_happened_before_it() {
    let (_dir, p, w) = setup("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)").await;
    let tasks: Vec<_> = (0..4_i64)
        .map(|t| {
            let w = w.clone();
            tokio::spawn(async move {
                for i in 0..150_i64 {
                    let k = t * 1000 + i;
                    // Queued, then a write that needs it: it must not commit first.
                    w.queue(format!("row {k}"), vec![insert(k, "a")]);
                    let set = Stmt::new("UPDATE t SET v = 'b' WHERE k = ?", vec![k.into()]);
                    w.write(vec![set.expecting_a_row()]).await?;
                    // And one with nothing of this task's ahead of it.
                    w.write(vec![insert(k + 500, "c")]).await?;
                }
                Ok::<_, WriteError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let (n, b): (i64, i64) = sqlx::query_as("SELECT COUNT(*), SUM(v = 'b') FROM t")
        .fetch_one(&p)
        .await
        .unwrap();
    assert_eq!((n, b), (4 * 300, 4 * 150));
}

#[tokio::test(flavor = "current_thread")]
async fn a_storage_fault_on_the_callers_task_stops_trading_until_a_write_commits_again() {
    use futures::FutureExt as _;
    let (_dir, p, w) = setup("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)").await;
    assert!(matches!(
        w.write(vec![insert(1, "a")]).now_or_never(),
        Some(Ok(()))
    ));
    cap_growth(w.shared.store.try_lock().unwrap().conn.as_ref().unwrap());
    let big = Stmt::new(
        "INSERT INTO t (k, v) VALUES (?, ?)",
        vec![2_i64.into(), Value::Blob(vec![7; 1_000_000])],
    );
    let failed = w.write(vec![big]).now_or_never();
    assert!(
        matches!(failed, Some(Err(WriteError::Batch(_)))),
        "failed on this task: {failed:?}"
    );
    assert!(w.faulted(), "no new order while the storage fails");
    assert!(
        w.shared.store.try_lock().unwrap().conn.is_none(),
        "the connection is let go"
    );
    // The next write goes to the task, which opens a fresh connection; trading resumes.
    w.write(vec![insert(3, "a")]).await.unwrap();
    assert!(!w.faulted());
    let ks: Vec<i64> = sqlx::query_scalar("SELECT k FROM t ORDER BY k")
        .fetch_all(&p)
        .await
        .unwrap();
    assert_eq!(ks, vec![1, 3]);
}
