//! CSV signals: a header row naming the fields, then one signal per row.
//!
//! Columns are the JSON field names (docs/design.md §4); params go flat (`max_trades`, or
//! `params.max_trades`), and the reference bot's names (`pair_symbol`, `recommended_action`,
//! `timestamp` = the candle's open time, `*_filter`) are accepted as aliases, so the CSV export
//! of its signal database (15 columns, `trading_pair_id` and the score filters read and not
//! used) publishes as is. Times may be RFC 3339, `2025-10-28 18:15:00+00` as PostgreSQL
//! exports them, or naive (read as UTC). Quoting follows RFC 4180 (`"a,b"`, `""` for a quote).
//! An empty cell means "absent".

use std::str::FromStr;

use chrono::{DateTime, Utc};
use wavegate_common::Action;
use wavegate_common::signal::{SignalDraft, SignalParams};
use wavegate_common::time::parse_timestamp;

use super::Record;

/// The field a column fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Id,
    Symbol,
    ExchangeId,
    Action,
    ScoreWeek,
    ScoreMonth,
    WaveTimestamp,
    CreatedAt,
    MaxTrades,
    StopLoss,
    TrailingActivation,
    TrailingDistance,
    /// A column of the reference's export that wavegate reads and does not use.
    Unused(&'static str),
}

impl Column {
    fn parse(name: &str) -> Option<Self> {
        let n = name.trim().to_ascii_lowercase();
        let n = n.strip_prefix("params.").unwrap_or(&n);
        Some(match n {
            "id" => Column::Id,
            "symbol" | "pair_symbol" => Column::Symbol,
            "exchange_id" => Column::ExchangeId,
            "action" | "recommended_action" => Column::Action,
            "score_week" => Column::ScoreWeek,
            "score_month" => Column::ScoreMonth,
            // The reference's `timestamp` is the open time of the signal's candle.
            "wave_timestamp" | "timestamp" => Column::WaveTimestamp,
            "created_at" => Column::CreatedAt,
            "trading_pair_id" => Column::Unused("trading_pair_id"),
            "score_week_filter" => Column::Unused("score_week_filter"),
            "score_month_filter" => Column::Unused("score_month_filter"),
            "max_trades" | "max_trades_filter" => Column::MaxTrades,
            "stop_loss_percent" | "stop_loss_filter" => Column::StopLoss,
            "trailing_activation_percent" | "trailing_activation_filter" => {
                Column::TrailingActivation
            }
            "trailing_distance_percent" | "trailing_distance_filter" => Column::TrailingDistance,
            _ => return None,
        })
    }

    /// The field name used in errors (the JSON form's).
    fn field(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Symbol => "symbol",
            Column::ExchangeId => "exchange_id",
            Column::Action => "action",
            Column::ScoreWeek => "score_week",
            Column::ScoreMonth => "score_month",
            Column::WaveTimestamp => "wave_timestamp",
            Column::CreatedAt => "created_at",
            Column::MaxTrades => "params.max_trades",
            Column::StopLoss => "params.stop_loss_percent",
            Column::TrailingActivation => "params.trailing_activation_percent",
            Column::TrailingDistance => "params.trailing_distance_percent",
            Column::Unused(name) => name,
        }
    }
}

/// One CSV row: the 1-based line where it starts and its cells.
type Row = (usize, Vec<String>);

/// Splits CSV text into rows of cells.
fn rows(text: &str) -> Result<Vec<Row>, (usize, String)> {
    let mut out = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell = String::new();
    let mut line = 1;
    let mut row_line = 1;
    let mut in_quotes = false;
    let mut quoted_cell = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => in_quotes = false,
                c => {
                    if c == '\n' {
                        line += 1;
                    }
                    cell.push(c);
                }
            }
            continue;
        }
        match c {
            '"' if cell.trim().is_empty() && !quoted_cell => {
                cell.clear();
                in_quotes = true;
                quoted_cell = true;
            }
            '"' => return Err((line, "stray quote inside an unquoted cell".into())),
            ',' => {
                row.push(std::mem::take(&mut cell));
                quoted_cell = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut cell));
                quoted_cell = false;
                if !(row.len() == 1 && row[0].trim().is_empty()) {
                    out.push((row_line, std::mem::take(&mut row)));
                }
                row.clear();
                line += 1;
                row_line = line;
            }
            c if quoted_cell && !c.is_whitespace() => {
                return Err((line, "text after a closing quote".into()));
            }
            c => cell.push(c),
        }
    }
    if in_quotes {
        return Err((row_line, "unterminated quoted cell".into()));
    }
    row.push(cell);
    if !(row.len() == 1 && row[0].trim().is_empty()) {
        out.push((row_line, row));
    }
    Ok(out)
}

