//! Typed label values of the metric families, so every recording point spells them the same
//! way and label cardinality stays bounded.

use crate::error::ErrorCode;
use crate::validate::Verdict;

/// What became of an ingested signal (`wavegate_ingest_signals_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum IngestResult {
    /// Stored for its wave.
    Accepted,
    /// Malformed (bad field, non-finite score, unknown exchange, oversize batch).
    Invalid,
    /// Its wave is already closed.
    Late,
    /// Same id already in the wave.
    Duplicate,
    /// Refused for lack of valid credentials.
    Unauthenticated,
    /// Not stored because of a failure on our side (database, internal).
    Error,
}

impl IngestResult {
    /// Every result, for series created at 0.
    pub const ALL: [IngestResult; 6] = [
        IngestResult::Accepted,
        IngestResult::Invalid,
        IngestResult::Late,
        IngestResult::Duplicate,
        IngestResult::Unauthenticated,
        IngestResult::Error,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The result for a signal rejected with `code` (the ingest error's
    /// [`ServiceError::code`](crate::error::ServiceError::code)).
    pub fn from_error_code(code: ErrorCode) -> Self {
        match code {
            ErrorCode::BadRequest | ErrorCode::ResourceExhausted | ErrorCode::NotFound => {
                IngestResult::Invalid
            }
            ErrorCode::FailedPrecondition => IngestResult::Late,
            ErrorCode::AlreadyExists => IngestResult::Duplicate,
            ErrorCode::Unauthenticated => IngestResult::Unauthenticated,
            ErrorCode::Unavailable | ErrorCode::Timeout | ErrorCode::Internal => {
                IngestResult::Error
            }
        }
    }
}

/// Longest reason label kept as is; longer ones become [`OTHER_REASON`].
const MAX_REASON_LEN: usize = 48;
/// Reason label for reasons that are not machine-readable identifiers.
pub(crate) const OTHER_REASON: &str = "other";

/// `(verdict, reason)` label values of a validation verdict. Reasons are machine-readable
/// identifiers (`symbol_not_tradable`, `open_position`…); anything else (free text, ids) is
/// folded into `other` so a misbehaving adapter cannot create unbounded series.
pub(crate) fn verdict_labels(verdict: &Verdict) -> (&'static str, &str) {
    match verdict {
        Verdict::Successful => ("successful", ""),
        Verdict::Failed(reason) => ("failed", bounded_reason(reason)),
        Verdict::Skipped(dup) => ("skipped", dup.as_str()),
    }
}

fn bounded_reason(reason: &str) -> &str {
    // `identifier: detail` (e.g. a size refused with its numbers) is labelled by the identifier.
    let reason = reason.split_once(": ").map_or(reason, |(id, _)| id);
    let ok = !reason.is_empty()
        && reason.len() <= MAX_REASON_LEN
        && reason
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok { reason } else { OTHER_REASON }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Duplicate;

    #[test]
    fn verdict_labels_keep_identifiers_and_fold_free_text() {
        assert_eq!(verdict_labels(&Verdict::Successful), ("successful", ""));
        assert_eq!(
            verdict_labels(&Verdict::Failed("below_min_notional".into())),
            ("failed", "below_min_notional")
        );
        assert_eq!(
            verdict_labels(&Verdict::Failed("HTTP 502 from api.binance.com".into())),
            ("failed", "other")
        );
        assert_eq!(
            verdict_labels(&Verdict::Failed(
                "below_min_notional: size 100.00 USD, the symbol's minimum is 120.00 USD".into()
            )),
            ("failed", "below_min_notional")
        );
        assert_eq!(
            verdict_labels(&Verdict::Failed(String::new())),
            ("failed", "other")
        );
        assert_eq!(
            verdict_labels(&Verdict::Failed("x".repeat(49))),
            ("failed", "other")
        );
        assert_eq!(
            verdict_labels(&Verdict::Skipped(Duplicate::InWave)),
            ("skipped", "duplicate_in_wave")
        );
    }

    #[test]
    fn ingest_results_follow_the_error_map() {
        assert_eq!(
            IngestResult::from_error_code(ErrorCode::BadRequest),
            IngestResult::Invalid
        );
        assert_eq!(
            IngestResult::from_error_code(ErrorCode::FailedPrecondition),
            IngestResult::Late
        );
        assert_eq!(
            IngestResult::from_error_code(ErrorCode::AlreadyExists),
            IngestResult::Duplicate
        );
        assert_eq!(
            IngestResult::from_error_code(ErrorCode::Internal),
            IngestResult::Error
        );
    }
}
