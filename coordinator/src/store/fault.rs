//! Storage faults (disk full, I/O errors, a lost database connection): which errors are
//! faults of the storage rather than of the request. After one, the store's pool stops reusing
//! the connections opened before it (`wavegate_common::fault_clock`).
//!
//! Why connections are dropped: when SQLite fails a `COMMIT` with `SQLITE_FULL` or
//! `SQLITE_IOERR`, the transaction may stay open on its connection (SQLite's docs on
//! `SQLITE_FULL`: "the application should … ROLLBACK"). Back in the pool, that connection
//! keeps the write lock — every other writer answers `database is locked` — and its next user
//! reads rows that were never committed, so a write answered "failed" could be acted on and
//! then vanish. So every connection opened before the latest fault is closed (which rolls
//! back whatever it held) instead of being used again.

/// SQLite primary result codes that mean the storage failed (`sqlite3.h`): `SQLITE_IOERR`
/// (10), `SQLITE_CORRUPT` (11), `SQLITE_FULL` (13), `SQLITE_CANTOPEN` (14), `SQLITE_NOTADB`
/// (26). Extended codes carry the primary one in their low byte.
const SQLITE_STORAGE: [i64; 5] = [10, 11, 13, 14, 26];

/// True when `e` is a fault of the storage (the request may succeed once it recovers), not
/// of the request: disk full or I/O errors on either backend, a lost connection.
pub fn is_storage_fault(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            // PostgreSQL's SQLSTATE has five characters (SQLite's codes, extended ones
            // included, have at most four digits). Classes 53 (insufficient resources:
            // disk_full 53100), 58 (system error: io_error 58030), 08 (connection exception).
            if code.len() == 5 {
                return ["53", "58", "08"]
                    .iter()
                    .any(|class| code.starts_with(class));
            }
            // SQLite: the (extended) result code as a number.
            code.parse::<i64>()
                .is_ok_and(|c| SQLITE_STORAGE.contains(&(c & 0xff)))
        }
        _ => false,
    }
}
