//! The Binance side of `wavegate-agent check`, reads only: `GET /fapi/v1/time`, `exchangeInfo`,
//! `GET /fapi/v2/account` (`canTrade`, `canWithdraw`, `availableBalance`;
//! `account_information_v2_response.rs`), `positionSide/dual`, and the usage headers.

use http::Method;
use serde_json::Value;

use super::super::ExchangeError;
use super::super::position_mode::HEDGE_MODE;
use super::super::rest::{Call, local_now_ms, number};
use super::BinanceFutures;
use super::limits::SLOW_AT;
use super::parse::parse_exchange_info;
use crate::exchange::Result;
use crate::preflight::{Line, Status, balance_line, clock_line};

impl BinanceFutures {
    /// The preflight lines; `need` is `notional × max_trades` in USDT.
    pub async fn preflight(&self, need: crate::exchange::Decimal, _symbol: &str) -> Vec<Line> {
        let sent = local_now_ms();
        let time = self.public("/fapi/v1/time").await;
        let mid = sent + (local_now_ms() - sent) / 2;
        let offset = time
            .ok()
            .and_then(|v| v.get("serverTime").and_then(Value::as_i64))
            .map(|server| server - mid);
        let mut lines = vec![clock_line(offset, self.recv_window_ms)];
        lines.push(match self.public("/fapi/v1/exchangeInfo").await {
            Ok(info) => {
                self.limits.read(&info);
                let rules = parse_exchange_info(&info);
                let n = rules.values().filter(|r| r.tradable).count();
                let status = if n > 0 { Status::Ok } else { Status::Fail };
                Line::new(
                    "symbol rules",
                    status,
                    format!("{n} tradable symbols loaded"),
                )
            }
            Err(f) => Line::new(
                "symbol rules",
                Status::Fail,
                ExchangeError::from(f).to_string(),
            ),
        });
        match self
            .signed(Method::GET, "/fapi/v2/account", vec![], Call::Read)
            .await
        {
            Ok(a) => {
                lines.push(Line::new(
                    "credentials",
                    Status::Ok,
                    "signed requests accepted",
                ));
                let flag = |k: &str| a.get(k).and_then(Value::as_bool);
                lines.push(match flag("canTrade") {
                    Some(true) => Line::new("trading permission", Status::Ok, "canTrade"),
                    _ => Line::new(
                        "trading permission",
                        Status::Fail,
                        "the key cannot trade futures (canTrade false)",
                    ),
                });
                lines.push(match flag("canWithdraw") {
                    Some(false) => Line::new("withdrawals", Status::Ok, "disabled"),
                    _ => Line::new(
                        "withdrawals",
                        Status::Warn,
                        "the key may withdraw: a trading key should not",
                    ),
                });
                lines.push(balance_line(number(&a, "availableBalance"), need));
            }
            Err(f) => {
                let e = ExchangeError::from(f).to_string();
                lines.push(Line::new("credentials", Status::Fail, e));
                lines.push(Line::new("balance", Status::Fail, "not readable"));
            }
        }
        lines.push(mode_line(self.one_way().await));
        lines.push(match self.limits.last() {
            Some((header, used, limit)) => {
                let status = if used * 100 < limit * SLOW_AT {
                    Status::Ok
                } else {
                    Status::Warn
                };
                Line::new(
                    "rate limit",
                    status,
                    format!("{header}: {used} of {limit} used"),
                )
            }
            None => Line::new("rate limit", Status::Warn, "no usage header in the answers"),
        });
        lines
    }
}

/// The position-mode line from a one-way check.
pub(crate) fn mode_line(mode: Result<()>) -> Line {
    match mode {
        Ok(()) => Line::new("position mode", Status::Ok, "one-way"),
        Err(ExchangeError::Rejected(r)) if r == HEDGE_MODE => Line::new(
            "position mode",
            Status::Fail,
            "hedge (dual-side) mode: switch the account to one-way mode",
        ),
        Err(e) => Line::new("position mode", Status::Fail, e.to_string()),
    }
}
