//! Wave timestamps, wave ids and conversions between `chrono` and protobuf timestamps.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};

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

/// Parses a timestamp in any form the reference bot and its signal server write:
/// RFC 3339 (`2025-10-28T18:15:00+00:00`, `…Z`, with or without fractional seconds), a space
/// instead of the `T` and a short offset as PostgreSQL's CSV export writes it
/// (`2025-10-28 18:15:00+00`), and a naive time without offset (`2025-10-27T14:20:00`, as the
/// bot's older documents show), which is read as **UTC**. `None` when it is none of these.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    // `YYYY-MM-DD HH:MM…`: the date/time separator is byte 10.
    let t = match t.as_bytes().get(10) {
        Some(b' ') => format!("{}T{}", &t[..10], &t[11..]),
        _ => t.to_owned(),
    };
    if let Ok(d) = DateTime::parse_from_rfc3339(&t) {
        return Some(d.with_timezone(&Utc));
    }
    // `%#z` takes `+00`, `+0000` and `+00:00`.
    if let Ok(d) = DateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f%#z") {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Serde helpers reading optional timestamps with [`parse_timestamp`] (naive times are UTC).
pub mod lenient {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer};

    /// Deserializes `null`/absent as `None`, a string with [`super::parse_timestamp`].
    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => super::parse_timestamp(&s).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{s:?} is not a timestamp (RFC 3339, `YYYY-MM-DD HH:MM:SS+00`, or naive UTC)"
                ))
            }),
        }
    }
}

/// True when `t` is the open time of a candle of `interval_secs` (whole seconds, a multiple of
/// the interval since the Unix epoch).
pub fn is_aligned(t: DateTime<Utc>, interval_secs: i64) -> bool {
    t.timestamp_subsec_nanos() == 0 && floor_to_interval(t, interval_secs) == t
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
    fn reads_the_reference_forms_and_naive_as_utc() {
        let want = Utc.with_ymd_and_hms(2025, 10, 28, 18, 15, 0).unwrap();
        for text in [
            "2025-10-28T18:15:00+00:00",
            "2025-10-28T18:15:00Z",
            "2025-10-28 18:15:00+00",
            "2025-10-28 18:15:00+0000",
            "2025-10-28T18:15:00",
            "2025-10-28 18:15:00",
            "2025-10-28T20:15:00+02:00",
        ] {
            assert_eq!(parse_timestamp(text), Some(want), "{text}");
        }
        let micros = parse_timestamp("2025-10-28T18:34:01.517343+00:00").unwrap();
        assert_eq!(micros.timestamp_subsec_micros(), 517_343);
        for bad in [
            "",
            "yesterday",
            "2025-10-28",
            "2025-13-28T18:15:00Z",
            "2025-10-28T18:15:00+25",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn alignment_to_the_interval() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 12, 15, 0).unwrap();
        assert!(is_aligned(t, DEFAULT_INTERVAL_SECS));
        assert!(!is_aligned(
            t + chrono::Duration::seconds(60),
            DEFAULT_INTERVAL_SECS
        ));
        assert!(!is_aligned(
            t + chrono::Duration::milliseconds(1),
            DEFAULT_INTERVAL_SECS
        ));
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
