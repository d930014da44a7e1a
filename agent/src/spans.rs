//! Spans under `execute_wave`: `validate_batch`, `topup`, `place_order` (names are a contract).

use tracing::Span;
use tracing::field::Empty;
use wavegate_common::order_id::client_order_id;
use wavegate_common::plan::TopUpAsk;
use wavegate_common::session::TopUpAnswer;
use wavegate_common::telemetry::int;
use wavegate_common::validate::Verdict;

use crate::execute::{ExecStatus, Execution, OrderJob};

/// The `validate_batch` span of the batch whose verdicts are awaited.
#[derive(Debug)]
pub struct BatchSpan {
    span: Span,
    successful: u32,
}

impl BatchSpan {
    /// Opens `validate_batch` under `parent` for `signals` signals of `round`.
    pub fn start(parent: &Span, round: u32, signals: usize) -> Self {
        let span = tracing::info_span!(
            parent: parent,
            "validate_batch",
            round = int(round),
            signals = int(signals),
            successful = Empty,
        );
        Self {
            span,
            successful: 0,
        }
    }

    /// The span, to instrument the batch's rule checks with.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Counts one verdict of the batch.
    pub fn verdict(&mut self, verdict: &Verdict) {
        self.successful += u32::from(verdict.is_successful());
    }

    /// Every verdict is in: records `successful` and closes the span.
    pub fn finish(self) {
        self.span.record("successful", int(self.successful));
    }
}

/// The `topup` span of a request waiting for the coordinator's answer.
#[derive(Debug)]
pub struct TopupSpan {
    span: Span,
}

impl TopupSpan {
    /// Opens `topup` under `parent` for a request.
    pub fn start(parent: &Span, ask: &TopUpAsk) -> Self {
        let span = tracing::info_span!(
            parent: parent,
            "topup",
            needed = int(ask.needed),
            round = int(ask.round),
            count = int(ask.count),
            received = Empty,
            answer = Empty,
        );
        Self { span }
    }

    /// The answer came (or never will): records it and closes the span.
    pub fn finish(self, answer: TopUpAnswer, received: usize) {
        self.span.record("received", int(received));
        self.span.record("answer", answer.as_str());
    }
}

/// Opens `place_order` for a launched signal (its client order id derived only if recorded).
pub fn place_order(parent: &Span, job: &OrderJob) -> Span {
    tracing::info_span!(
        parent: parent,
        "place_order",
        symbol = job.signal.symbol(),
        signal_id = job.signal.id(),
        client_order_id = %client_order_id(&job.wave_id, job.exchange_id, job.signal.id()),
        outcome = Empty,
        exchange_latency_us = Empty,
        error = Empty,
        "error.message" = Empty,
        "otel.status_code" = Empty,
        "otel.status_description" = Empty,
    )
}

/// Records how an order ended; a failure or a problem is an error, a duplicate is not.
pub fn record_execution(span: &Span, exec: &Execution) {
    let o = &exec.outcome;
    let outcome = match exec.status {
        ExecStatus::Executed | ExecStatus::Unresolved | ExecStatus::Unprotected => "executed",
        ExecStatus::Failed => "failed",
        ExecStatus::Duplicate => "duplicate",
    };
    span.record("outcome", outcome);
    span.record("exchange_latency_us", int(o.exchange_latency_us));
    if !o.error.is_empty() && exec.status != ExecStatus::Duplicate {
        span.record("error", true);
        span.record("error.message", o.error.as_str());
        // Code first, then the description: the description carries the message.
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", o.error.as_str());
    }
}
