//! Wave timing (docs/design.md §4): signals until `ts + interval + signal_delay + grace`; `ts`
//! a candle open, at most one interval ahead, not older than `max_wave_age`.

use chrono::{DateTime, Utc};
use wavegate_common::time::{floor_to_interval, is_aligned, wave_id};

use crate::config::WaveTiming;
use crate::state::secs;

/// Why a wave timestamp is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not the open time of a candle: a bad request (INVALID_ARGUMENT).
    Misaligned(String),
    /// More than one interval ahead of now: a bad request (INVALID_ARGUMENT).
    Future(String),
    /// Acceptance window over, or older than `max_wave_age` (FAILED_PRECONDITION).
    Late(String),
}

impl Refusal {
    /// The gRPC code of this refusal.
    pub fn code(&self) -> tonic::Code {
        match self {
            Refusal::Misaligned(_) | Refusal::Future(_) => tonic::Code::InvalidArgument,
            Refusal::Late(_) => tonic::Code::FailedPrecondition,
        }
    }

    /// The reason, for the caller.
    pub fn reason(&self) -> &str {
        match self {
            Refusal::Misaligned(r) | Refusal::Future(r) | Refusal::Late(r) => r,
        }
    }
}

/// `wave_timestamp + interval + signal_delay + grace`: a wave's latest closing instant.
pub fn close_by(w: &WaveTiming, ts: DateTime<Utc>) -> DateTime<Utc> {
    ts + secs(w.interval_secs) + secs(w.signal_delay_secs) + secs(w.grace_secs)
}

/// The instant after which a wave is too old to execute.
pub fn too_old_after(w: &WaveTiming, ts: DateTime<Utc>) -> DateTime<Utc> {
    ts + secs(w.max_wave_age_secs)
}

/// The oldest wave timestamp still executable at `now` (the inverse of [`too_old_after`]).
pub fn oldest_executable(w: &WaveTiming, now: DateTime<Utc>) -> DateTime<Utc> {
    now - secs(w.max_wave_age_secs)
}

/// Checks a wave timestamp: aligned, within `[now − max_wave_age, now + interval]`, still open.
pub fn check(w: &WaveTiming, ts: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
    let interval = i64::try_from(w.interval_secs).unwrap_or(i64::MAX);
    if !is_aligned(ts, interval) {
        return Err(Refusal::Misaligned(format!(
            "{} is not the open time of a {}-second candle (that candle opened at {})",
            ts.to_rfc3339(),
            w.interval_secs,
            wave_id(floor_to_interval(ts, interval))
        )));
    }
    if ts > now + secs(w.interval_secs) {
        return Err(Refusal::Future(format!(
            "wave {} is more than one interval ({} s) ahead of now ({})",
            wave_id(ts),
            w.interval_secs,
            wave_id(now)
        )));
    }
    if now > too_old_after(w, ts) {
        return Err(Refusal::Late(format!(
            "late: wave {} is older than max_wave_age_secs ({})",
            wave_id(ts),
            w.max_wave_age_secs
        )));
    }
    let end = close_by(w, ts);
    if now >= end {
        return Err(Refusal::Late(format!(
            "late: wave {} stopped accepting signals at {} \
             (wave_timestamp + interval + signal_delay + grace)",
            wave_id(ts),
            wave_id(end)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 10, 28, h, m, s).unwrap()
    }

    #[test]
    fn a_wave_is_too_old_exactly_when_it_is_older_than_the_oldest_executable() {
        let w = WaveTiming::default();
        let ts = t(18, 15, 0);
        let edge = too_old_after(&w, ts);
        for ms in [-1_000, -1, 0, 1, 1_000] {
            let now = edge + Duration::milliseconds(ms);
            assert_eq!(now > edge, ts < oldest_executable(&w, now), "{ms} ms");
        }
    }

    #[test]
    fn default_window_accepts_the_reference_arrivals_with_margin() {
        let w = WaveTiming::default();
        let candle = t(18, 15, 0);
        // created_at − timestamp is 18 to 19.1 minutes on the reference's feed.
        for after in [18 * 60, 18 * 60 + 30, 19 * 60 + 6, 25 * 60] {
            assert_eq!(check(&w, candle, candle + Duration::seconds(after)), Ok(()));
        }
        let end = close_by(&w, candle);
        assert_eq!(end, t(18, 42, 0));
        assert!(matches!(check(&w, candle, end), Err(Refusal::Late(_))));
    }

    #[test]
    fn misaligned_future_and_old_timestamps_are_refused() {
        let w = WaveTiming::default();
        let now = t(18, 20, 0);
        for bad in [
            t(18, 16, 0),
            t(18, 15, 1),
            t(18, 15, 0) + Duration::milliseconds(5),
        ] {
            let r = check(&w, bad, now).unwrap_err();
            assert_eq!(r.code(), tonic::Code::InvalidArgument, "{r:?}");
            assert!(r.reason().contains("2025-10-28T18:15:00Z"), "{r:?}");
        }
        // The next candle may be announced; the one after it not.
        assert_eq!(check(&w, t(18, 30, 0), now), Ok(()));
        let r = check(&w, t(18, 45, 0), now).unwrap_err();
        assert!(matches!(r, Refusal::Future(_)), "{r:?}");
        let year_2099 = Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap();
        assert!(matches!(check(&w, year_2099, now), Err(Refusal::Future(_))));
        let r = check(&w, t(16, 15, 0), now).unwrap_err();
        assert_eq!(r.code(), tonic::Code::FailedPrecondition);
        assert!(r.reason().contains("max_wave_age_secs"), "{r:?}");
    }
}
