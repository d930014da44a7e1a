//! CSV signals: columns are the JSON field names (params flat, any case) or the reference bot's
//! aliases; times RFC 3339, PostgreSQL's form or naive UTC; an empty cell is absent.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use csv::{DeserializeErrorKind, ReaderBuilder, StringRecord, Trim};
use serde::Deserialize;
use serde::de::IgnoredAny;
use wavegate_common::Action;
use wavegate_common::signal::{SignalDraft, SignalParams};
use wavegate_common::time::lenient;

use super::{Lines, Record};

/// One row. The aliases are the reference bot's column names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    id: Option<i64>,
    #[serde(alias = "pair_symbol")]
    symbol: Option<String>,
    exchange_id: Option<u32>,
    #[serde(alias = "recommended_action")]
    action: Option<String>,
    score_week: Option<f64>,
    score_month: Option<f64>,
    /// The reference's `timestamp` is the open time of the signal's candle.
    #[serde(default, alias = "timestamp", deserialize_with = "lenient::option")]
    wave_timestamp: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::option")]
    created_at: Option<DateTime<Utc>>,
    #[serde(alias = "max_trades_filter")]
    max_trades: Option<u32>,
    #[serde(alias = "stop_loss_filter")]
    stop_loss_percent: Option<f64>,
    #[serde(alias = "trailing_activation_filter")]
    trailing_activation_percent: Option<f64>,
    #[serde(alias = "trailing_distance_filter")]
    trailing_distance_percent: Option<f64>,
    // Columns of the reference's export that wavegate reads and does not use.
    #[allow(dead_code)]
    trading_pair_id: Option<IgnoredAny>,
    #[allow(dead_code)]
    score_week_filter: Option<IgnoredAny>,
    #[allow(dead_code)]
    score_month_filter: Option<IgnoredAny>,
}

impl Row {
    fn into_draft(self) -> Result<SignalDraft, (Option<String>, String)> {
        let action = match self.action {
            None => None,
            Some(a) => Some(Action::parse(&a).ok_or_else(|| {
                (
                    Some("action".to_owned()),
                    format!("unknown action {a:?} (BUY, SELL, LONG or SHORT)"),
                )
            })?),
        };
        let params = SignalParams {
            max_trades: self.max_trades,
            stop_loss_percent: self.stop_loss_percent,
            trailing_activation_percent: self.trailing_activation_percent,
            trailing_distance_percent: self.trailing_distance_percent,
            // The reference's CSV has no position columns: JSON carries them.
            ..SignalParams::default()
        };
        Ok(SignalDraft {
            id: self.id,
            symbol: self.symbol,
            exchange_id: self.exchange_id,
            action,
            score_week: self.score_week,
            score_month: self.score_month,
            wave_timestamp: self.wave_timestamp,
            created_at: self.created_at,
            params: (!params.is_empty()).then_some(params),
        })
    }
}

/// A header name as [`Row`] knows it: trimmed, lower case, without `params.`.
fn column(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    n.strip_prefix("params.").map(str::to_owned).unwrap_or(n)
}

/// Refuses a header with an unknown column, or a field named twice (also under an alias).
fn check_header(header: &StringRecord) -> Result<(), String> {
    let mut seen = HashSet::new();
    for name in header {
        // A lone empty cell is absent: only an unknown name fails.
        let one = StringRecord::from(vec![name]);
        if StringRecord::from(vec![""])
            .deserialize::<Row>(Some(&one))
            .is_err()
        {
            return Err(format!("unknown column {name:?} in the header"));
        }
        if !seen.insert(name) {
            return Err(format!("column {name:?} appears twice"));
        }
    }
    let empty = StringRecord::from(vec![""; header.len()]);
    match empty.deserialize::<Row>(Some(header)) {
        Ok(_) => Ok(()),
        // Two names of one field (`symbol` and `pair_symbol`).
        Err(e) => Err(match e.kind() {
            csv::ErrorKind::Deserialize { err, .. } => format!("{} in the header", err.kind()),
            _ => e.to_string(),
        }),
    }
}

/// A cell that did not deserialize: its column and why.
fn cell_error(
    header: &StringRecord,
    cells: &StringRecord,
    e: &csv::Error,
) -> (Option<String>, String) {
    let csv::ErrorKind::Deserialize { err, .. } = e.kind() else {
        return (None, e.to_string());
    };
    // A custom error (a bad time) carries no column: find it cell by cell.
    let at = err
        .field()
        .and_then(|i| usize::try_from(i).ok())
        .or_else(|| {
            header.iter().zip(cells).position(|(name, cell)| {
                StringRecord::from(vec![cell])
                    .deserialize::<Row>(Some(&StringRecord::from(vec![name])))
                    .is_err()
            })
        });
    let name = at.and_then(|i| header.get(i)).map(str::to_owned);
    let value = at.and_then(|i| cells.get(i)).unwrap_or_default();
    let reason = match err.kind() {
        DeserializeErrorKind::ParseInt(_) if value.parse::<i128>().is_ok() => {
            format!("{value:?} is out of range")
        }
        DeserializeErrorKind::ParseInt(_) => format!("{value:?} is not an integer"),
        DeserializeErrorKind::ParseFloat(_) => format!("{value:?} is not a number"),
        DeserializeErrorKind::Message(m) => m.clone(),
        other => other.to_string(),
    };
    (name, reason)
}

