//! The protocol as a table: every phase × every event, then the guards (`admit`, timers).

use std::collections::HashSet;

use super::*;
use Action::*;
use Event::*;

/// Target 3, buffer 4 of 10 signals, at most 2 top-up rounds.
fn fresh() -> SessionProtocol {
    SessionProtocol::new(4, TopUpPlanner::new(3, 4, 10, 2))
}

const ASK1: TopUpAsk = TopUpAsk {
    needed: 2,
    round: 1,
    count: 3,
};

/// The phases the table starts from, each reached through the protocol itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum From {
    Buffer,
    Walking,
    TopUp,
    NoTopUps,
    Complete,
}

const ALL: [From; 5] = [
    From::Buffer,
    From::Walking,
    From::TopUp,
    From::NoTopUps,
    From::Complete,
];

fn at(from: From) -> SessionProtocol {
    let mut p = fresh();
    let mut feed = |e| {
        p.on(e);
    };
    match from {
        From::Buffer => {}
        From::Walking => feed(BatchAccepted { round: 0, len: 4 }),
        From::TopUp => {
            feed(BatchAccepted { round: 0, len: 4 });
            feed(BatchValidated { have: 1 });
        }
        From::NoTopUps => {
            feed(BatchAccepted { round: 0, len: 4 });
            feed(BatchValidated { have: 1 });
            feed(TopUpTimeout);
        }
        From::Complete => {
            feed(BatchAccepted { round: 0, len: 4 });
            feed(WalkDone {
                checks_pending: false,
                short: None,
            });
        }
    }
    p
}

const WAIT_DONE: Event = WalkDone {
    checks_pending: false,
    short: None,
};

/// One event of each kind.
fn events() -> Vec<Event> {
    vec![
        BatchAccepted { round: 0, len: 4 },
        BatchAccepted { round: 1, len: 3 },
        ExhaustedAccepted,
        BatchValidated { have: 1 },
        WAIT_DONE,
        Cancel,
        Deadline,
        JournalFaulted,
        Shutdown,
        StreamEnded,
        ProtocolError,
        BufferTimeout,
        TopUpTimeout,
        OutOfFunds,
    ]
}

const BUFFER: Phase = Phase::AwaitingBuffer { max: 4 };
const TOPUP: Phase = Phase::AwaitingTopUp { round: 1, count: 3 };
const WALKING: Phase = Phase::Walking;
const NO_TOPUPS: Phase = Phase::NoTopUps;
const COMPLETE: Phase = Phase::Ended(Ending::Complete);
const REFUSED: Phase = Phase::Ended(Ending::Refused);
const ABANDONED: Phase = Phase::Ended(Ending::Abandoned);

fn stop(r: StopReason) -> Vec<Action> {
    vec![Stop(r), CancelWalk]
}

fn stop_topup(r: StopReason) -> Vec<Action> {
    vec![
        Stop(r),
        EndTopUp {
            answer: TopUpAnswer::Stopped,
            received: 0,
        },
        CancelWalk,
    ]
}

fn end_topup(answer: TopUpAnswer, received: u32) -> Action {
    EndTopUp { answer, received }
}

const REFUSE: [Action; 3] = [CancelWalk, DropChecks, Finish(Ending::Refused)];

