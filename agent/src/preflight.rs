//! `wavegate-agent check`: read-only preflight table; `FAIL` stops trading (exit 1), `WARN` a risk.

use std::fmt::Write as _;

use crate::config::{AdapterKind, AgentConfig, ConfigError, MarginMode};
use crate::exchange::ExchangeError;
use crate::exchange::binance::BinanceFutures;
use crate::exchange::bybit::BybitLinear;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "UPPERCASE")]
pub enum Status {
    /// Fine.
    Ok,
    /// Trading works, but look at it.
    Warn,
    /// Trading would fail.
    Fail,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// What was checked.
    pub check: &'static str,
    /// Its verdict.
    pub status: Status,
    /// What was found (never a credential).
    pub detail: String,
}

impl Line {
    /// A line.
    pub fn new(check: &'static str, status: Status, detail: impl Into<String>) -> Self {
        Self {
            check,
            status,
            detail: detail.into(),
        }
    }
}

/// What the preflight found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The lines, in check order.
    pub lines: Vec<Line>,
}

impl Report {
    /// True when a line would make trading fail.
    pub fn failed(&self) -> bool {
        self.lines.iter().any(|l| l.status == Status::Fail)
    }

    /// The lines as an aligned table.
    pub fn table(&self) -> String {
        let width = self
            .lines
            .iter()
            .map(|l| l.check.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = format!("{:<width$}  {:<6}DETAIL\n", "CHECK", "STATUS");
        for l in &self.lines {
            let status = l.status.to_string();
            let _ = writeln!(out, "{:<width$}  {status:<6}{}", l.check, l.detail);
        }
        out
    }
}

/// What the preflight needs besides the config.
#[derive(Debug, Clone)]
pub struct Options {
    /// The largest `max_trades` a wave will ask of this exchange (balance check).
    pub max_trades: u32,
    /// A symbol to check the position mode on (Bybit's mode can differ per symbol).
    pub symbol: String,
}

/// The margin mode and leverage a symbol trades at, as the venue reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarginSettings {
    /// Margin mode (Bybit: the unified account's, the same for every symbol).
    pub margin: MarginMode,
    /// Leverage.
    pub leverage: u32,
}

