//! Live wave progress from `Waves.Watch`: bars on a terminal, milestone lines otherwise.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::wave_event::Event;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Progress bars on standard error.
    Bars,
    /// Plain lines on standard error (logs, pipes).
    Lines,
    /// Nothing (JSON output).
    Quiet,
}

impl ProgressMode {
    /// Bars when standard error is a terminal, lines otherwise.
    pub fn auto() -> Self {
        if std::io::stderr().is_terminal() {
            ProgressMode::Bars
        } else {
            ProgressMode::Lines
        }
    }
}

/// One exchange: its bar (hidden unless bars are drawn), named by its prefix, and counters.
#[derive(Debug)]
struct ExchangeProgress {
    bar: ProgressBar,
    target: u32,
    executed: u32,
    validated: u32,
    topups: u32,
    failures: u32,
}

impl ExchangeProgress {
    fn message(&self) -> String {
        format!(
            "validated {}  top-ups {}  failures {}",
            self.validated, self.topups, self.failures
        )
    }

    fn redraw(&self) {
        self.bar.set_length(u64::from(self.target.max(1)));
        self.bar.set_position(u64::from(self.executed));
        self.bar.set_message(self.message());
    }
}

/// A bar's layout; a bad one would be a bug caught by the unit test.
const BAR_TEMPLATE: &str = "{prefix:>10} [{bar:30}] {pos}/{len}  {msg}";

/// The progress display of one wave.
#[derive(Debug)]
pub struct WaveProgress {
    mode: ProgressMode,
    multi: MultiProgress,
    exchanges: BTreeMap<u32, ExchangeProgress>,
}

impl WaveProgress {
    /// A display in `mode`.
    pub fn new(mode: ProgressMode) -> Self {
        let target = match mode {
            ProgressMode::Bars => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        };
        Self::with_draw_target(mode, target)
    }

    fn with_draw_target(mode: ProgressMode, target: ProgressDrawTarget) -> Self {
        Self {
            mode,
            multi: MultiProgress::with_draw_target(target),
            exchanges: BTreeMap::new(),
        }
    }

    fn line(&self, text: String) {
        if self.mode == ProgressMode::Lines {
            eprintln!("{text}");
        }
    }

    fn exchange(&mut self, id: u32) -> &mut ExchangeProgress {
        let multi = &self.multi;
        self.exchanges.entry(id).or_insert_with(|| {
            let style = ProgressStyle::with_template(BAR_TEMPLATE)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            let bar = ProgressBar::new(1)
                .with_style(style)
                .with_prefix(format!("exchange {id}"));
            ExchangeProgress {
                bar: multi.add(bar),
                target: 0,
                executed: 0,
                validated: 0,
                topups: 0,
                failures: 0,
            }
        })
    }

    /// Applies one event of the wave.
    pub fn apply(&mut self, ev: &pb::WaveEvent) {
        let Some(event) = &ev.event else { return };
        match event {
            Event::ExchangeStarted(p) => {
                let e = self.exchange(p.exchange_id);
                e.target = p.max_trades;
                e.bar.set_prefix(p.exchange_name.clone());
                e.redraw();
                let text = format!(
                    "{}: started, target {}, buffer {}",
                    p.exchange_name, p.max_trades, p.buffer_size
                );
                self.line(text);
            }
            Event::Outcome(o) => {
                let Some(out) = &o.outcome else { return };
                let e = self.exchange(o.exchange_id);
                match pb::OutcomeKind::try_from(out.kind) {
                    Ok(pb::OutcomeKind::Validated) => e.validated += 1,
                    Ok(pb::OutcomeKind::Executed) => e.executed += 1,
                    Ok(pb::OutcomeKind::ExecutionFailed) => e.failures += 1,
                    _ => {}
                }
                e.redraw();
            }
            Event::Topup(t) => {
                let e = self.exchange(t.exchange_id);
                e.topups += 1;
                e.redraw();
                let text = format!(
                    "{}: top-up round {}: needed {}, sent {}",
                    e.bar.prefix(),
                    t.round,
                    t.needed,
                    t.sent
                );
                self.line(text);
            }
            Event::ExchangeFinished(s) => {
                let stats = wavegate_common::ExchangeStats::from_proto(s);
                let e = self.exchange(s.exchange_id);
                if !s.exchange_name.is_empty() {
                    e.bar.set_prefix(s.exchange_name.clone());
                }
                e.target = s.target;
                e.executed = s.executed;
                e.validated = s.total_for_execution;
                e.failures = s.execution_failed;
                e.topups = s.topup_rounds;
                e.redraw();
                let line = crate::report::summary_line(&stats);
                if s.error.is_empty() && s.target_reached {
                    e.bar.finish_with_message(line.clone());
                } else {
                    // `finish_*` would fill the bar: a missed or skipped one stays as is.
                    e.bar.abandon_with_message(line.clone());
                }
                self.line(format!("finished: {line}"));
            }
            Event::Status(st) => {
                self.line(format!(
                    "wave {}: {}",
                    ev.wave_id,
                    crate::report::status_name(*st)
                ));
            }
            Event::Completed(_) => {}
        }
    }

