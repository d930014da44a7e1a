//! The coordinator's errors and their gRPC codes (through `wavegate_common::error::to_status`).

use wavegate_common::error::{ErrorCode, ServiceError};

use crate::config::ConfigError;

/// Anything that can go wrong in the coordinator.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database failed (details are logged, not returned to callers).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite failed on the claim's own connection (`store/sqlite_claim.rs`); logged like
    /// [`CoordinatorError::Database`].
    #[error("database error (claim connection): {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A request field is invalid.
    #[error("{field}: {reason}")]
    BadRequest {
        /// Offending field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The named wave or exchange does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The state does not allow it (e.g. the wave is closed).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Too many signals in one call.
    #[error("{0}")]
    TooLarge(String),
    /// Stored data cannot be read back (a bug or a hand-edited database).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The SQLite database file could not be opened or created.
    #[error(
        "cannot open the SQLite database {path}: {reason} (its directory must exist and be \
         writable by the coordinator's user; set database_url or WAVEGATE_DATABASE_URL)"
    )]
    OpenDatabase {
        /// The file `database_url` names.
        path: String,
        /// What SQLite said.
        reason: String,
    },
    /// The storage refuses writes (disk full, I/O errors); retry later.
    #[error("{0}")]
    Unavailable(String),
}

impl CoordinatorError {
    /// True when this is a fault of the storage (disk full, I/O error, lost connection).
    pub fn is_storage_fault(&self) -> bool {
        match self {
            CoordinatorError::Database(e) => crate::store::fault::is_storage_fault(e),
            CoordinatorError::Sqlite(e) => crate::store::fault::is_sqlite_storage_fault(e),
            _ => false,
        }
    }

    /// A bad request naming the field.
    pub fn bad(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl ServiceError for CoordinatorError {
    fn code(&self) -> ErrorCode {
        match self {
            CoordinatorError::BadRequest { .. } | CoordinatorError::Config(_) => {
                ErrorCode::BadRequest
            }
            CoordinatorError::NotFound(_) => ErrorCode::NotFound,
            CoordinatorError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            CoordinatorError::TooLarge(_) => ErrorCode::ResourceExhausted,
            CoordinatorError::Unavailable(_) => ErrorCode::Unavailable,
            e if e.is_storage_fault() => ErrorCode::Unavailable,
            CoordinatorError::Database(_)
            | CoordinatorError::Sqlite(_)
            | CoordinatorError::Migrate(_)
            | CoordinatorError::Bind { .. }
            | CoordinatorError::OpenDatabase { .. }
            | CoordinatorError::Corrupt(_) => ErrorCode::Internal,
        }
    }
}

impl From<CoordinatorError> for tonic::Status {
    fn from(e: CoordinatorError) -> Self {
        status(&e)
    }
}

/// Converts to a gRPC status, logging internal details (which the status does not carry).
pub fn status(e: &CoordinatorError) -> tonic::Status {
    if e.code() == ErrorCode::Internal {
        tracing::error!(error = %e, "internal error");
    }
    if e.is_storage_fault() {
        // Details are logged; the caller learns only to retry.
        tracing::error!(error = %e, "storage fault");
        return tonic::Status::unavailable(
            "storage unavailable (disk full or I/O error): nothing was stored; retry later",
        );
    }
    wavegate_common::error::to_status(e)
}
