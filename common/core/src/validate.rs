//! Turning per-signal rule checks into verdicts, in rank order (docs/design.md §1 step 3).
//!
//! The adapter's rule checks (tradable symbol, price, minimum notional, reachability) may run
//! concurrently; this part is sequential because "duplicate" depends on rank order: a symbol
//! with an open position, or one that an earlier signal of the same wave already passed with,
//! is skipped. Duplicates and rule failures are kept apart (unlike the reference).

use std::collections::HashSet;

/// Why a signal was skipped as a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Duplicate {
    /// The exchange account already holds a position in the symbol.
    OpenPosition,
    /// An earlier signal of this wave for the same symbol passed validation.
    #[strum(serialize = "duplicate_in_wave")]
    InWave,
}

impl Duplicate {
    /// Machine-readable reason.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Verdict on one signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Passed; goes to execution.
    Successful,
    /// A rule failed; the reason is machine-readable (e.g. `symbol_not_tradable`).
    Failed(String),
    /// Skipped as a duplicate.
    Skipped(Duplicate),
}

impl Verdict {
    /// True for [`Verdict::Successful`].
    pub fn is_successful(&self) -> bool {
        matches!(self, Verdict::Successful)
    }
}

/// Assigns verdicts in rank order, remembering which symbols are taken.
#[derive(Debug, Clone, Default)]
pub struct VerdictFilter {
    open: HashSet<String>,
    taken: HashSet<String>,
}

impl VerdictFilter {
    /// A filter for an account holding positions in `open_positions`.
    pub fn new<I: IntoIterator<Item = String>>(open_positions: I) -> Self {
        Self {
            open: open_positions.into_iter().collect(),
            taken: HashSet::new(),
        }
    }

    /// The duplicate verdict `symbol` would get now, without taking it.
    pub fn duplicate(&self, symbol: &str) -> Option<Duplicate> {
        if self.open.contains(symbol) {
            Some(Duplicate::OpenPosition)
        } else if self.taken.contains(symbol) {
            Some(Duplicate::InWave)
        } else {
            None
        }
    }

    /// The verdict on the next signal in rank order, given its rule check.
    pub fn verdict(&mut self, symbol: &str, check: Result<(), String>) -> Verdict {
        if let Some(d) = self.duplicate(symbol) {
            return Verdict::Skipped(d);
        }
        match check {
            Err(reason) => Verdict::Failed(reason),
            Ok(()) => {
                self.taken.insert(symbol.to_owned());
                Verdict::Successful
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_before_rules_and_only_successes_take_a_symbol() {
        let mut f = VerdictFilter::new(["ETHUSDT".to_string()]);
        assert_eq!(
            f.verdict("ETHUSDT", Ok(())),
            Verdict::Skipped(Duplicate::OpenPosition)
        );
        assert_eq!(
            f.verdict("BTCUSDT", Err("below_min_notional".into())),
            Verdict::Failed("below_min_notional".into())
        );
        assert_eq!(f.verdict("BTCUSDT", Ok(())), Verdict::Successful);
        assert_eq!(
            f.verdict("BTCUSDT", Ok(())),
            Verdict::Skipped(Duplicate::InWave)
        );
    }
}