    /// Stops drawing (bars stay on screen as last drawn).
    pub fn finish(&self) {
        for e in self.exchanges.values().filter(|e| !e.bar.is_finished()) {
            e.bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Event) -> pb::WaveEvent {
        pb::WaveEvent {
            wave_id: "w".into(),
            event: Some(event),
        }
    }

    #[test]
    fn counts_follow_events() {
        let mut p = WaveProgress::new(ProgressMode::Quiet);
        p.apply(&ev(Event::ExchangeStarted(pb::ExchangeParams {
            exchange_id: 1,
            exchange_name: "binance".into(),
            max_trades: 6,
            ..Default::default()
        })));
        for kind in [
            pb::OutcomeKind::Validated,
            pb::OutcomeKind::Executed,
            pb::OutcomeKind::ExecutionFailed,
        ] {
            p.apply(&ev(Event::Outcome(pb::ExchangeOutcome {
                exchange_id: 1,
                outcome: Some(pb::SignalOutcome {
                    kind: kind as i32,
                    ..Default::default()
                }),
            })));
        }
        p.apply(&ev(Event::Topup(pb::TopUpEvent {
            exchange_id: 1,
            round: 1,
            needed: 2,
            sent: 3,
        })));
        let e = &p.exchanges[&1];
        assert_eq!(
            (e.target, e.validated, e.executed, e.failures, e.topups),
            (6, 1, 1, 1, 1)
        );
        assert_eq!(e.message(), "validated 1  top-ups 1  failures 1");
    }

    fn finished(exchange_id: u32, target: u32, executed: u32, error: &str) -> pb::WaveEvent {
        ev(Event::ExchangeFinished(pb::ExchangeStats {
            exchange_id,
            exchange_name: format!("ex{exchange_id}"),
            target,
            executed,
            total_for_execution: executed,
            target_reached: executed >= target && error.is_empty(),
            error: error.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn missed_target_leaves_the_bar_unfilled() {
        let mut p =
            WaveProgress::with_draw_target(ProgressMode::Bars, ProgressDrawTarget::hidden());
        p.apply(&finished(1, 6, 6, ""));
        p.apply(&finished(2, 5, 3, ""));
        p.apply(&finished(3, 0, 0, "no_params"));
        let bar = |id: u32| p.exchanges[&id].bar.clone();
        let (reached, missed, skipped) = (bar(1), bar(2), bar(3));
        assert!(reached.is_finished() && missed.is_finished() && skipped.is_finished());
        assert_eq!((reached.position(), reached.length()), (6, Some(6)));
        assert_eq!((missed.position(), missed.length()), (3, Some(5)));
        assert_eq!((skipped.position(), skipped.length()), (0, Some(1)));
        assert_eq!(missed.message(), "ex2 3/5 (target missed)");
    }

    #[test]
    fn bar_template_is_valid() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
    }
}