/// (from, event, phase after, actions).
fn table() -> Vec<(From, Event, Phase, Vec<Action>)> {
    use StopReason as R;
    use TopUpAnswer as A;
    let b0 = BatchAccepted { round: 0, len: 4 };
    let b1 = BatchAccepted { round: 1, len: 3 };
    let have1 = BatchValidated { have: 1 };
    vec![
        // Waiting for the buffer.
        (From::Buffer, b0, WALKING, vec![]),
        (From::Buffer, b1, BUFFER, vec![]),
        (From::Buffer, ExhaustedAccepted, BUFFER, vec![]),
        (From::Buffer, have1, BUFFER, vec![CloseWalk]),
        (From::Buffer, WAIT_DONE, BUFFER, vec![]),
        (From::Buffer, Cancel, NO_TOPUPS, stop(R::Cancelled)),
        (From::Buffer, Deadline, NO_TOPUPS, stop(R::Deadline)),
        (
            From::Buffer,
            JournalFaulted,
            NO_TOPUPS,
            stop(R::JournalUnwritable),
        ),
        (
            From::Buffer,
            Shutdown,
            ABANDONED,
            vec![
                CancelWalk,
                Finish(Ending::Abandoned),
                Stop(R::Shutdown),
                CancelWalk,
            ],
        ),
        (
            From::Buffer,
            StreamEnded,
            ABANDONED,
            vec![CancelWalk, Finish(Ending::Abandoned)],
        ),
        (From::Buffer, ProtocolError, REFUSED, REFUSE.to_vec()),
        (
            From::Buffer,
            BufferTimeout,
            ABANDONED,
            vec![FailNoBuffer, CancelWalk, Finish(Ending::Abandoned)],
        ),
        (From::Buffer, TopUpTimeout, BUFFER, vec![]),
        (From::Buffer, OutOfFunds, BUFFER, vec![]),
        // Walking, no request outstanding.
        (From::Walking, b0, WALKING, vec![]),
        (From::Walking, b1, WALKING, vec![]),
        (From::Walking, ExhaustedAccepted, WALKING, vec![]),
        (From::Walking, have1, TOPUP, vec![RequestTopUp(ASK1)]),
        (
            From::Walking,
            WAIT_DONE,
            COMPLETE,
            vec![Finish(Ending::Complete)],
        ),
        (From::Walking, Cancel, NO_TOPUPS, stop(R::Cancelled)),
        (From::Walking, Deadline, NO_TOPUPS, stop(R::Deadline)),
        (
            From::Walking,
            JournalFaulted,
            NO_TOPUPS,
            stop(R::JournalUnwritable),
        ),
        (From::Walking, Shutdown, NO_TOPUPS, stop(R::Shutdown)),
        (From::Walking, StreamEnded, NO_TOPUPS, vec![]),
        (From::Walking, ProtocolError, REFUSED, REFUSE.to_vec()),
        (From::Walking, BufferTimeout, WALKING, vec![]),
        (From::Walking, TopUpTimeout, WALKING, vec![]),
        (From::Walking, OutOfFunds, NO_TOPUPS, vec![]),
        // A top-up request (round 1, count 3) outstanding.
        (From::TopUp, b0, TOPUP, vec![]),
        (From::TopUp, b1, WALKING, vec![end_topup(A::Batch, 3)]),
        (
            From::TopUp,
            ExhaustedAccepted,
            WALKING,
            vec![end_topup(A::Exhausted, 0), CloseWalk],
        ),
        (From::TopUp, have1, TOPUP, vec![CloseWalk]),
        (
            From::TopUp,
            WAIT_DONE,
            COMPLETE,
            vec![Finish(Ending::Complete)],
        ),
        (From::TopUp, Cancel, NO_TOPUPS, stop_topup(R::Cancelled)),
        (From::TopUp, Deadline, NO_TOPUPS, stop_topup(R::Deadline)),
        (
            From::TopUp,
            JournalFaulted,
            NO_TOPUPS,
            stop_topup(R::JournalUnwritable),
        ),
        (
            From::TopUp,
            Shutdown,
            NO_TOPUPS,
            vec![
                end_topup(A::Lost, 0),
                CloseWalk,
                Stop(R::Shutdown),
                CancelWalk,
            ],
        ),
        (
            From::TopUp,
            StreamEnded,
            NO_TOPUPS,
            vec![end_topup(A::Lost, 0), CloseWalk],
        ),
        (
            From::TopUp,
            ProtocolError,
            REFUSED,
            [vec![end_topup(A::Stopped, 0)], REFUSE.to_vec()].concat(),
        ),
        (From::TopUp, BufferTimeout, TOPUP, vec![]),
        (
            From::TopUp,
            TopUpTimeout,
            NO_TOPUPS,
            vec![end_topup(A::TimedOut, 0), CloseWalk],
        ),
        (From::TopUp, OutOfFunds, TOPUP, vec![]),
        // No more top-ups (the request timed out; the stream is still read).
        (From::NoTopUps, b0, NO_TOPUPS, vec![]),
        (From::NoTopUps, b1, NO_TOPUPS, vec![]),
        (From::NoTopUps, ExhaustedAccepted, NO_TOPUPS, vec![]),
        (From::NoTopUps, have1, NO_TOPUPS, vec![CloseWalk]),
        (
            From::NoTopUps,
            WAIT_DONE,
            COMPLETE,
            vec![Finish(Ending::Complete)],
        ),
        (From::NoTopUps, Cancel, NO_TOPUPS, stop(R::Cancelled)),
        (From::NoTopUps, Deadline, NO_TOPUPS, stop(R::Deadline)),
        (
            From::NoTopUps,
            JournalFaulted,
            NO_TOPUPS,
            stop(R::JournalUnwritable),
        ),
        (From::NoTopUps, Shutdown, NO_TOPUPS, stop(R::Shutdown)),
        (From::NoTopUps, StreamEnded, NO_TOPUPS, vec![]),
        (From::NoTopUps, ProtocolError, REFUSED, REFUSE.to_vec()),
        (From::NoTopUps, BufferTimeout, NO_TOPUPS, vec![]),
        (From::NoTopUps, TopUpTimeout, NO_TOPUPS, vec![]),
        (From::NoTopUps, OutOfFunds, NO_TOPUPS, vec![]),
        // Ended: orders in flight settle; a stop still cancels those not sent yet.
        (From::Complete, b0, COMPLETE, vec![]),
        (From::Complete, b1, COMPLETE, vec![]),
        (From::Complete, ExhaustedAccepted, COMPLETE, vec![]),
        (From::Complete, have1, COMPLETE, vec![CloseWalk]),
        (From::Complete, WAIT_DONE, COMPLETE, vec![]),
        (From::Complete, Cancel, COMPLETE, stop(R::Cancelled)),
        (From::Complete, Deadline, COMPLETE, stop(R::Deadline)),
        (
            From::Complete,
            JournalFaulted,
            COMPLETE,
            stop(R::JournalUnwritable),
        ),
        (From::Complete, Shutdown, COMPLETE, stop(R::Shutdown)),
        (From::Complete, StreamEnded, COMPLETE, vec![]),
        (From::Complete, ProtocolError, REFUSED, REFUSE.to_vec()),
        (From::Complete, BufferTimeout, COMPLETE, vec![]),
        (From::Complete, TopUpTimeout, COMPLETE, vec![]),
        (From::Complete, OutOfFunds, COMPLETE, vec![]),
    ]
}

