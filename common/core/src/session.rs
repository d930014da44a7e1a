//! The agent session's protocol with the coordinator as a pure state machine: the buffer, top-up
//! requests and their answers, cancel, deadline, shutdown, a lost coordinator and unanswered
//! requests (docs/design.md §1 steps 3–5).
//!
//! [`SessionProtocol::on`] takes what happened ([`Event`]) and returns what the session must do
//! ([`Action`]); it holds no clock, no I/O and no futures. The agent's session does the I/O: it
//! reads the stream, runs the rule checks and orders, keeps the timers the machine arms, and
//! feeds each outcome back here. Every (phase × event) pair is in the table test
//! (`session/tests.rs`).

use crate::plan::{TopUpAsk, TopUpPlanner};

/// Where the conversation with the coordinator stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the buffer (round 0) of at most `max` signals.
    AwaitingBuffer {
        /// Most signals the buffer may hold: `min(buffer_size, total_signals)`.
        max: u32,
    },
    /// No request outstanding; a top-up may still be asked.
    Walking,
    /// A top-up request is outstanding.
    AwaitingTopUp {
        /// Its round (1-based).
        round: u32,
        /// Most signals the answer may hold.
        count: u32,
    },
    /// No more top-ups (coordinator lost or not answering, or the wave stopped): the walk
    /// finishes with the signals it holds.
    NoTopUps,
    /// The session is over; orders in flight still settle.
    Ended(Ending),
}

/// How a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Normally (possibly after a lost coordinator, deadline or cancel): journal the result.
    Complete,
    /// The stream broke the protocol: no result is journaled; a re-send runs again.
    Refused,
    /// Nothing to do (no buffer ever came: the stream ended, or `topup_timeout_ms` passed).
    Abandoned,
}

/// Why a wave stopped early: nothing more is sent, orders already sent still settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum StopReason {
    /// The wave's deadline passed.
    Deadline,
    /// The coordinator sent `Cancel`.
    Cancelled,
    /// The agent shuts down.
    Shutdown,
    /// The journal cannot be written: an order must be journaled before it is sent.
    JournalUnwritable,
}

impl StopReason {
    /// The reason as reported in statistics and outcomes (`cancelled`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How a top-up wait ended (the `answer` of the agent's `topup` span).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum TopUpAnswer {
    /// A batch of signals arrived.
    Batch,
    /// The coordinator has no more signals.
    Exhausted,
    /// The coordinator went away or the agent shuts down.
    Lost,
    /// No answer within `topup_timeout_ms`: the wave goes on as if the coordinator were lost.
    TimedOut,
    /// The wave stopped (deadline, cancel, protocol error) before an answer.
    Stopped,
}

impl TopUpAnswer {
    /// The answer's name (`timed_out`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Something that happened to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A batch of `round` passed the protocol checks ([`SessionProtocol::admit`]) with `len`
    /// signals.
    BatchAccepted {
        /// Its round (0 = the buffer).
        round: u32,
        /// Signals it holds.
        len: u32,
    },
    /// `Exhausted` answered the outstanding top-up and passed the protocol checks.
    ExhaustedAccepted,
    /// Every verdict of a batch is in; `have` signals count as successes so far.
    BatchValidated {
        /// Validated candidates plus the slots journaled orders hold.
        have: u32,
    },
    /// The walk has nothing more to launch.
    WalkDone {
        /// Rule checks of a batch are still running.
        checks_pending: bool,
        /// `Some(executed + still possible)` when the wave opted into top-ups after failures
        /// and the walk ended short of its target.
        short: Option<u32>,
    },
    /// A signal failed for want of funds: no top-up is asked, the walk ends with what passed.
    OutOfFunds,
    /// The coordinator sent `Cancel`.
    Cancel,
    /// The wave's deadline passed.
    Deadline,
    /// The journal cannot be written.
    JournalFaulted,
    /// The agent shuts down.
    Shutdown,
    /// The coordinator's stream ended or failed.
    StreamEnded,
    /// A message broke the protocol (the session already sent the error).
    ProtocolError,
    /// The buffer did not come within `topup_timeout_ms` of the start.
    BufferTimeout,
    /// The outstanding top-up was not answered within `topup_timeout_ms`.
    TopUpTimeout,
}

