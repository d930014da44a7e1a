//! The agent's errors and their gRPC statuses (through `common::error::to_status`).

use wavegate_common::error::{ErrorCode, ServiceError};

use wavegate_common::telemetry::TelemetryError;

use crate::config::ConfigError;
use crate::journal::JournalError;

/// Errors of starting the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The journal could not be opened.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: std::net::SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The reflection service could not be built from the descriptor set.
    #[error("reflection: {0}")]
    Reflection(String),
    /// The metrics could not be created or could not listen on `metrics_listen`.
    #[error("metrics: {0}")]
    Metrics(#[from] TelemetryError),
}

impl ServiceError for AgentError {
    fn code(&self) -> ErrorCode {
        match self {
            AgentError::Config(_) => ErrorCode::BadRequest,
            AgentError::Bind { .. } => ErrorCode::Unavailable,
            AgentError::Metrics(TelemetryError::Bind { .. }) => ErrorCode::Unavailable,
            AgentError::Metrics(_) => ErrorCode::Internal,
            AgentError::Journal(_) | AgentError::Reflection(_) => ErrorCode::Internal,
        }
    }
}

/// A message breaking the `ExecuteWave` protocol, naming field and reason; it causes no order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// The stream did not open with `Start`.
    #[error("expected Start as the first message")]
    FirstNotStart,
    /// A second `Start` on the same stream.
    #[error("start: Start may only be the first message")]
    StartAgain,
    /// Unsupported protocol version.
    #[error("protocol_version: agent speaks {supported}, got {got}")]
    Version {
        /// What the agent speaks.
        supported: u32,
        /// What was sent.
        got: u32,
    },
    /// A field is missing or out of range.
    #[error("{field}: {reason}")]
    Field {
        /// Field path, e.g. `params.max_trades` or `signals[3].symbol`.
        field: String,
        /// Reason.
        reason: String,
    },
    /// A message with no content (empty oneof).
    #[error("msg: empty message")]
    Empty,
}

impl ProtocolError {
    /// A refused field.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ProtocolError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl ServiceError for ProtocolError {
    fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::FirstNotStart
            | ProtocolError::StartAgain
            | ProtocolError::Version { .. } => ErrorCode::FailedPrecondition,
            ProtocolError::Field { .. } | ProtocolError::Empty => ErrorCode::BadRequest,
        }
    }
}

/// Failure inside a wave session that is not the peer's fault (journal, exchange).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The journal failed; the session stops sending orders.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The exchange could not be reached for a call the session cannot do without.
    #[error("exchange unavailable: {0}")]
    Exchange(String),
    /// The journal cannot be written (disk full, I/O): no order is sent unjournaled; retry later.
    #[error("journal cannot be written (disk full or I/O error): {0}; no order was sent")]
    JournalUnwritable(String),
    /// `Start` came but not the buffer in time: nothing was sent or journaled; retry later.
    #[error(
        "no signal batch round 0 (the buffer) came within topup_timeout_ms = {timeout_ms} ms \
         after Start; nothing was executed, send the wave again"
    )]
    NoBuffer {
        /// The wait, in milliseconds.
        timeout_ms: u64,
    },
}

impl ServiceError for SessionError {
    fn code(&self) -> ErrorCode {
        match self {
            SessionError::Journal(_) => ErrorCode::Internal,
            SessionError::Exchange(_) | SessionError::JournalUnwritable(_) => {
                ErrorCode::Unavailable
            }
            SessionError::NoBuffer { .. } => ErrorCode::Timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wavegate_common::error::to_status;

    #[test]
    fn protocol_statuses() {
        let s = to_status(&ProtocolError::FirstNotStart);
        assert_eq!(s.code(), tonic::Code::FailedPrecondition);
        assert_eq!(s.message(), "expected Start as the first message");
        let s = to_status(&ProtocolError::field(
            "params.exchange_id",
            "agent serves exchange 1, got 2",
        ));
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            s.message(),
            "params.exchange_id: agent serves exchange 1, got 2"
        );
        let s = to_status(&SessionError::NoBuffer { timeout_ms: 300 });
        assert_eq!(s.code(), tonic::Code::DeadlineExceeded);
        assert!(s.message().contains("batch round 0"), "{}", s.message());
    }
}