#[test]
fn every_phase_and_event() {
    let table = table();
    // The table covers every (phase, event) pair once.
    let mut seen = HashSet::new();
    for (from, event, ..) in &table {
        assert!(seen.insert((*from, *event)), "{from:?} × {event:?} twice");
    }
    for from in ALL {
        for event in events() {
            assert!(
                seen.contains(&(from, event)),
                "{from:?} × {event:?} missing"
            );
        }
    }
    for (from, event, phase, actions) in table {
        let mut p = at(from);
        let got = p.on(event);
        assert_eq!((p.phase(), &got), (phase, &actions), "{from:?} × {event:?}");
    }
}

/// Exhaustive: a new kind of event does not compile here until `events()` has it.
fn kind(e: Event) -> usize {
    match e {
        BatchAccepted { .. } => 0,
        ExhaustedAccepted => 1,
        BatchValidated { .. } => 2,
        WalkDone { .. } => 3,
        Cancel => 4,
        Deadline => 5,
        JournalFaulted => 6,
        Shutdown => 7,
        StreamEnded => 8,
        ProtocolError => 9,
        BufferTimeout => 10,
        TopUpTimeout => 11,
        OutOfFunds => 12,
    }
}

#[test]
fn every_event_kind_is_in_the_table() {
    let kinds: HashSet<usize> = events().into_iter().map(kind).collect();
    assert_eq!(kinds, (0..13).collect());
}

#[test]
fn empty_batches_close_the_walk_and_use_up_the_list() {
    let mut p = fresh();
    assert_eq!(p.on(BatchAccepted { round: 0, len: 0 }), vec![CloseWalk]);
    // The list is used up: no top-up is asked.
    assert_eq!(p.on(BatchValidated { have: 0 }), vec![CloseWalk]);
    let mut p = at(From::TopUp);
    assert_eq!(
        p.on(BatchAccepted { round: 1, len: 0 }),
        vec![end_topup(TopUpAnswer::Batch, 0), CloseWalk]
    );
    assert_eq!(p.phase(), WALKING);
}

#[test]
fn rounds_stop_at_the_planner_limit() {
    let mut p = at(From::TopUp);
    p.on(BatchAccepted { round: 1, len: 3 });
    let ask2 = TopUpAsk {
        needed: 2,
        round: 2,
        count: 3,
    };
    assert_eq!(p.on(BatchValidated { have: 1 }), vec![RequestTopUp(ask2)]);
    p.on(BatchAccepted { round: 2, len: 3 });
    // Two rounds asked: the third is not.
    assert_eq!(p.on(BatchValidated { have: 1 }), vec![CloseWalk]);
    // Enough successes: none is asked either.
    let mut p = at(From::Walking);
    assert_eq!(p.on(BatchValidated { have: 3 }), vec![CloseWalk]);
}

