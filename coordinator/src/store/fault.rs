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

/// [`is_storage_fault`] for an error of the claim's rusqlite connection.
pub fn is_sqlite_storage_fault(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            SQLITE_STORAGE.contains(&i64::from(f.extended_code & 0xff))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_sqlite_storage_fault;
    use rusqlite::ffi;

    fn failure(extended_code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended_code), None)
    }

    #[test]
    fn the_claims_connection_maps_storage_codes_as_the_pool_does() {
        // SQLITE_FULL, SQLITE_IOERR_WRITE (an extended code), SQLITE_CANTOPEN.
        for code in [ffi::SQLITE_FULL, ffi::SQLITE_IOERR_WRITE, ffi::SQLITE_CANTOPEN] {
            assert!(is_sqlite_storage_fault(&failure(code)), "{code}");
        }
        // A constraint, a busy lock, a missing row: not the storage.
        for code in [ffi::SQLITE_CONSTRAINT_TRIGGER, ffi::SQLITE_BUSY] {
            assert!(!is_sqlite_storage_fault(&failure(code)), "{code}");
        }
        assert!(!is_sqlite_storage_fault(&rusqlite::Error::QueryReturnedNoRows));
    }
}
