//! JSON containers: an array of signals, one signal object, NDJSON (one object per line), or
//! the reference bot's signal-server message `{"type":"signals","timestamp":…,"count":N,
//! "data":[record,…]}` (its records in the reference form).
//!
//! Records are parsed field by field so that a wrong type names its field (`score_week:
//! invalid type: string "high", expected f64`), and each record remembers where it starts so
//! errors carry the line of the record or of the offending field.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wavegate_common::signal::{SignalDraft, TradingbotSignal};

use super::{Lines, Record};

/// Keys only the reference bot's form has; their presence selects it in auto mode.
const TRADINGBOT_KEYS: [&str; 3] = ["pair_symbol", "recommended_action", "max_trades_filter"];

/// 1-based line of byte offset `at` in `text` (within one record).
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// Deserializes `map` into `T`, one key at a time first so an error names its key.
fn fieldwise<T: DeserializeOwned>(map: &Map<String, Value>) -> Result<T, (Option<String>, String)> {
    for (k, v) in map {
        let mut one = Map::new();
        one.insert(k.clone(), v.clone());
        if let Err(e) = serde_json::from_value::<T>(Value::Object(one)) {
            return Err((Some(k.clone()), e.to_string()));
        }
    }
    serde_json::from_value(Value::Object(map.clone())).map_err(|e| (None, e.to_string()))
}

/// Turns one JSON value into a draft. `tradingbot`: `None` = decide from the keys.
pub(crate) fn draft(
    value: Value,
    tradingbot: Option<bool>,
) -> Result<SignalDraft, (Option<String>, String)> {
    let Value::Object(map) = value else {
        return Err((None, "expected a signal object".into()));
    };
    let is_bot = tradingbot.unwrap_or_else(|| TRADINGBOT_KEYS.iter().any(|k| map.contains_key(*k)));
    if is_bot {
        let bot: TradingbotSignal = fieldwise(&map)?;
        bot.into_draft()
            .map_err(|e| (Some(e.field.to_owned()), e.reason))
    } else {
        fieldwise(&map)
    }
}

/// A record spanning `text[start..end]`.
fn record(
    text: &str,
    lines: &Lines,
    (start, end): (usize, usize),
    value: Value,
    tradingbot: Option<bool>,
) -> Record {
    let line = lines.of(start);
    let body = text[start..end].to_owned();
    Record {
        line,
        // `params.max_trades` is found as `"max_trades"`; the first occurrence is good enough
        // for a line number.
        field_line: Box::new(move |field: &str| {
            let key = field.rsplit('.').next().unwrap_or(field);
            body.find(&format!("\"{key}\""))
                .map_or(line, |at| line + line_of(&body, at) - 1)
        }),
        draft: draft(value, tradingbot),
    }
}

fn syntax(e: &serde_json::Error) -> (usize, String) {
    (e.line().max(1), format!("invalid JSON: {e}"))
}

/// A JSON array of signal objects.
pub(super) fn array(text: &str, tradingbot: Option<bool>) -> Result<Vec<Record>, (usize, String)> {
    // Validate the whole document first: the scanner below may then assume valid JSON.
    let values: Vec<Value> = serde_json::from_str(text).map_err(|e| syntax(&e))?;
    let spans = element_spans(text);
    if spans.len() != values.len() {
        // Cannot happen for valid JSON; refuse rather than mislabel lines.
        return Err((1, "could not locate the array's elements".into()));
    }
    let lines = Lines::new(text);
    Ok(values
        .into_iter()
        .zip(spans)
        .map(|(v, span)| record(text, &lines, span, v, tradingbot))
        .collect())
}

/// A single signal object, or a signal-server message.
pub(super) fn single(text: &str, tradingbot: Option<bool>) -> Result<Vec<Record>, (usize, String)> {
    let v: Value = serde_json::from_str(text).map_err(|e| syntax(&e))?;
    if v.get("type").is_some() {
        return envelope(text, v, tradingbot);
    }
    let start = text.len() - text.trim_start().len();
    let lines = Lines::new(text);
    Ok(vec![record(
        text,
        &lines,
        (start, text.len()),
        v,
        tradingbot,
    )])
}