#[test]
fn walk_done_waits_for_checks_and_tops_up_after_failures() {
    let mut p = at(From::Walking);
    let pending = WalkDone {
        checks_pending: true,
        short: Some(1),
    };
    assert_eq!(p.on(pending), vec![]);
    assert_eq!(p.phase(), WALKING);
    let short = WalkDone {
        checks_pending: false,
        short: Some(1),
    };
    assert_eq!(p.on(short), vec![ReopenWalk, RequestTopUp(ASK1)]);
    assert_eq!(p.phase(), TOPUP);
    // Short after top-ups are over: the session completes.
    let mut p = at(From::NoTopUps);
    assert_eq!(p.on(short), vec![Finish(Ending::Complete)]);
    // Short, but the planner has nothing left to ask.
    let mut p = at(From::Walking);
    p.on(BatchValidated { have: 1 });
    p.on(ExhaustedAccepted);
    assert_eq!(p.on(short), vec![Finish(Ending::Complete)]);
}

#[test]
fn admit_checks_the_awaited_round_and_drops_late_answers() {
    let check = |awaiting, max_signals| Admit::Check {
        awaiting,
        max_signals,
    };
    assert_eq!(at(From::Buffer).admit(0), check(Some(0), 4));
    assert_eq!(at(From::TopUp).admit(1), check(Some(1), 3));
    assert_eq!(at(From::Walking).admit(1), check(None, 0));
    assert_eq!(at(From::Complete).admit(0), check(None, 0));
    // After a timed-out request, later rounds are dropped; a round 0 is still an error.
    let timed_out = at(From::NoTopUps);
    assert_eq!(timed_out.admit(1), Admit::Ignore);
    assert_eq!(timed_out.admit(0), check(None, 0));
    // After a stop, everything is dropped.
    let mut p = at(From::TopUp);
    p.on(Cancel);
    assert_eq!(p.admit(0), Admit::Ignore);
    assert_eq!(p.admit(1), Admit::Ignore);
}

#[test]
fn the_first_stop_reason_stands() {
    let mut p = at(From::Walking);
    p.on(Deadline);
    assert_eq!(p.on(Cancel), vec![]);
    assert_eq!(p.on(Shutdown), vec![]);
    assert_eq!(p.stopped(), Some(StopReason::Deadline));
    assert!(!p.deadline_armed());
    assert_eq!(StopReason::JournalUnwritable.as_str(), "journal_unwritable");
    assert_eq!(StopReason::Cancelled.to_string(), "cancelled");
    assert_eq!(TopUpAnswer::TimedOut.as_str(), "timed_out");
}

#[test]
fn timers_and_the_stream() {
    let p = fresh();
    assert!(p.buffer_timer_armed() && !p.topup_timer_armed() && p.deadline_armed());
    let p = at(From::TopUp);
    assert!(!p.buffer_timer_armed() && p.topup_timer_armed());
    // A timed-out request still reads the stream (for a Cancel), with no timer left.
    let p = at(From::NoTopUps);
    assert!(p.inbound_open() && !p.topup_timer_armed());
    for e in [StreamEnded, ProtocolError] {
        let mut p = at(From::TopUp);
        p.on(e);
        assert!(!p.inbound_open() && !p.topup_timer_armed(), "{e:?}");
    }
    let mut p = fresh();
    p.on(BufferTimeout);
    assert!(!p.inbound_open() && !p.buffer_timer_armed());
    assert_eq!(p.ending(), Some(Ending::Abandoned));
    // A shutdown leaves the stream to be read; the buffer's timer stops with the session.
    let mut p = fresh();
    p.on(Shutdown);
    assert!(p.inbound_open() && !p.buffer_timer_armed());
}

#[test]
fn an_ended_session_ends_once_unless_refused() {
    for ending in [Ending::Refused, Ending::Abandoned] {
        for event in events() {
            let mut p = fresh();
            match ending {
                Ending::Refused => p.on(ProtocolError),
                _ => p.on(BufferTimeout),
            };
            let acts = p.on(event);
            let want = if event == ProtocolError {
                Ending::Refused
            } else {
                ending
            };
            assert_eq!(p.ending(), Some(want), "{ending:?} × {event:?}");
            assert!(
                event == ProtocolError || !acts.iter().any(|a| matches!(a, Finish(_))),
                "{ending:?} × {event:?}: {acts:?}"
            );
        }
    }
}
