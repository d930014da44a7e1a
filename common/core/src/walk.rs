//! The execution walk (docs/design.md §1 step 5) as an explicit state machine.
//!
//! The walk goes over the validated candidates in rank order and stops as soon as
//! `executed >= target`. It performs no I/O: an async executor asks [`Walk::next_action`] what to do,
//! sends the order it is told to launch, and reports the result with [`Walk::settle`].
//!
//! - **Sequential** (default): one order at a time.
//! - **Windowed** (opt-in): up to `target - executed - in_flight` orders at once, launched in
//!   rank order. A candidate is launched iff fewer than `target` candidates before it
//!   succeeded, exactly as in the sequential walk, so both modes execute the same set.
//!
//! An order whose outcome is unknown stays in flight, holding its slot, until it is settled;
//! so the walk can never open more than `target` positions. Candidates may be appended while
//! the walk runs (top-up pipelining); they must come in rank order after those already known.

use serde::{Deserialize, Serialize};

/// How the walk launches orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One order at a time (the reference behaviour).
    #[default]
    Sequential,
    /// Up to `target - executed` orders in flight, launched in rank order.
    Windowed,
}

/// What the executor should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send the order of the candidate with this index (0-based, in candidate order).
    Launch(usize),
    /// Wait for an in-flight order to settle, or for more candidates.
    Wait,
    /// The walk is over: target reached, candidates used up, or cancelled and drained.
    Done,
}

/// A refused [`Walk::settle`]: the executor reported something the walk did not ask for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    /// The candidate was never launched, or was settled already.
    #[error("candidate {0} is not in flight")]
    NotInFlight(usize),
}

/// State of one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateState {
    /// Not launched (yet, or ever: the walk stopped before it).
    Pending,
    /// Order sent; outcome not known.
    InFlight,
    /// Position opened.
    Executed,
    /// Execution failed.
    Failed,
}

/// The walk over one exchange's candidates in one wave.
#[derive(Debug, Clone)]
pub struct Walk {
    target: u32,
    mode: Mode,
    states: Vec<CandidateState>,
    next: usize,
    in_flight: u32,
    executed: u32,
    failed: u32,
    closed: bool,
    cancelled: bool,
}

impl Walk {
    /// A walk towards `target` positions with no candidates yet.
    pub fn new(target: u32, mode: Mode) -> Self {
        Self {
            target,
            mode,
            states: Vec::new(),
            next: 0,
            in_flight: 0,
            executed: 0,
            failed: 0,
            closed: false,
            cancelled: false,
        }
    }

    /// Appends `n` candidates (validated successes, in rank order after those known).
    pub fn push_candidates(&mut self, n: usize) {
        self.states
            .extend(std::iter::repeat_n(CandidateState::Pending, n));
    }

    /// No more candidates will come (validation and top-ups are over).
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Re-opens a closed walk for one more top-up (top-up after execution failures).
    pub fn reopen(&mut self) {
        self.closed = false;
    }

    /// Stops launching (deadline or cancel); orders in flight still settle.
    pub fn cancel(&mut self) {
        self.cancelled = true;
    }

    /// What to do next. A [`Next::Launch`] marks the candidate in flight.
    pub fn next_action(&mut self) -> Next {
        if self.executed >= self.target {
            return Next::Done;
        }
        if self.cancelled {
            return if self.in_flight == 0 {
                Next::Done
            } else {
                Next::Wait
            };
        }
        let slots = match self.mode {
            Mode::Sequential => u32::from(self.in_flight == 0),
            Mode::Windowed => self.target - self.executed - self.in_flight,
        };
        if slots > 0 && self.next < self.states.len() {
            let i = self.next;
            self.next += 1;
            self.states[i] = CandidateState::InFlight;
            self.in_flight += 1;
            return Next::Launch(i);
        }
        if self.in_flight == 0 && self.next >= self.states.len() && self.closed {
            Next::Done
        } else {
            Next::Wait
        }
    }

