//! Storage faults (disk full, I/O, lost connection). After one the pool closes every older
//! connection: a failed SQLite `COMMIT` may leave its transaction open, holding the lock.

/// SQLite primary codes (low byte) of a failed storage: IOERR, CORRUPT, FULL, CANTOPEN, NOTADB.
const SQLITE_STORAGE: [i64; 5] = [10, 11, 13, 14, 26];

/// True when `e` is a fault of the storage (the request may succeed once it recovers).
pub fn is_storage_fault(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            // SQLSTATE classes 53 (resources), 58 (system), 08 (connection); 5 chars.
            if code.len() == 5 {
                return ["53", "58", "08"]
                    .iter()
                    .any(|class| code.starts_with(class));
            }
            code.parse::<i64>()
                .is_ok_and(|c| SQLITE_STORAGE.contains(&(c & 0xff)))
        }
        _ => false,
    }
}
