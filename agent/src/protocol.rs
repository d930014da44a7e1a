//! Checks of `ExecuteWave` messages (pure): a batch is checked whole before any order of it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use wavegate_common::plan;
use wavegate_common::proto::PROTOCOL_VERSION;
use wavegate_common::proto::v1 as pb;
use wavegate_common::signal::Signal;
use wavegate_common::stats::ParamsSource;
use wavegate_common::time::{DEFAULT_INTERVAL_SECS, from_proto};
use wavegate_common::walk::Mode;

use crate::config::AgentConfig;
use crate::error::ProtocolError;
use crate::exchange::LeverageSetting;

mod position;

pub use crate::journal::Trailing;

/// A checked `Start`: what the session needs to run the wave.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveStart {
    /// Coordinator's wave id.
    pub wave_id: String,
    /// Exchange id (equal to the agent's).
    pub exchange_id: u32,
    /// Exchange name for the statistics.
    pub exchange_name: String,
    /// Target.
    pub max_trades: u32,
    /// Buffer size.
    pub buffer_size: u32,
    /// Signals the exchange has in the wave.
    pub total_signals: u32,
    /// Top-up rounds allowed.
    pub max_topup_rounds: u32,
    /// Ask for more after execution failures.
    pub topup_after_failures: bool,
    /// Execution mode (Start's, else the agent's).
    pub mode: Mode,
    /// Nothing is sent after this instant.
    pub deadline: Option<DateTime<Utc>>,
    /// Stop distance in percent (wave params, else agent config).
    pub stop_loss_percent: f64,
    /// Where the params came from.
    pub params_source: ParamsSource,
    /// Trailing stop (params, else `[positions]`); `None` unless both distances are given.
    pub trailing: Option<Trailing>,
    /// Leverage and margin mode set before each entry (wave params, else `[positions]`).
    pub leverage: LeverageSetting,
    /// Entry size in USD before lot rounding (`position_size_usd`, else the adapter's).
    pub notional: crate::exchange::Decimal,
}

/// A param percentage in (0, 100), else the config's; the error names the field.
fn percent_param(
    field: &str,
    v: Option<f64>,
    fallback: Option<f64>,
) -> Result<Option<f64>, ProtocolError> {
    match v {
        None => Ok(fallback),
        Some(p) if p.is_finite() && p > 0.0 && p < 100.0 => Ok(Some(p)),
        Some(p) => Err(ProtocolError::field(
            field,
            format!("must be a finite percentage in (0, 100), got {p}"),
        )),
    }
}

/// Checks a `Start` against the agent's config.
pub fn check_start(s: &pb::Start, cfg: &AgentConfig) -> Result<WaveStart, ProtocolError> {
    if s.protocol_version != PROTOCOL_VERSION {
        return Err(ProtocolError::Version {
            supported: PROTOCOL_VERSION,
            got: s.protocol_version,
        });
    }
    let p = s
        .params
        .as_ref()
        .ok_or_else(|| ProtocolError::field("params", "missing"))?;
    if p.exchange_id != cfg.exchange_id {
        return Err(ProtocolError::field(
            "params.exchange_id",
            format!(
                "agent serves exchange {}, got {}",
                cfg.exchange_id, p.exchange_id
            ),
        ));
    }
    for (bad, field, reason) in [
        (p.max_trades == 0, "params.max_trades", "must be at least 1"),
        (s.wave_id.is_empty(), "wave_id", "missing"),
        (
            s.wave_id.len() > 128,
            "wave_id",
            "longer than 128 characters",
        ),
        (s.total_signals == 0, "total_signals", "must be at least 1"),
    ] {
        if bad {
            return Err(ProtocolError::field(field, reason));
        }
    }
    let stop_loss_percent = percent_param("params.stop_loss_percent", p.stop_loss_percent, None)?
        .unwrap_or(cfg.stop_loss_percent);
    let activation = percent_param(
        "params.trailing_activation_percent",
        p.trailing_activation_percent,
        cfg.positions.trailing_activation_percent,
    )?;
    let distance = percent_param(
        "params.trailing_distance_percent",
        p.trailing_distance_percent,
        cfg.positions.trailing_distance_percent,
    )?;
    let trailing = activation.zip(distance).map(|(a, d)| Trailing {
        activation_percent: a,
        distance_percent: d,
    });
    let (leverage, notional) = position::resolve(p, cfg)?;
    let mode = match pb::ExecutionMode::try_from(s.mode) {
        Ok(pb::ExecutionMode::Unspecified) => cfg.execution_mode,
        Ok(pb::ExecutionMode::Sequential) => Mode::Sequential,
        Ok(pb::ExecutionMode::Windowed) => Mode::Windowed,
        Err(_) => {
            return Err(ProtocolError::field(
                "mode",
                format!("unknown execution mode {}", s.mode),
            ));
        }
    };
    let deadline = match &s.deadline {
        None => None,
        Some(t) => {
            Some(from_proto(t).ok_or_else(|| ProtocolError::field("deadline", "out of range"))?)
        }
    };
    let buffer_size = if p.buffer_size == 0 {
        plan::buffer_size(p.max_trades, plan::DEFAULT_BUFFER_FIXED)
    } else {
        p.buffer_size
    };
    let exchange_name = if p.exchange_name.is_empty() {
        cfg.exchange_name.clone()
    } else {
        p.exchange_name.clone()
    };
    Ok(WaveStart {
        wave_id: s.wave_id.clone(),
        exchange_id: p.exchange_id,
        exchange_name,
        max_trades: p.max_trades,
        buffer_size,
        total_signals: s.total_signals,
        max_topup_rounds: if s.max_topup_rounds == 0 {
            plan::DEFAULT_MAX_TOPUP_ROUNDS
        } else {
            s.max_topup_rounds
        },
        topup_after_failures: s.topup_after_failures,
        mode,
        deadline,
        stop_loss_percent,
        params_source: ParamsSource::from_proto(p.source),
        trailing,
        leverage,
        notional,
    })
}

