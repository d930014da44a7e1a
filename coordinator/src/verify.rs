//! An agent's report checked against what it was sent (outcomes of the exchange's whole list,
//! a `Result` of this wave within target), so a mismatched result is never stored.

use std::collections::HashSet;

use wavegate_common::Signal;
use wavegate_common::proto::v1 as pb;

/// `ExchangeStats.error` of an agent that reported something not sent (details logged).
pub const RESULT_MISMATCH: &str = "result_mismatch";

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// The signals of one exchange's part of a wave, as sent.
#[derive(Debug)]
pub struct Sent<'a> {
    wave_id: &'a str,
    target: u32,
    signals: HashSet<(i64, &'a str)>,
}

impl<'a> Sent<'a> {
    /// The exchange's list for `wave_id` and its `max_trades`.
    pub fn new(wave_id: &'a str, target: u32, signals: &'a [Signal]) -> Self {
        Self {
            wave_id,
            target,
            signals: signals.iter().map(|s| (s.id(), s.symbol())).collect(),
        }
    }

    /// One outcome: its signal id and symbol must be one of the signals sent.
    pub fn outcome(&self, o: &pb::SignalOutcome) -> Result<(), Mismatch> {
        if self.signals.contains(&(o.signal_id, o.symbol.as_str())) {
            return Ok(());
        }
        Err(Mismatch(format!(
            "outcome for signal {} ({}) which was not sent for wave {}",
            o.signal_id,
            excerpt(&o.symbol),
            self.wave_id
        )))
    }

    /// The `Result`: its wave, every outcome, and that its totals add up.
    pub fn result(&self, r: &pb::Result) -> Result<(), Mismatch> {
        if r.wave_id != self.wave_id {
            return Err(Mismatch(format!(
                "result for wave {} on the stream of wave {}",
                excerpt(&r.wave_id),
                self.wave_id
            )));
        }
        for o in &r.outcomes {
            self.outcome(o)?;
        }
        let Some(stats) = &r.stats else {
            return Ok(()); // reported as agent_error by the caller
        };
        let opened = r.outcomes.iter().filter(|o| o.executed).count();
        if usize::try_from(stats.executed).ok() != Some(opened) {
            return Err(Mismatch(format!(
                "result counts {} positions opened but {opened} outcomes say so",
                stats.executed
            )));
        }
        if stats.executed > self.target {
            return Err(Mismatch(format!(
                "result counts {} positions opened, above the wave's target {}",
                stats.executed, self.target
            )));
        }
        let settled = u64::from(stats.executed) + u64::from(stats.execution_failed);
        if settled > r.outcomes.len() as u64 {
            return Err(Mismatch(format!(
                "result counts {settled} executions for {} outcomes",
                r.outcomes.len()
            )));
        }
        Ok(())
    }
}

/// At most 40 characters of a peer's text, so a hostile value cannot flood the log.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{:?}…", &s[..i]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals() -> Vec<Signal> {
        vec![
            crate::test_signal(1, "BTCUSDT"),
            crate::test_signal(2, "ETHUSDT"),
        ]
    }

    fn outcome(id: i64, symbol: &str, executed: bool) -> pb::SignalOutcome {
        pb::SignalOutcome {
            signal_id: id,
            symbol: symbol.into(),
            executed,
            stage: pb::Stage::Execution as i32,
            ..Default::default()
        }
    }

    fn result(outcomes: Vec<pb::SignalOutcome>, executed: u32, failed: u32) -> pb::Result {
        pb::Result {
            wave_id: "W".into(),
            stats: Some(pb::ExchangeStats {
                executed,
                execution_failed: failed,
                ..Default::default()
            }),
            outcomes,
            from_journal: true,
        }
    }

    #[test]
    fn a_matching_result_passes_and_every_mismatch_is_named() {
        let s = signals();
        let sent = Sent::new("W", 1, &s);
        let btc = |executed| outcome(1, "BTCUSDT", executed);
        let eth = |executed| outcome(2, "ETHUSDT", executed);
        let ok = result(vec![btc(true), eth(false)], 1, 1);
        sent.result(&ok).unwrap();
        let mut other_wave = ok.clone();
        other_wave.wave_id = "X".into();
        let junk = result(vec![outcome(9, "JUNKAUSDT", true)], 1, 0);
        for (bad, named) in [
            (junk, &["signal 9", "JUNKAUSDT"][..]),
            (other_wave, &["wave"]),
            (result(vec![btc(true)], 2, 0), &["2 positions"]),
            (result(vec![btc(true), eth(true)], 2, 0), &["target 1"]),
            (result(vec![btc(true)], 1, 5), &["6 executions"]),
        ] {
            let e = sent.result(&bad).unwrap_err().0;
            assert!(named.iter().all(|n| e.contains(n)), "{e:?} names {named:?}");
        }
        // A sent id with another symbol is not what was sent either.
        assert!(sent.outcome(&outcome(1, "ETHUSDT", true)).is_err());
    }

    #[test]
    fn a_hostile_symbol_is_cut_short_in_the_reason() {
        let s = signals();
        let sent = Sent::new("W", 1, &s);
        let long = "X".repeat(10_000);
        let e = sent.outcome(&outcome(1, &long, true)).unwrap_err().0;
        assert!(e.len() < 200, "{}", e.len());
    }
}