/// What the session must do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send this request and arm its `topup_timeout_ms` timer.
    RequestTopUp(TopUpAsk),
    /// The outstanding request is answered, or never will be.
    EndTopUp {
        /// How.
        answer: TopUpAnswer,
        /// Signals received in answer.
        received: u32,
    },
    /// No more candidates will come.
    CloseWalk,
    /// One more top-up after execution failures: the walk takes candidates again.
    ReopenWalk,
    /// Launch nothing more.
    CancelWalk,
    /// Drop launched orders not sent yet and count the reason.
    Stop(StopReason),
    /// Drop the rule checks still running (their verdicts are not wanted).
    DropChecks,
    /// End the stream with `DEADLINE_EXCEEDED`: no buffer came.
    FailNoBuffer,
    /// The session is over once the orders in flight settle.
    Finish(Ending),
}

/// What an arriving batch or `Exhausted` is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// A late answer (the wave stopped, or the request timed out): drop it.
    Ignore,
    /// Check it against the awaited round (`None`: nothing is awaited, so any is an error).
    Check {
        /// The round awaited.
        awaiting: Option<u32>,
        /// Most signals the batch may hold.
        max_signals: u32,
    },
}

/// The session's protocol state: its [`Phase`], why it stopped, whether the stream is still
/// read, and the top-up planner.
#[derive(Debug, Clone)]
pub struct SessionProtocol {
    phase: Phase,
    stopped: Option<StopReason>,
    inbound_open: bool,
    /// A top-up request timed out: a late answer to it (or any later round) is dropped.
    ignore_late: bool,
    planner: TopUpPlanner,
}

impl SessionProtocol {
    /// A session waiting for a buffer of at most `buffer_max` signals; `planner` sizes its
    /// top-ups.
    pub fn new(buffer_max: u32, planner: TopUpPlanner) -> Self {
        Self {
            phase: Phase::AwaitingBuffer { max: buffer_max },
            stopped: None,
            inbound_open: true,
            ignore_late: false,
            planner,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Why the wave stopped, if it did.
    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }

    /// How the session ends, once it does.
    pub fn ending(&self) -> Option<Ending> {
        match self.phase {
            Phase::Ended(e) => Some(e),
            _ => None,
        }
    }

    /// The coordinator's stream is still to be read.
    pub fn inbound_open(&self) -> bool {
        self.inbound_open
    }

    /// The buffer's timer runs.
    pub fn buffer_timer_armed(&self) -> bool {
        matches!(self.phase, Phase::AwaitingBuffer { .. }) && self.inbound_open
    }

    /// The outstanding top-up's timer runs.
    pub fn topup_timer_armed(&self) -> bool {
        matches!(self.phase, Phase::AwaitingTopUp { .. }) && self.inbound_open
    }

    /// The wave's deadline still matters.
    pub fn deadline_armed(&self) -> bool {
        self.stopped.is_none()
    }

    /// How a batch or `Exhausted` of `round` is to be taken.
    pub fn admit(&self, round: u32) -> Admit {
        if self.stopped.is_some() || (self.ignore_late && round > 0) {
            return Admit::Ignore;
        }
        let (awaiting, max_signals) = match self.phase {
            Phase::AwaitingBuffer { max } => (Some(0), max),
            Phase::AwaitingTopUp { round, count } => (Some(round), count),
            _ => (None, 0),
        };
        Admit::Check {
            awaiting,
            max_signals,
        }
    }

    /// Takes one event; returns what to do.
    pub fn on(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::BatchAccepted { round, len } => self.batch(round, len, &mut out),
            Event::ExhaustedAccepted => {
                if let Phase::AwaitingTopUp { .. } = self.phase {
                    out.push(Action::EndTopUp {
                        answer: TopUpAnswer::Exhausted,
                        received: 0,
                    });
                    self.planner.exhausted();
                    out.push(Action::CloseWalk);
                    self.phase = Phase::Walking;
                }
            }
            Event::BatchValidated { have } => {
                let ask = match (self.phase, self.stopped) {
                    (Phase::Walking, None) => self.planner.ask(have),
                    _ => None,
                };
                match ask {
                    Some(ask) => self.request(ask, &mut out),
                    None => out.push(Action::CloseWalk),
                }
            }
            Event::WalkDone {
                checks_pending,
                short,
            } => self.walk_done(checks_pending, short, &mut out),
            Event::OutOfFunds => {
                if self.phase == Phase::Walking {
                    self.phase = Phase::NoTopUps;
                }
            }
            Event::Cancel => self.stop(StopReason::Cancelled, &mut out),
            Event::Deadline => self.stop(StopReason::Deadline, &mut out),
            Event::JournalFaulted => self.stop(StopReason::JournalUnwritable, &mut out),
            Event::Shutdown => {
                // Orders in flight settle; nothing more is asked nor sent.
                self.lose(TopUpAnswer::Lost, &mut out);
                self.stop(StopReason::Shutdown, &mut out);
            }
            Event::StreamEnded => {
                self.inbound_open = false;
                self.lose(TopUpAnswer::Lost, &mut out);
            }
            Event::ProtocolError => {
                self.inbound_open = false;
                self.end_topup(TopUpAnswer::Stopped, &mut out);
                out.push(Action::CancelWalk);
                out.push(Action::DropChecks);
                self.end(Ending::Refused, &mut out);
            }
            Event::BufferTimeout => {
                if self.buffer_timer_armed() {
                    out.push(Action::FailNoBuffer);
                    self.inbound_open = false;
                    out.push(Action::CancelWalk);
                    self.end(Ending::Abandoned, &mut out);
                }
            }
            Event::TopUpTimeout => {
                if self.topup_timer_armed() {
                    // As if the coordinator were lost, but its stream is still read (for a
                    // `Cancel`); the late answer is dropped.
                    self.ignore_late = true;
                    self.lose(TopUpAnswer::TimedOut, &mut out);
                }
            }
        }
        out
    }