/// Checks that a message's `wave_id` is the stream's (an empty one cannot be trusted).
pub fn check_wave_id(field: &str, got: &str, want: &str) -> Result<(), ProtocolError> {
    if got.is_empty() {
        return Err(ProtocolError::field(field, "missing"));
    }
    if got != want {
        return Err(ProtocolError::field(
            field,
            format!("stream is for wave {want:?}, got {got:?}"),
        ));
    }
    Ok(())
}

/// Checks that `round` is the one the agent is waiting for.
pub fn check_round(field: &str, round: u32, awaiting: Option<u32>) -> Result<(), ProtocolError> {
    match awaiting {
        Some(r) if r == round => Ok(()),
        Some(r) => Err(ProtocolError::field(
            field,
            format!("round {round} was not requested (waiting for round {r})"),
        )),
        None => Err(ProtocolError::field(
            field,
            format!("round {round} was not requested"),
        )),
    }
}

/// What the session expects of the next batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchExpect<'a> {
    /// Stream's wave id.
    pub wave_id: &'a str,
    /// Agent's exchange.
    pub exchange_id: u32,
    /// Round being waited for.
    pub awaiting: Option<u32>,
    /// Signals received so far (the rank index the batch must start at).
    pub received: u32,
    /// Signals the exchange has in the wave.
    pub total_signals: u32,
    /// Most signals the batch may hold (the buffer, or the top-up request's `count`).
    pub max_signals: u32,
}

