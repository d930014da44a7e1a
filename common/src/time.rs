//! Wave timestamps, wave ids and conversions between `chrono` and protobuf timestamps.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// Default wave interval: 15-minute candles.
pub const DEFAULT_INTERVAL_SECS: i64 = 15 * 60;

/// Rounds `t` down to a multiple of `interval_secs` (the open time of its candle).
///
/// An `interval_secs` below 1 is treated as 1.
pub fn floor_to_interval(t: DateTime<Utc>, interval_secs: i64) -> DateTime<Utc> {
    let interval = interval_secs.max(1);
    let secs = t.timestamp().div_euclid(interval) * interval;
    Utc.timestamp_opt(secs, 0).single().unwrap_or(t)
}

/// The stable id of the wave with this timestamp: RFC 3339 in UTC with second precision,
/// e.g. `2026-11-24T12:00:00Z`.
pub fn wave_id(wave_timestamp: DateTime<Utc>) -> String {
    wave_timestamp.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses a wave id (or any RFC 3339 timestamp) back to its instant.
pub fn parse_wave_id(id: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(id)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Converts to a protobuf timestamp.
pub fn to_proto(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Converts from a protobuf timestamp; `None` when it is out of range or malformed.
pub fn from_proto(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(t.nanos).ok()?;
    Utc.timestamp_opt(t.seconds, nanos).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_to_the_candle_open() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 12, 15, 4).unwrap();
        let w = floor_to_interval(t, DEFAULT_INTERVAL_SECS);
        assert_eq!(wave_id(w), "2026-11-24T12:15:00Z");
        assert_eq!(parse_wave_id(&wave_id(w)), Some(w));
    }

    #[test]
    fn proto_round_trip_and_bad_nanos() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        assert_eq!(from_proto(&to_proto(t)), Some(t));
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(from_proto(&bad), None);
    }
}
