//! Storage faults (disk full, I/O, lost connection). After one the pool closes every older
//! connection: a failed SQLite `COMMIT` may leave its transaction open, holding the lock.

use wavegate_common::fault_clock::is_sqlite_storage_code;

use crate::error::CoordinatorError;

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
            code.parse::<i64>().is_ok_and(is_sqlite_storage_code)
        }
        _ => false,
    }
}

/// SQLite's primary result code of a constraint violation (a trigger's `RAISE(ABORT)` too).
const SQLITE_CONSTRAINT: i64 = 19;

/// True when SQLite refused a statement for a constraint, on the pool or the claim's own
/// connection: with the default `ABORT` conflict resolution only that statement is backed out
/// and the transaction stays active (sqlite.org/lang_conflict.html).
pub(super) fn is_sqlite_constraint(e: &CoordinatorError) -> bool {
    match e {
        CoordinatorError::Database(sqlx::Error::Database(db)) => (db.code()).is_some_and(|c| {
            c.parse::<i64>()
                .is_ok_and(|c| c & 0xff == SQLITE_CONSTRAINT)
        }),
        CoordinatorError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            i64::from(f.extended_code & 0xff) == SQLITE_CONSTRAINT
        }
        _ => false,
    }
}

/// [`is_storage_fault`] for an error of the claim's rusqlite connection.
pub fn is_sqlite_storage_fault(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => is_sqlite_storage_code(i64::from(f.extended_code)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{is_sqlite_constraint, is_sqlite_storage_fault};
    use rusqlite::ffi;

    fn failure(extended_code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended_code), None)
    }

    #[test]
    fn the_claims_connection_maps_storage_codes_as_the_pool_does() {
        // SQLITE_FULL, SQLITE_IOERR_WRITE (an extended code), SQLITE_CANTOPEN.
        for code in [
            ffi::SQLITE_FULL,
            ffi::SQLITE_IOERR_WRITE,
            ffi::SQLITE_CANTOPEN,
        ] {
            assert!(is_sqlite_storage_fault(&failure(code)), "{code}");
        }
        // A constraint, a busy lock, a missing row: not the storage.
        for code in [ffi::SQLITE_CONSTRAINT_TRIGGER, ffi::SQLITE_BUSY] {
            assert!(!is_sqlite_storage_fault(&failure(code)), "{code}");
        }
        assert!(!is_sqlite_storage_fault(
            &rusqlite::Error::QueryReturnedNoRows
        ));
    }

    #[test]
    fn a_trigger_or_check_refusal_is_a_constraint_and_nothing_else_is() {
        let on_claim = |code| is_sqlite_constraint(&failure(code).into());
        assert!(on_claim(ffi::SQLITE_CONSTRAINT_TRIGGER));
        assert!(on_claim(ffi::SQLITE_CONSTRAINT_CHECK));
        assert!(!on_claim(ffi::SQLITE_FULL));
        assert!(!on_claim(ffi::SQLITE_BUSY));
    }
}