/// Checks a whole batch and returns its signals, in order.
pub fn check_batch(
    b: &pb::SignalBatch,
    want: BatchExpect<'_>,
    seen_ids: &HashSet<i64>,
) -> Result<Vec<Signal>, ProtocolError> {
    check_wave_id("batch.wave_id", &b.wave_id, want.wave_id)?;
    check_round("batch.round", b.round, want.awaiting)?;
    if b.first_index != want.received {
        return Err(ProtocolError::field(
            "batch.first_index",
            format!("expected {}, got {}", want.received, b.first_index),
        ));
    }
    let n = u32::try_from(b.signals.len()).unwrap_or(u32::MAX);
    if n > want.max_signals {
        let asked = if b.round == 0 {
            "the buffer, min(buffer_size, total_signals),"
        } else {
            "the top-up request's count"
        };
        return Err(ProtocolError::field(
            "batch.signals",
            format!(
                "{n} signals in round {} exceed {asked} of {}",
                b.round, want.max_signals
            ),
        ));
    }
    if want.received.saturating_add(n) > want.total_signals {
        return Err(ProtocolError::field(
            "batch.signals",
            format!(
                "{} signals after {} exceed Start.total_signals {}",
                n, want.received, want.total_signals
            ),
        ));
    }
    let now = Utc::now();
    let mut ids = HashSet::with_capacity(b.signals.len());
    b.signals
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let s = Signal::from_proto(p, DEFAULT_INTERVAL_SECS, now)
                .map_err(|e| ProtocolError::field(format!("signals[{i}].{}", e.field), e.reason))?;
            if s.exchange_id() != want.exchange_id {
                return Err(ProtocolError::field(
                    format!("signals[{i}].exchange_id"),
                    format!(
                        "agent serves exchange {}, got {}",
                        want.exchange_id,
                        s.exchange_id()
                    ),
                ));
            }
            if seen_ids.contains(&s.id()) || !ids.insert(s.id()) {
                return Err(ProtocolError::field(
                    format!("signals[{i}].id"),
                    format!("duplicate signal id {} in the wave", s.id()),
                ));
            }
            Ok(s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> pb::Start {
        pb::Start {
            protocol_version: 1,
            wave_id: "W".into(),
            params: Some(pb::ExchangeParams {
                exchange_id: 1,
                max_trades: 3,
                ..Default::default()
            }),
            total_signals: 5,
            ..Default::default()
        }
    }

    fn cfg() -> AgentConfig {
        AgentConfig::paper(1, "binance", "j.db".into())
    }

    #[test]
    fn start_checks_name_the_field() {
        let ok = check_start(&start(), &cfg()).unwrap();
        assert_eq!(ok.buffer_size, 6);
        assert_eq!(ok.max_topup_rounds, 1);
        assert_eq!(ok.exchange_name, "binance");
        assert_eq!(ok.stop_loss_percent, 4.0);
        // The refusal of `start()` changed by `change`.
        let err = |change: &dyn Fn(&mut pb::Start)| {
            let mut s = start();
            change(&mut s);
            check_start(&s, &cfg()).unwrap_err()
        };
        let version = err(&|s| s.protocol_version = 2);
        assert!(matches!(version, ProtocolError::Version { got: 2, .. }));
        assert_eq!(err(&|s| s.params = None).to_string(), "params: missing");
        let e = err(&|s| s.params.as_mut().unwrap().exchange_id = 2).to_string();
        assert_eq!(e, "params.exchange_id: agent serves exchange 1, got 2");
        let e = err(&|s| s.params.as_mut().unwrap().max_trades = 0).to_string();
        assert!(e.starts_with("params.max_trades:"), "{e}");
    }

    #[test]
    fn batch_checks() {
        let sig = |id: i64, sym: &str, ex: u32| pb::Signal {
            id,
            symbol: sym.into(),
            exchange_id: ex,
            action: pb::Action::Buy as i32,
            score_week: 50.0,
            score_month: 50.0,
            ..Default::default()
        };
        let want = BatchExpect {
            wave_id: "W",
            exchange_id: 1,
            awaiting: Some(0),
            received: 0,
            total_signals: 5,
            max_signals: 3,
        };
        let mut b = pb::SignalBatch {
            round: 0,
            first_index: 0,
            signals: vec![sig(1, "BTCUSDT", 1), sig(2, "ETHUSDT", 1)],
            wave_id: String::new(),
        };
        let err = |b: &pb::SignalBatch| {
            check_batch(b, want, &HashSet::new())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err(&b), "batch.wave_id: missing");
        b.wave_id = "W".into();
        assert_eq!(check_batch(&b, want, &HashSet::new()).unwrap().len(), 2);
        let mut big = b.clone();
        big.signals
            .extend([sig(3, "SOLUSDT", 1), sig(4, "XRPUSDT", 1)]);
        assert_eq!(
            err(&big),
            "batch.signals: 4 signals in round 0 exceed the buffer, \
             min(buffer_size, total_signals), of 3"
        );
        b.wave_id = "V".into();
        assert!(err(&b).starts_with("batch.wave_id:"));
        b.wave_id = "W".into();
        b.round = 1;
        assert!(err(&b).starts_with("batch.round:"));
        b.round = 0;
        b.signals.push(sig(3, "bad", 1));
        assert!(err(&b).starts_with("signals[2].symbol:"));
        b.signals[2] = sig(3, "XRPUSDT", 2);
        assert_eq!(
            err(&b),
            "signals[2].exchange_id: agent serves exchange 1, got 2"
        );
        b.signals[2] = sig(1, "XRPUSDT", 1);
        assert!(err(&b).starts_with("signals[2].id:"));
    }
}