/// `--symbol`, then `[symbols] allow`, each once: the symbols whose margin settings are read.
fn checked_symbols(config: &AgentConfig, opts: &Options) -> Vec<String> {
    let mut out = vec![opts.symbol.clone()];
    for s in &config.symbols.allow {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// One symbol's margin settings: `FAIL` unreadable; `OK` if `set_leverage` sets them, else `WARN`.
pub fn margin_line(
    symbol: &str,
    read: Result<MarginSettings, ExchangeError>,
    config: &AgentConfig,
) -> Line {
    const CHECK: &str = "margin and leverage";
    let p = &config.positions;
    match read {
        Err(e) => Line::new(CHECK, Status::Fail, format!("{symbol}: not readable: {e}")),
        Ok(m) if m.margin == p.margin_mode && m.leverage == p.leverage => Line::new(
            CHECK,
            Status::Ok,
            format!("{symbol}: {} ×{}", m.margin.as_str(), m.leverage),
        ),
        Ok(m) => {
            let (status, then) = if p.set_leverage {
                (Status::Ok, "set before the first entry")
            } else {
                (
                    Status::Warn,
                    "positions.set_leverage is off: traded as it is",
                )
            };
            Line::new(
                CHECK,
                status,
                format!(
                    "{symbol}: {} ×{}, configured {} ×{}: {then}",
                    m.margin.as_str(),
                    m.leverage,
                    p.margin_mode.as_str(),
                    p.leverage
                ),
            )
        }
    }
}

/// Runs the preflight for the adapter `config` selects. Reads only.
pub async fn run(config: &AgentConfig, opts: &Options) -> Result<Report, ConfigError> {
    let Some((table, live)) = config.adapter.live() else {
        return Ok(Report {
            lines: vec![Line::new(
                "adapter",
                Status::Ok,
                "paper: simulated, nothing to check",
            )],
        });
    };
    let creds = live.credentials(table)?;
    let bad_url = |reason: String| ConfigError::Invalid {
        key: format!("{table}.base_url"),
        reason,
    };
    let need = live.notional * crate::exchange::Decimal::from(opts.max_trades);
    let mut lines = vec![Line::new(
        "endpoint",
        Status::Ok,
        format!("{} ({:?})", live.base_url, live.network),
    )];
    let symbols = checked_symbols(config, opts);
    match config.adapter.kind {
        AdapterKind::Bybit => {
            let a = BybitLinear::new(live, creds).map_err(bad_url)?;
            lines.extend(a.preflight(need, &opts.symbol).await);
            for s in &symbols {
                lines.push(margin_line(s, a.margin_settings(s).await, config));
            }
        }
        _ => {
            let a = BinanceFutures::new(live, creds).map_err(bad_url)?;
            lines.extend(a.preflight(need, &opts.symbol).await);
            for s in &symbols {
                lines.push(margin_line(s, a.margin_settings(s).await, config));
            }
        }
    }
    Ok(Report { lines })
}

/// The clock line: the offset from the venue's clock against the receive window.
pub fn clock_line(offset_ms: Option<i64>, recv_window_ms: u64) -> Line {
    let (status, detail) = match offset_ms {
        None => (Status::Fail, "the venue's clock is not readable".to_owned()),
        Some(o) if o.unsigned_abs() * 2 >= recv_window_ms => (
            Status::Fail,
            format!(
                "offset {o} ms: signed requests would fall outside recvWindow {recv_window_ms} ms; fix the host clock (NTP)"
            ),
        ),
        Some(o) => (Status::Ok, format!("offset {o} ms (synced per request)")),
    };
    Line::new("server time", status, detail)
}

/// The balance line: `available` against what `max_trades` positions of `notional` need.
pub fn balance_line(
    available: Option<crate::exchange::Decimal>,
    need: crate::exchange::Decimal,
) -> Line {
    let (status, a, cmp) = match available {
        None => return Line::new("balance", Status::Fail, "not readable"),
        Some(a) if a < need => (Status::Fail, a, "<"),
        Some(a) => (Status::Ok, a, "≥"),
    };
    let detail = format!("{a} USDT available {cmp} {need} USDT (notional × max_trades)");
    Line::new("balance", status, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_line_fails_the_report_and_the_table_aligns() {
        let r = Report {
            lines: vec![
                clock_line(Some(12), 5000),
                balance_line(Some(50.into()), 100.into()),
                Line::new("withdrawals", Status::Warn, "enabled"),
            ],
        };
        assert!(r.failed());
        let t = r.table();
        assert!(t.starts_with("CHECK "), "{t}");
        assert!(
            t.contains("balance      FAIL  50 USDT available < 100 USDT"),
            "{t}"
        );
        assert_eq!(clock_line(Some(3000), 5000).status, Status::Fail);
        assert_eq!(
            balance_line(Some(100.into()), 100.into()).status,
            Status::Ok
        );
    }

    #[test]
    fn margin_lines_fail_unreadable_and_warn_only_when_not_set_before_entry() {
        let mut cfg = AgentConfig::paper(1, "binance", "/tmp/unused.db".into());
        cfg.positions.leverage = 5;
        cfg.positions.margin_mode = MarginMode::Isolated;
        let read = |margin, leverage| Ok(MarginSettings { margin, leverage });
        let same = margin_line("BTCUSDT", read(MarginMode::Isolated, 5), &cfg);
        assert_eq!(same.status, Status::Ok);
        assert_eq!(same.detail, "BTCUSDT: isolated ×5");
        let other = margin_line("BTCUSDT", read(MarginMode::Cross, 20), &cfg);
        assert_eq!(other.status, Status::Ok);
        assert!(other.detail.contains("configured isolated ×5"), "{other:?}");
        cfg.positions.set_leverage = false;
        let other = margin_line("BTCUSDT", read(MarginMode::Cross, 20), &cfg);
        assert_eq!(other.status, Status::Warn);
        let err = ExchangeError::Unavailable("binance: -1121 Invalid symbol.".into());
        let bad = margin_line("NOPEUSDT", Err(err), &cfg);
        assert_eq!(bad.status, Status::Fail);
        assert!(bad.detail.contains("-1121"), "{bad:?}");
        let r = Report {
            lines: vec![same, bad],
        };
        assert!(r.failed());
    }
}
