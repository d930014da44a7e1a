//! Buffer and top-up sizing (docs/design.md §1 steps 2 and 4).

/// Signals added to `max_trades` to size the buffer, unless configured otherwise.
pub const DEFAULT_BUFFER_FIXED: u32 = 3;

/// Top-up rounds per exchange per wave, as in the reference.
pub const DEFAULT_MAX_TOPUP_ROUNDS: u32 = 1;

/// `max_trades + buffer_fixed`.
pub fn buffer_size(max_trades: u32, buffer_fixed: u32) -> u32 {
    max_trades.saturating_add(buffer_fixed)
}

/// Signals requested for `needed` missing successes: `floor(needed * 1.5)`.
pub fn topup_count(needed: u32) -> u32 {
    u32::try_from(u64::from(needed) * 3 / 2).unwrap_or(u32::MAX)
}

/// One top-up request: `needed` successes are missing; `count` more signals are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopUpAsk {
    /// `max_trades - successes`.
    pub needed: u32,
    /// 1-based round number.
    pub round: u32,
    /// `floor(needed * 1.5)`.
    pub count: u32,
}

/// Decides when an agent asks for a top-up and how many signals it asks for.
///
/// The planner knows how many signals the exchange has in the wave and how many were sent, so
/// it never asks when the list is used up, nor more than `max_rounds` times.
#[derive(Debug, Clone)]
pub struct TopUpPlanner {
    max_trades: u32,
    max_rounds: u32,
    total_signals: u32,
    received: u32,
    rounds: u32,
}

impl TopUpPlanner {
    /// A planner for an exchange with `total_signals`, of which the first `buffer_size` are
    /// the buffer.
    pub fn new(max_trades: u32, buffer_size: u32, total_signals: u32, max_rounds: u32) -> Self {
        Self {
            max_trades,
            max_rounds,
            total_signals,
            received: buffer_size.min(total_signals),
            rounds: 0,
        }
    }

    /// Given `have` successes (validated, or for top-up after failures: executed plus
    /// still possible), the next request, if one is due. Counts the round.
    pub fn ask(&mut self, have: u32) -> Option<TopUpAsk> {
        if have >= self.max_trades
            || self.rounds >= self.max_rounds
            || self.received >= self.total_signals
        {
            return None;
        }
        let needed = self.max_trades - have;
        self.rounds += 1;
        Some(TopUpAsk {
            needed,
            round: self.rounds,
            count: topup_count(needed),
        })
    }

    /// Records `n` signals received in answer to a request.
    pub fn received(&mut self, n: u32) {
        self.received = self.received.saturating_add(n);
    }

    /// Marks the list as used up (the coordinator answered `Exhausted`).
    pub fn exhausted(&mut self) {
        self.received = self.total_signals;
    }

    /// Rounds requested so far.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }
}

/// The rank-index range of the batch answering a request for `count` signals when `sent`
/// were sent already, out of `total`. Empty means exhausted.
pub fn next_batch(sent: usize, count: u32, total: usize) -> std::ops::Range<usize> {
    let start = sent.min(total);
    let end = start.saturating_add(count as usize).min(total);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topup_is_floor_of_one_and_a_half() {
        assert_eq!(topup_count(0), 0);
        assert_eq!(topup_count(1), 1);
        assert_eq!(topup_count(2), 3);
        assert_eq!(topup_count(3), 4);
        assert_eq!(topup_count(u32::MAX), u32::MAX);
    }

    #[test]
    fn planner_asks_once_by_default_and_not_when_list_is_used_up() {
        let mut p = TopUpPlanner::new(6, 9, 20, DEFAULT_MAX_TOPUP_ROUNDS);
        assert_eq!(p.ask(6), None);
        assert_eq!(
            p.ask(4),
            Some(TopUpAsk {
                needed: 2,
                round: 1,
                count: 3
            })
        );
        p.received(3);
        assert_eq!(p.ask(5), None, "only one round by default");
        let mut short = TopUpPlanner::new(6, 9, 9, 10);
        assert_eq!(
            short.ask(0),
            None,
            "exchange had no more than buffer_size signals"
        );
        let mut multi = TopUpPlanner::new(6, 9, 40, 3);
        assert_eq!(multi.ask(1).map(|a| a.round), Some(1));
        multi.received(7);
        assert_eq!(multi.ask(2).map(|a| a.round), Some(2));
        multi.exhausted();
        assert_eq!(multi.ask(2), None);
    }

    #[test]
    fn batches_stop_at_the_end() {
        assert_eq!(next_batch(9, 3, 20), 9..12);
        assert_eq!(next_batch(18, 3, 20), 18..20);
        assert!(next_batch(20, 3, 20).is_empty());
        assert_eq!(buffer_size(6, DEFAULT_BUFFER_FIXED), 9);
    }
}
