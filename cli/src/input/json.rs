//! JSON containers (array, object, NDJSON, `signals` message), parsed field by field for errors.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use wavegate_common::signal::{SignalDraft, TradingbotSignal};

use super::{Lines, Record};

/// Keys only the reference bot's form has; their presence selects it in auto mode.
const TRADINGBOT_KEYS: [&str; 3] = ["pair_symbol", "recommended_action", "max_trades_filter"];

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

/// The record of `raw`, a slice of `text`.
fn record(text: &str, lines: &Lines, raw: &RawValue, tradingbot: Option<bool>) -> Record {
    let body = raw.get();
    // `raw` borrows from `text`, so the distance of their pointers is the record's offset.
    let line = lines.of((body.as_ptr() as usize).saturating_sub(text.as_ptr() as usize));
    let draft = serde_json::from_str(body)
        .map_err(|e| (None, e.to_string()))
        .and_then(|v| draft(v, tradingbot));
    let body = body.to_owned();
    Record {
        line,
        // `params.max_trades` is found as `"max_trades"`: good enough for a line number.
        field_line: Box::new(move |field: &str| {
            let key = field.rsplit('.').next().unwrap_or(field);
            body.find(&format!("\"{key}\""))
                .map_or(line, |at| line + Lines::new(&body).of(at) - 1)
        }),
        draft,
    }
}

fn syntax(e: &serde_json::Error) -> (usize, String) {
    (e.line().max(1), format!("invalid JSON: {e}"))
}

/// A JSON array of signal objects.
pub(super) fn array(text: &str, tradingbot: Option<bool>) -> Result<Vec<Record>, (usize, String)> {
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| syntax(&e))?;
    let lines = Lines::new(text);
    Ok(items
        .into_iter()
        .map(|raw| record(text, &lines, raw, tradingbot))
        .collect())
}

/// One signal object, or a `signals` message's records; other message types are refused.
pub(super) fn single(text: &str, tradingbot: Option<bool>) -> Result<Vec<Record>, (usize, String)> {
    let v: Value = serde_json::from_str(text).map_err(|e| syntax(&e))?;
    let lines = Lines::new(text);
    let Some(kind) = v.get("type") else {
        let raw: &RawValue = serde_json::from_str(text).map_err(|e| syntax(&e))?;
        return Ok(vec![record(text, &lines, raw, tradingbot)]);
    };
    let kind = kind.as_str().unwrap_or_default();
    if kind != "signals" {
        return Err((
            1,
            format!("a {{\"type\":{kind:?}}} message holds no signals (expected \"signals\")"),
        ));
    }
    let members: HashMap<String, &RawValue> = serde_json::from_str(text).map_err(|e| syntax(&e))?;
    let data: Vec<&RawValue> = members
        .get("data")
        .and_then(|d| serde_json::from_str(d.get()).ok())
        .ok_or((1, "a signals message without a \"data\" array".to_owned()))?;
    if let Some(count) = v.get("count").and_then(Value::as_u64)
        && count != data.len() as u64
    {
        return Err((
            1,
            format!("count says {count} but data holds {} records", data.len()),
        ));
    }
    let tradingbot = tradingbot.or(Some(true));
    Ok(data
        .into_iter()
        .map(|raw| record(text, &lines, raw, tradingbot))
        .collect())
}

/// One JSON object per non-blank line.
pub(super) fn ndjson(text: &str, tradingbot: Option<bool>) -> Result<Vec<Record>, (usize, String)> {
    let lines = Lines::new(text);
    let mut out = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let raw: &RawValue =
            serde_json::from_str(line).map_err(|e| (i + 1, format!("invalid JSON: {e}")))?;
        out.push(record(text, &lines, raw, tradingbot));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_found_past_brackets_in_strings() {
        let t = "[ {\"a\": [1, {\"b\": \"x],}\"}]},\n 3 ,\n \"s,]\", {} ]";
        let lines: Vec<usize> = array(t, None).unwrap().iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 3]);
        assert!(array("[ ]", None).unwrap().is_empty());
    }

    #[test]
    fn line_index_matches_a_scan() {
        let t = "a\nbb\n\nccc\n";
        let lines = Lines::new(t);
        for at in 0..=t.len() {
            let scanned = t[..at].bytes().filter(|&b| b == b'\n').count() + 1;
            assert_eq!(lines.of(at), scanned, "offset {at}");
        }
    }
}
