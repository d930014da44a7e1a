//! Signal files for `publish`, checked whole before anything is sent (one error per bad record).

mod csv;
mod json;

pub(crate) use json::draft as draft_from_value;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use wavegate_common::Signal;
use wavegate_common::signal::SignalDraft;
use wavegate_common::time::wave_id;

use crate::args::Format;

/// At most this many errors are reported for one file; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// Longest reason quoted in an error, in characters; the rest is cut with `…`.
pub const MAX_REASON_CHARS: usize = 200;
/// Longest field name quoted in an error.
const MAX_FIELD_CHARS: usize = 64;

/// `s` cut to `max` characters, with `… (N bytes)` saying how long it was.
fn excerpt(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}… ({} bytes)", &s[..cut], s.len()),
    }
}

/// Line ends of a document, so a line lookup is a binary search (a rescan is quadratic).
pub(super) struct Lines(Vec<usize>);

impl Lines {
    pub(super) fn new(text: &str) -> Self {
        Self(text.match_indices('\n').map(|(i, _)| i).collect())
    }

    /// 1-based line of byte offset `at`.
    pub(super) fn of(&self, at: usize) -> usize {
        self.0.partition_point(|&nl| nl < at) + 1
    }
}

/// One bad record: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// File name as given (`<stdin>` for `-`).
    pub source: String,
    /// 1-based line of the record or of the offending field.
    pub line: usize,
    /// Offending field, when one is at fault.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}:{}: {field}: {}", self.source, self.line, self.reason),
            None => write!(f, "{}:{}: {}", self.source, self.line, self.reason),
        }
    }
}

/// A checked signal and the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSignal {
    /// 1-based line where its record starts.
    pub line: usize,
    /// The checked signal.
    pub signal: Signal,
}

/// A record before checking: its draft, or why it could not become one.
pub(crate) struct Record {
    /// 1-based line where the record starts.
    pub line: usize,
    /// Finds the line of a field inside the record (JSON records span lines).
    pub field_line: Box<dyn Fn(&str) -> usize>,
    /// The draft, or (field, reason).
    pub draft: Result<SignalDraft, (Option<String>, String)>,
}

/// The records of `text` in `format`'s container, or the one its first character shows.
fn records(text: &str, format: Format) -> Result<Vec<Record>, (usize, String)> {
    let tradingbot = match format {
        Format::Tradingbot => Some(true),
        Format::Auto => None,
        _ => Some(false),
    };
    match (format, text.trim_start().chars().next()) {
        (Format::Csv, _) => csv::records(text),
        (Format::Ndjson, _) => json::ndjson(text, tradingbot),
        (_, Some('[')) => json::array(text, tradingbot),
        (_, Some('{')) if serde_json::from_str::<serde_json::Value>(text).is_ok() => {
            json::single(text, tradingbot)
        }
        (_, Some('{')) => json::ndjson(text, tradingbot),
        // The reference's database export is CSV.
        (Format::Auto | Format::Tradingbot, _) => csv::records(text),
        // Explicit JSON that does not look like JSON: let the JSON parser say why.
        _ => json::array(text, tradingbot),
    }
}

/// Parses and checks every signal; `source` names the input, `now` fills `created_at`.
pub fn parse_signals(
    source: &str,
    text: &str,
    format: Format,
    interval_secs: i64,
    now: DateTime<Utc>,
) -> Result<Vec<ParsedSignal>, Vec<InputError>> {
    // A 50 MB header cell or JSON string must not come back whole.
    let err = |line: usize, field: Option<String>, reason: String| InputError {
        source: source.to_owned(),
        line,
        field: field.map(|f| excerpt(&f, MAX_FIELD_CHARS)),
        reason: excerpt(&reason, MAX_REASON_CHARS),
    };
    let records = records(text, format).map_err(|(line, reason)| vec![err(line, None, reason)])?;
    if records.is_empty() {
        return Err(vec![err(1, None, "no signals in the input".into())]);
    }

    let mut errors = Vec::new();
    let mut out = Vec::new();
    // (wave id, signal id) → line of first occurrence: ids are unique per wave.
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    for r in records {
        let draft = match r.draft {
            Ok(d) => d,
            Err((field, reason)) => {
                let line = field.as_deref().map_or(r.line, |f| (r.field_line)(f));
                errors.push(err(line, field, reason));
                continue;
            }
        };
        match draft.check(interval_secs, now) {
            Ok(signal) => {
                let key = (wave_id(signal.wave_timestamp()), signal.id());
                if let Some(first) = seen.get(&key) {
                    errors.push(err(
                        (r.field_line)("id"),
                        Some("id".into()),
                        format!(
                            "{} appears twice in wave {} (first at line {first})",
                            key.1, key.0
                        ),
                    ));
                    continue;
                }
                seen.insert(key, r.line);
                out.push(ParsedSignal {
                    line: r.line,
                    signal,
                });
            }
            Err(e) => errors.push(err((r.field_line)(e.field), Some(e.field.into()), e.reason)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests;
