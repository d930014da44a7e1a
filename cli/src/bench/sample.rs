//! The sample waves `wavegate bench` runs; each repetition renames its symbols (`R3BTCUSDT`)
//! since a paper exchange keeps the positions a wave opened.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{floor_to_interval, from_proto, to_proto};

use crate::args::Format;
use crate::error::CliError;
use crate::input::parse_signals;
use crate::samples::{SCENARIOS, WAVE_TOPUP, WAVE_WORKED_EXAMPLE};
use crate::scenario::{World, parse_str};
use wavegate_agent::config::LimitsConfig;

/// Candle interval of the sample waves.
const INTERVAL_SECS: i64 = 900;

/// One sample wave with the scripted worlds it needs.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Short name for tables and JSON: `worked-example` or `topup`.
    pub name: &'static str,
    /// The wave's signals as published (symbols not yet renamed).
    signals: Vec<pb::Signal>,
    /// Paper world per exchange id.
    world: BTreeMap<u32, World>,
}

/// Loads one shipped wave with the world of its replay scenario.
fn load(name: &'static str, wave: &str, scenario: &str) -> Result<Sample, CliError> {
    let now = Utc::now();
    let parsed = parse_signals(name, wave, Format::Json, INTERVAL_SECS, now).map_err(|errs| {
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        CliError::Input(msgs.join("; "))
    })?;
    let world = parse_str(scenario, now)
        .map_err(|e| CliError::Input(format!("{name} scenario: {e}")))?
        .world;
    if world.values().any(|w| !w.stop_fail.is_empty()) {
        // Exchange calls are counted as 2 per opened position + 1 per rejected entry.
        return Err(CliError::Input(format!(
            "{name}: a failing stop would change the call count"
        )));
    }
    Ok(Sample {
        name,
        signals: parsed.into_iter().map(|p| p.signal.to_proto()).collect(),
        world,
    })
}

/// The worked example and the top-up wave.
pub fn samples() -> Result<Vec<Sample>, CliError> {
    Ok(vec![
        load("worked-example", WAVE_WORKED_EXAMPLE, SCENARIOS[0].1)?,
        load("topup", WAVE_TOPUP, SCENARIOS[1].1)?,
    ])
}

/// The symbol `symbol` has in repetition `rep`.
pub fn renamed(rep: usize, symbol: &str) -> String {
    format!("R{rep}{symbol}")
}

/// The exchange ids the samples use, ascending.
pub fn exchange_ids(samples: &[Sample]) -> Vec<u32> {
    let mut ids: Vec<u32> = samples
        .iter()
        .flat_map(|s| s.signals.iter().map(|x| x.exchange_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The world of `exchange_id` for `reps` repetitions of every sample.
pub fn world(samples: &[Sample], exchange_id: u32, reps: usize) -> World {
    let mut w = World::default();
    let rename = |v: &[String], rep: usize| -> Vec<String> {
        v.iter().map(|s| renamed(rep, s)).collect::<Vec<_>>()
    };
    // The paper exchange keeps every position a wave opens, so the account's position limit
    // must hold all repetitions (else later waves fail validation, `max_positions_reached`).
    let mut positions = 0usize;
    for (i, s) in samples.iter().enumerate() {
        let Some(x) = s.world.get(&exchange_id) else {
            continue;
        };
        let signals = s.signals.iter().filter(|x| x.exchange_id == exchange_id);
        positions += reps * (x.open_positions.len() + signals.count());
        for r in 0..reps {
            let rep = repetition(i, r, samples.len());
            w.open_positions.extend(rename(&x.open_positions, rep));
            w.invalid_symbols.extend(rename(&x.invalid_symbols, rep));
            w.exec_fail.extend(rename(&x.exec_fail, rep));
        }
    }
    let default = LimitsConfig::default().max_positions;
    w.max_positions = Some(u32::try_from(positions).unwrap_or(u32::MAX).max(default));
    w
}

/// The repetition number of the `r`-th run of sample `i` (unique across samples).
pub fn repetition(i: usize, r: usize, n_samples: usize) -> usize {
    r * n_samples + i
}

/// Repetition `rep`'s wave start: distinct past candles (never closed by the clock).
pub fn wave_timestamp(now: DateTime<Utc>, rep: usize) -> DateTime<Utc> {
    floor_to_interval(now, INTERVAL_SECS) - Duration::days(1)
        + Duration::seconds(INTERVAL_SECS * rep as i64)
}

impl Sample {
    /// Repetition `rep`'s signals at `ts`: symbols renamed, times moved with the wave.
    pub fn signals(&self, rep: usize, ts: DateTime<Utc>) -> Vec<pb::Signal> {
        self.signals
            .iter()
            .map(|s| {
                let mut s = s.clone();
                let old = s.wave_timestamp.as_ref().and_then(from_proto);
                let created = s.created_at.as_ref().and_then(from_proto);
                if let (Some(old), Some(created)) = (old, created) {
                    s.created_at = Some(to_proto(ts + (created - old)));
                }
                s.wave_timestamp = Some(to_proto(ts));
                s.symbol = renamed(rep, &s.symbol);
                s
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetitions_rename_symbols_and_worlds_alike() {
        let s = samples().unwrap();
        assert_eq!(exchange_ids(&s), vec![1, 2]);
        let now = Utc::now();
        let ts = wave_timestamp(now, 3);
        let sig = s[0].signals(3, ts);
        assert!(sig.iter().all(|x| x.symbol.starts_with("R3")));
        assert!(sig.iter().all(|x| x.wave_timestamp == Some(to_proto(ts))));
        // Every renamed symbol passes the coordinator's symbol rule.
        for x in &sig {
            wavegate_common::signal::check_symbol(&x.symbol).unwrap();
        }
        let w = world(&s, 1, 2);
        // Worked example (sample 0) at repetitions 0 and 2; top-up (sample 1) at 1 and 3.
        assert_eq!(w.exec_fail, vec!["R0XRPUSDT", "R2XRPUSDT"]);
        assert!(w.open_positions.contains(&"R2SOLUSDT".to_owned()));
        assert!(w.invalid_symbols.contains(&"R3LUNAUSDT".to_owned()));
        assert_ne!(wave_timestamp(now, 0), wave_timestamp(now, 1));
    }

    #[test]
    fn the_position_limit_holds_every_repetitions_positions() {
        let s = samples().unwrap();
        let default = LimitsConfig::default().max_positions;
        assert_eq!(world(&s, 1, 2).max_positions, Some(default));
        // 50 waves of each sample: all their signals and pre-opened positions may be open.
        let w = world(&s, 1, 50);
        let signals: usize = s
            .iter()
            .map(|x| x.signals.iter().filter(|x| x.exchange_id == 1).count())
            .sum();
        let need = 50 * (signals + w.open_positions.len() / 50);
        assert!(need > default as usize, "{need}");
        assert_eq!(w.max_positions, Some(u32::try_from(need).unwrap()));
    }
}
