//! The agent's half of an `ExecuteWave` stream: what a session sends back to the coordinator.

use tonic::Status;
use tracing::debug;
use wavegate_common::error::{ServiceError, to_status};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as Out;

/// The agent's side of a stream: outcomes, top-up requests, the result, or one error status.
#[derive(Debug)]
pub struct Outbound {
    tx: tokio::sync::mpsc::UnboundedSender<Result<pb::AgentMsg, Status>>,
    closed: bool,
}

impl Outbound {
    /// Wraps the response channel.
    pub fn new(tx: tokio::sync::mpsc::UnboundedSender<Result<pb::AgentMsg, Status>>) -> Self {
        Self { tx, closed: false }
    }

    /// Sends a message; a gone coordinator is not an error (the session carries on).
    pub(crate) fn send(&mut self, msg: Out) {
        if !self.closed && self.tx.send(Ok(pb::AgentMsg { msg: Some(msg) })).is_err() {
            debug!("coordinator gone; outcomes are kept in the journal result");
            self.closed = true;
        }
    }

    /// Ends the stream with an error status.
    pub(crate) fn fail<E: ServiceError>(&mut self, e: &E) {
        if !self.closed {
            let _ = self.tx.send(Err(to_status(e)));
            self.closed = true;
        }
    }
}
