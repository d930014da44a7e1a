//! The Bybit side of `wavegate-agent check`, reads only: `GET /v5/market/time`,
//! `instruments-info`, `GET /v5/user/query-api` (docs/v5/user/apikey-info.mdx),
//! `wallet-balance` (docs/v5/account/wallet-balance.mdx), the position mode, `X-Bapi-Limit*`.

use serde_json::Value;

use super::super::ExchangeError;
use super::super::binance::preflight_mode_line as mode_line;
use super::super::rest::{local_now_ms, number, text};
use super::BybitLinear;
use super::parse::first;
use crate::preflight::{Line, Status, balance_line, clock_line};

impl BybitLinear {
    /// The preflight lines; `need`: `notional × max_trades` USDT; `symbol`: its position mode.
    pub async fn preflight(&self, need: crate::exchange::Decimal, symbol: &str) -> Vec<Line> {
        let sent = local_now_ms();
        let time = self.public("/v5/market/time", &[]).await;
        let mid = sent + (local_now_ms() - sent) / 2;
        let offset = time
            .ok()
            .and_then(|v| text(&v, "timeNano"))
            .and_then(|n| n.parse::<i128>().ok())
            .and_then(|n| i64::try_from(n / 1_000_000).ok())
            .map(|server| server - mid);
        let mut lines = vec![clock_line(offset, self.recv_window_ms)];
        lines.push(match self.load_rules().await {
            Ok(rules) => {
                let n = rules.values().filter(|r| r.tradable).count();
                let status = if n > 0 { Status::Ok } else { Status::Fail };
                Line::new(
                    "symbol rules",
                    status,
                    format!("{n} tradable symbols loaded"),
                )
            }
            Err(e) => Line::new("symbol rules", Status::Fail, e.to_string()),
        });
        match self.get("/v5/user/query-api", &[]).await {
            Ok(k) => {
                lines.push(Line::new(
                    "credentials",
                    Status::Ok,
                    "signed requests accepted",
                ));
                let has = |group: &str, p: &str| {
                    k.get("permissions")
                        .and_then(|g| g.get(group))
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(p)))
                };
                let read_only = k.get("readOnly").and_then(Value::as_i64) != Some(0);
                lines.push(
                    if !read_only
                        && has("ContractTrade", "Order")
                        && has("ContractTrade", "Position")
                    {
                        Line::new(
                            "trading permission",
                            Status::Ok,
                            "ContractTrade Order, Position",
                        )
                    } else {
                        Line::new(
                            "trading permission",
                            Status::Fail,
                            "the key is read-only or lacks ContractTrade Order/Position",
                        )
                    },
                );
                lines.push(if has("Wallet", "Withdraw") {
                    Line::new(
                        "withdrawals",
                        Status::Warn,
                        "the key may withdraw: a trading key should not",
                    )
                } else {
                    Line::new("withdrawals", Status::Ok, "disabled")
                });
            }
            Err(f) => lines.push(Line::new(
                "credentials",
                Status::Fail,
                ExchangeError::from(f).to_string(),
            )),
        }
        let wallet = self
            .get(
                "/v5/account/wallet-balance",
                &[("accountType", "UNIFIED".to_owned())],
            )
            .await;
        let available = wallet
            .ok()
            .as_ref()
            .and_then(first)
            .and_then(|w| number(w, "totalAvailableBalance"));
        lines.push(balance_line(available, need));
        lines.push(mode_line(self.one_way(symbol).await));
        let last = *self.last_limit.lock().unwrap_or_else(|e| e.into_inner());
        lines.push(match last {
            Some((left, limit)) => {
                let status = if left > 0 { Status::Ok } else { Status::Warn };
                let detail = format!("{left} of {limit} requests left on the last endpoint");
                Line::new("rate limit", status, detail)
            }
            None => Line::new(
                "rate limit",
                Status::Warn,
                "no X-Bapi-Limit headers in the answers",
            ),
        });
        lines
    }
}
