//! The one map from service errors to gRPC statuses.
//!
//! Each crate keeps its own `thiserror` enum and says, per variant, which [`ErrorCode`] it is.
//! [`to_status`] turns that into a [`tonic::Status`], so the choice between
//! `INVALID_ARGUMENT`, `FAILED_PRECONDITION`, `UNAVAILABLE`… is made here, once.

use crate::signal::SignalError;

/// The small set of error kinds wavegate's services return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed; the message names the field and the reason.
    BadRequest,
    /// The request is well-formed but the state does not allow it (e.g. wave already closed).
    FailedPrecondition,
    /// The named thing (wave, exchange) does not exist.
    NotFound,
    /// The thing exists already (e.g. a duplicate signal id).
    AlreadyExists,
    /// A peer (agent, database, exchange) cannot be reached; retry later.
    Unavailable,
    /// A deadline passed.
    Timeout,
    /// Missing or wrong credentials.
    Unauthenticated,
    /// Too large or too many.
    ResourceExhausted,
    /// A bug or an unexpected failure; details are logged, not returned.
    Internal,
}

impl ErrorCode {
    /// The gRPC code.
    pub fn grpc(self) -> tonic::Code {
        match self {
            ErrorCode::BadRequest => tonic::Code::InvalidArgument,
            ErrorCode::FailedPrecondition => tonic::Code::FailedPrecondition,
            ErrorCode::NotFound => tonic::Code::NotFound,
            ErrorCode::AlreadyExists => tonic::Code::AlreadyExists,
            ErrorCode::Unavailable => tonic::Code::Unavailable,
            ErrorCode::Timeout => tonic::Code::DeadlineExceeded,
            ErrorCode::Unauthenticated => tonic::Code::Unauthenticated,
            ErrorCode::ResourceExhausted => tonic::Code::ResourceExhausted,
            ErrorCode::Internal => tonic::Code::Internal,
        }
    }
}

/// An error a service can return to a caller.
pub trait ServiceError: std::error::Error {
    /// Its kind.
    fn code(&self) -> ErrorCode;
}

/// Turns a service error into a status. Internal errors keep their detail out of the reply
/// (it may hold paths or SQL); callers log it.
pub fn to_status<E: ServiceError + ?Sized>(e: &E) -> tonic::Status {
    let code = e.code();
    let msg = match code {
        ErrorCode::Internal => "internal error".to_owned(),
        _ => e.to_string(),
    };
    tonic::Status::new(code.grpc(), msg)
}

impl ServiceError for SignalError {
    fn code(&self) -> ErrorCode {
        ErrorCode::BadRequest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("db password=hunter2 failed")]
    struct Boom;
    impl ServiceError for Boom {
        fn code(&self) -> ErrorCode {
            ErrorCode::Internal
        }
    }

    #[test]
    fn signal_errors_are_invalid_argument_naming_the_field() {
        let e = SignalError {
            field: "score_week",
            reason: "must be finite, got NaN".into(),
        };
        let s = to_status(&e);
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert_eq!(s.message(), "score_week: must be finite, got NaN");
    }

    #[test]
    fn internal_detail_stays_inside() {
        let s = to_status(&Boom);
        assert_eq!(s.code(), tonic::Code::Internal);
        assert!(!s.message().contains("hunter2"));
    }
}