    fn batch(&mut self, round: u32, len: u32, out: &mut Vec<Action>) {
        match self.phase {
            Phase::AwaitingBuffer { .. } if round == 0 => {}
            Phase::AwaitingTopUp { round: r, .. } if r == round => {
                self.planner.received(len);
                out.push(Action::EndTopUp {
                    answer: TopUpAnswer::Batch,
                    received: len,
                });
            }
            // Not awaited: `admit` lets no such batch through.
            _ => return,
        }
        self.phase = Phase::Walking;
        if len == 0 {
            // An empty batch: as if exhausted.
            self.planner.exhausted();
            out.push(Action::CloseWalk);
        }
    }

    fn walk_done(&mut self, checks_pending: bool, short: Option<u32>, out: &mut Vec<Action>) {
        match self.phase {
            Phase::Ended(_) => return,
            // Journaled orders may hold every slot before the buffer came: still wait for it,
            // so the journaled signals get their places and verdicts.
            Phase::AwaitingBuffer { .. } => return,
            _ if checks_pending => return,
            Phase::Walking => {
                if let Some(ask) = short.and_then(|have| self.planner.ask(have)) {
                    out.push(Action::ReopenWalk);
                    self.request(ask, out);
                    return;
                }
            }
            Phase::AwaitingTopUp { .. } | Phase::NoTopUps => {}
        }
        self.end(Ending::Complete, out);
    }

    fn request(&mut self, ask: TopUpAsk, out: &mut Vec<Action>) {
        self.phase = Phase::AwaitingTopUp {
            round: ask.round,
            count: ask.count,
        };
        out.push(Action::RequestTopUp(ask));
    }

    fn end_topup(&mut self, answer: TopUpAnswer, out: &mut Vec<Action>) {
        if let Phase::AwaitingTopUp { .. } = self.phase {
            out.push(Action::EndTopUp {
                answer,
                received: 0,
            });
        }
    }

    /// No more top-ups: the coordinator is gone, shutting down, or not answering.
    fn lose(&mut self, answer: TopUpAnswer, out: &mut Vec<Action>) {
        match self.phase {
            Phase::AwaitingBuffer { .. } => {
                // Never got the buffer: nothing to execute and nothing to journal.
                out.push(Action::CancelWalk);
                self.end(Ending::Abandoned, out);
            }
            Phase::AwaitingTopUp { .. } => {
                self.end_topup(answer, out);
                self.planner.exhausted();
                // No batch is being checked while a request is outstanding.
                out.push(Action::CloseWalk);
                self.phase = Phase::NoTopUps;
            }
            Phase::Walking => self.phase = Phase::NoTopUps,
            Phase::NoTopUps | Phase::Ended(_) => {}
        }
    }

    /// Deadline, cancel, shutdown or an unwritable journal: send nothing more. The first
    /// reason stands.
    fn stop(&mut self, reason: StopReason, out: &mut Vec<Action>) {
        if self.stopped.is_some() {
            return;
        }
        self.stopped = Some(reason);
        out.push(Action::Stop(reason));
        self.end_topup(TopUpAnswer::Stopped, out);
        out.push(Action::CancelWalk);
        if !matches!(self.phase, Phase::Ended(_)) {
            self.phase = Phase::NoTopUps;
        }
    }

    fn end(&mut self, ending: Ending, out: &mut Vec<Action>) {
        self.phase = Phase::Ended(ending);
        out.push(Action::Finish(ending));
    }
}

#[cfg(test)]
mod tests;