    /// Records the outcome of candidate `i`: `executed` when a position opened.
    pub fn settle(&mut self, i: usize, executed: bool) -> Result<(), WalkError> {
        match self.states.get(i) {
            Some(CandidateState::InFlight) => {}
            _ => return Err(WalkError::NotInFlight(i)),
        }
        self.in_flight -= 1;
        if executed {
            self.executed += 1;
            self.states[i] = CandidateState::Executed;
        } else {
            self.failed += 1;
            self.states[i] = CandidateState::Failed;
        }
        Ok(())
    }

    /// Positions opened.
    pub fn executed(&self) -> u32 {
        self.executed
    }
    /// Execution failures.
    pub fn failed(&self) -> u32 {
        self.failed
    }
    /// Orders in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
    /// Target.
    pub fn target(&self) -> u32 {
        self.target
    }
    /// Candidates known.
    pub fn candidates(&self) -> usize {
        self.states.len()
    }
    /// Candidates launched so far.
    pub fn launched(&self) -> usize {
        self.next
    }
    /// State of candidate `i`.
    pub fn state(&self, i: usize) -> Option<CandidateState> {
        self.states.get(i).copied()
    }
    /// Best case: executed plus in flight plus not launched. Below the target means more
    /// candidates are needed to reach it (top-up after execution failures).
    pub fn potential(&self) -> u32 {
        let unlaunched = u32::try_from(self.states.len() - self.next).unwrap_or(u32::MAX);
        self.executed
            .saturating_add(self.in_flight)
            .saturating_add(unlaunched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a walk with results known up front, settling in launch order.
    fn drive(mode: Mode, target: u32, results: &[bool]) -> Vec<usize> {
        let mut w = Walk::new(target, mode);
        w.push_candidates(results.len());
        w.close();
        let mut launched = Vec::new();
        let mut flying = std::collections::VecDeque::new();
        loop {
            match w.next_action() {
                Next::Launch(i) => {
                    launched.push(i);
                    flying.push_back(i);
                }
                Next::Wait => {
                    let i = flying.pop_front().expect("waiting with nothing in flight");
                    w.settle(i, results[i]).unwrap();
                }
                Next::Done => break,
            }
        }
        assert!(flying.is_empty());
        launched
    }

    #[test]
    fn sequential_stops_at_target() {
        // The worked example's Binance walk: 1 ok, 2 ok, 3 fails, 4..7 ok → break at 6/6.
        let r = [true, true, false, true, true, true, true];
        assert_eq!(drive(Mode::Sequential, 6, &r), vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(drive(Mode::Sequential, 4, &r), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn windowed_launches_the_same_set() {
        let r = [true, false, true, false, true, true, true];
        assert_eq!(drive(Mode::Windowed, 4, &r), drive(Mode::Sequential, 4, &r));
    }

    #[test]
    fn waits_for_candidates_until_closed() {
        let mut w = Walk::new(2, Mode::Sequential);
        assert_eq!(w.next_action(), Next::Wait);
        w.push_candidates(1);
        assert_eq!(w.next_action(), Next::Launch(0));
        w.settle(0, true).unwrap();
        assert_eq!(w.next_action(), Next::Wait);
        w.close();
        assert_eq!(w.next_action(), Next::Done);
    }

    #[test]
    fn refuses_unknown_settlements() {
        let mut w = Walk::new(2, Mode::Sequential);
        w.push_candidates(2);
        assert_eq!(w.settle(0, true), Err(WalkError::NotInFlight(0)));
        assert_eq!(w.next_action(), Next::Launch(0));
        w.settle(0, false).unwrap();
        assert_eq!(w.settle(0, true), Err(WalkError::NotInFlight(0)));
        assert_eq!(w.settle(9, true), Err(WalkError::NotInFlight(9)));
    }

    #[test]
    fn cancel_drains_in_flight_then_stops() {
        let mut w = Walk::new(3, Mode::Windowed);
        w.push_candidates(5);
        assert_eq!(w.next_action(), Next::Launch(0));
        assert_eq!(w.next_action(), Next::Launch(1));
        w.cancel();
        assert_eq!(w.next_action(), Next::Wait);
        w.settle(0, true).unwrap();
        w.settle(1, true).unwrap();
        assert_eq!(w.next_action(), Next::Done);
        assert_eq!(w.state(2), Some(CandidateState::Pending));
    }
}