/// The signal server's `signals` message (issue 10: `{"type":"signals","timestamp":<naive
/// local time>,"count":N,"data":[record,…]}`): its `data` records, in the reference form
/// unless the format says otherwise. Any other message type holds no signals and is refused.
fn envelope(
    text: &str,
    v: Value,
    tradingbot: Option<bool>,
) -> Result<Vec<Record>, (usize, String)> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind != "signals" {
        return Err((
            1,
            format!("a {{\"type\":{kind:?}}} message holds no signals (expected \"signals\")"),
        ));
    }
    let Some(Value::Array(data)) = v.get("data") else {
        return Err((1, "a signals message without a \"data\" array".into()));
    };
    if let Some(count) = v.get("count").and_then(Value::as_u64)
        && count != data.len() as u64
    {
        return Err((
            1,
            format!("count says {count} but data holds {} records", data.len()),
        ));
    }
    // Line numbers: the `data` member among the object's members, then its elements.
    let (base, array_text) = element_spans(text)
        .into_iter()
        .map(|(s, e)| (s, &text[s..e]))
        .find(|(_, m)| m.starts_with("\"data\""))
        .and_then(|(s, m)| m.find('[').map(|i| (s + i, &m[i..])))
        .ok_or((1, "could not locate the data array".to_owned()))?;
    let spans = element_spans(array_text);
    if spans.len() != data.len() {
        return Err((1, "could not locate the data array's elements".into()));
    }
    let tradingbot = tradingbot.or(Some(true));
    let lines = Lines::new(text);
    Ok(data
        .iter()
        .zip(spans)
        .map(|(v, (s, e))| record(text, &lines, (base + s, base + e), v.clone(), tradingbot))
        .collect())
}

/// One JSON object per non-blank line.
pub(super) fn ndjson(text: &str, tradingbot: Option<bool>) -> Result<Vec<Record>, (usize, String)> {
    let mut out = Vec::new();
    let mut offset = 0;
    let lines = Lines::new(text);
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += raw.len();
        if raw.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(raw).map_err(|e| (i + 1, format!("invalid JSON: {e}")))?;
        out.push(record(text, &lines, (start, offset), v, tradingbot));
    }
    Ok(out)
}

/// Byte spans of the top-level elements of a valid JSON array.
fn element_spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let mut start: Option<usize> = None;
    for (i, &c) in b.iter().enumerate() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
            }
            b'[' | b'{' => {
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
                depth += 1;
            }
            b']' | b'}' => {
                if depth == 1
                    && let Some(s) = start.take()
                {
                    spans.push((s, i));
                }
                depth = depth.saturating_sub(1);
            }
            b',' if depth == 1 => {
                if let Some(s) = start.take() {
                    spans.push((s, i));
                }
            }
            c if depth == 1 && start.is_none() && !c.is_ascii_whitespace() => start = Some(i),
            _ => {}
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_nested_values_and_strings_with_brackets() {
        let t = r#"[ {"a": [1, {"b": "x],}"}]}, 3 , "s,]" ]"#;
        let spans = element_spans(t);
        let parts: Vec<&str> = spans.iter().map(|&(s, e)| t[s..e].trim()).collect();
        assert_eq!(parts, vec![r#"{"a": [1, {"b": "x],}"}]}"#, "3", r#""s,]""#]);
    }

    #[test]
    fn line_index_matches_a_scan() {
        let t = "a\nbb\n\nccc\n";
        let lines = Lines::new(t);
        for at in 0..=t.len() {
            assert_eq!(lines.of(at), line_of(t, at), "offset {at}");
        }
    }

    #[test]
    fn empty_array_has_no_spans() {
        assert!(element_spans("[ ]").is_empty());
    }
}