/// Parses CSV text into records. A bad header refuses the whole file.
pub(super) fn records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut reader = ReaderBuilder::new()
        .trim(Trim::All)
        // A row with the wrong number of cells is an error of that row, not of the file.
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: StringRecord = match reader.headers() {
        Ok(h) => h.iter().map(column).collect(),
        Err(e) => return Err((1, e.to_string())),
    };
    // Lines from byte offsets: the reader's line count skips blank lines and quoted breaks.
    let lines = Lines::new(text);
    // A record's offset may point at the line break before it (CRLF, blank lines).
    let line_of = |p: Option<&csv::Position>| {
        p.and_then(|p| usize::try_from(p.byte()).ok())
            .map_or(1, |b| {
                let breaks = text.as_bytes().get(b..).unwrap_or_default();
                lines.of(b + breaks
                    .iter()
                    .take_while(|c| matches!(c, b'\r' | b'\n'))
                    .count())
            })
    };
    let hline = line_of(reader.headers().ok().and_then(|h| h.position()));
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Ok(Vec::new());
    }
    check_header(&header).map_err(|reason| (hline, reason))?;
    let mut out = Vec::new();
    for cells in reader.records() {
        let cells = cells.map_err(|e| {
            let line = line_of(e.position());
            (line, e.to_string())
        })?;
        // A line of blanks is no row.
        if cells.len() == 1 && cells[0].is_empty() {
            continue;
        }
        let line = line_of(cells.position());
        let draft = if cells.len() != header.len() {
            Err((
                None,
                format!(
                    "expected {} cells as in the header, got {}",
                    header.len(),
                    cells.len()
                ),
            ))
        } else {
            cells
                .deserialize::<Row>(Some(&header))
                .map_err(|e| cell_error(&header, &cells, &e))
                .and_then(Row::into_draft)
        };
        out.push(Record {
            line,
            field_line: Box::new(move |_| line),
            draft,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Draft = Result<SignalDraft, (Option<String>, String)>;

    fn drafts(text: &str) -> Vec<(usize, Draft)> {
        records(text)
            .unwrap()
            .into_iter()
            .map(|r| (r.line, r.draft))
            .collect()
    }

    #[test]
    fn quoting_crlf_blank_lines_and_lines_of_rows() {
        let r = drafts("id,symbol\r\n\"1\",\"A,\"\"B\"\"\"\r\n\r\n2,\"multi\nline\"\n  \n3,C");
        let got: Vec<_> = r
            .into_iter()
            .map(|(line, d)| (line, d.unwrap().symbol.unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "A,\"B\"".to_owned()),
                (4, "multi\nline".to_owned()),
                (7, "C".to_owned())
            ]
        );
    }

    #[test]
    fn header_names_are_case_insensitive_and_take_params_prefixes() {
        let r = drafts(" ID ,Params.Max_Trades,Stop_Loss_Filter\n1,6,2.5\n");
        let d = r[0].1.as_ref().unwrap();
        let p = d.params.as_ref().unwrap();
        assert_eq!(
            (d.id, p.max_trades, p.stop_loss_percent),
            (Some(1), Some(6), Some(2.5))
        );
    }

    #[test]
    fn a_field_under_two_names_is_refused() {
        let e = records("id,symbol,pair_symbol\n1,A,B\n").err().unwrap();
        assert_eq!(e.0, 1);
        assert!(e.1.contains("duplicate field `symbol`"), "{}", e.1);
        let e = records("id,ID\n1,1\n").err().unwrap();
        assert_eq!(e, (1, "column \"id\" appears twice".to_owned()));
    }

    #[test]
    fn bad_cells_name_their_column() {
        let two = "id,exchange_id,score_week,action,created_at\n1,-1,x,HOLD,\n\
                   1,99999999999,1,buy,yesterday\n";
        let time =
            "\"yesterday\" is not a timestamp (RFC 3339, `YYYY-MM-DD HH:MM:SS+00`, or naive UTC)";
        for (text, row, field, reason) in [
            (two, 0, "exchange_id", "\"-1\" is out of range"),
            (two, 1, "exchange_id", "\"99999999999\" is out of range"),
            ("score_week\nx\n", 0, "score_week", "\"x\" is not a number"),
            (
                "action\nHOLD\n",
                0,
                "action",
                "unknown action \"HOLD\" (BUY, SELL, LONG or SHORT)",
            ),
            ("created_at\nyesterday\n", 0, "created_at", time),
        ] {
            let (got_field, got) = drafts(text).swap_remove(row).1.unwrap_err();
            assert_eq!(
                got_field.as_deref(),
                Some(field),
                "{text:?} row {row}: {got}"
            );
            assert_eq!(got, reason, "{text:?} row {row}");
        }
    }
}