fn num<T: FromStr>(col: Column, v: &str, what: &str) -> Result<T, (Option<String>, String)> {
    v.parse()
        .map_err(|_| (Some(col.field().into()), format!("{v:?} is not {what}")))
}

fn time(col: Column, v: &str) -> Result<DateTime<Utc>, (Option<String>, String)> {
    parse_timestamp(v).ok_or_else(|| {
        (
            Some(col.field().into()),
            format!("{v:?} is not a time (RFC 3339, `YYYY-MM-DD HH:MM:SS+00`, or naive UTC)"),
        )
    })
}

fn draft(header: &[Column], cells: &[String]) -> Result<SignalDraft, (Option<String>, String)> {
    if cells.len() != header.len() {
        return Err((
            None,
            format!(
                "expected {} cells as in the header, got {}",
                header.len(),
                cells.len()
            ),
        ));
    }
    let mut d = SignalDraft::default();
    let mut p = SignalParams::default();
    for (&col, raw) in header.iter().zip(cells) {
        let v = raw.trim();
        if v.is_empty() {
            continue;
        }
        match col {
            Column::Id => d.id = Some(num(col, v, "an integer")?),
            Column::Symbol => d.symbol = Some(v.to_owned()),
            Column::ExchangeId => d.exchange_id = Some(num(col, v, "a positive integer")?),
            Column::Action => {
                d.action = Some(Action::parse(v).ok_or_else(|| {
                    (
                        Some("action".to_owned()),
                        format!("unknown action {v:?} (BUY, SELL, LONG or SHORT)"),
                    )
                })?);
            }
            Column::ScoreWeek => d.score_week = Some(num(col, v, "a number")?),
            Column::ScoreMonth => d.score_month = Some(num(col, v, "a number")?),
            Column::WaveTimestamp => d.wave_timestamp = Some(time(col, v)?),
            Column::CreatedAt => d.created_at = Some(time(col, v)?),
            Column::MaxTrades => p.max_trades = Some(num(col, v, "a positive integer")?),
            Column::StopLoss => p.stop_loss_percent = Some(num(col, v, "a number")?),
            Column::TrailingActivation => {
                p.trailing_activation_percent = Some(num(col, v, "a number")?);
            }
            Column::TrailingDistance => {
                p.trailing_distance_percent = Some(num(col, v, "a number")?)
            }
            Column::Unused(_) => {}
        }
    }
    d.params = (!p.is_empty()).then_some(p);
    Ok(d)
}

/// Parses CSV text into records. A bad header refuses the whole file.
pub(super) fn records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut rows = rows(text)?.into_iter();
    let Some((hline, names)) = rows.next() else {
        return Ok(Vec::new());
    };
    let mut header = Vec::with_capacity(names.len());
    for name in &names {
        let col = Column::parse(name).ok_or_else(|| {
            (
                hline,
                format!("unknown column {:?} in the header", name.trim()),
            )
        })?;
        if header.contains(&col) {
            return Err((hline, format!("column {:?} appears twice", col.field())));
        }
        header.push(col);
    }
    Ok(rows
        .map(|(line, cells)| Record {
            line,
            field_line: Box::new(move |_| line),
            draft: draft(&header, &cells),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_crlf_and_blank_lines() {
        let r = rows("a,b\r\n\"x,\"\"y\"\"\",2\r\n\r\n3,\"multi\nline\"\n4,5").unwrap();
        assert_eq!(r[0], (1, vec!["a".into(), "b".into()]));
        assert_eq!(r[1], (2, vec!["x,\"y\"".into(), "2".into()]));
        assert_eq!(r[2], (4, vec!["3".into(), "multi\nline".into()]));
        assert_eq!(r[3], (6, vec!["4".into(), "5".into()]));
    }

    #[test]
    fn bad_quoting_names_the_line() {
        assert_eq!(rows("a\n\"open").unwrap_err().0, 2);
        assert_eq!(rows("a\nx\"y").unwrap_err().0, 2);
        assert_eq!(rows("a\n\"x\"y").unwrap_err().0, 2);
    }
}
