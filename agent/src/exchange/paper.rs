//! The `paper` exchange: simulated fills with a world scripted from [`PaperConfig`] (open
//! positions, minimum notional, balance, brackets; scripted failures are [`super::faults`]).
//! A client order id is accepted once, as on Binance and Bybit. As on a real venue, an order
//! is recorded when it arrives, *then* the latency passes, so a caller that times out sees an
//! unknown outcome a lookup resolves. Positions and orders live in the journal database: each
//! call's records are one write through the journal's [`Writer`], committed during the latency
//! (no serial time; a call that returned is on disk), `created_at` being the arrival.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use sqlx::sqlite::SqlitePool;

use super::money::{Decimal, decimal, to_f64};
use super::{
    AccountState, EntryOrder, Exchange, ExchangeError, Fill, LeverageSetting, OrderReport, Side,
    StopOrder, TrailingStopOrder,
};
use crate::exchange::Result;

mod account;
mod balance;

/// The paper exchange's answer to a reused client order id.
const DUPLICATE: &str = "paper: duplicate_client_order_id";
use crate::config::PaperConfig;
use crate::journal::{Journal, Stmt, TIMING_TARGET, Writer};

/// An open simulated position.
#[derive(Debug, Clone, PartialEq)]
struct Position {
    side: Side,
    quantity: Decimal,
    entry_price: Decimal,
}

impl Position {
    /// Decimals of a paper quantity: rounded down to a 1e-8 lot step, as a venue does (and
    /// exact in a REAL column).
    const QTY_DP: u32 = 8;

    /// The quantity an order of `notional` buys at `price`.
    fn quantity(notional: Decimal, price: Decimal) -> Decimal {
        (notional / price)
            .round_dp_with_strategy(Self::QTY_DP, rust_decimal::RoundingStrategy::ToZero)
    }

    /// Worth at entry price in USD, to the cent (the quantity's rounding costs < 1e-5 USD).
    fn value(&self) -> Decimal {
        (self.quantity * self.entry_price).round_dp(2)
    }
}

/// An order the simulated exchange received.
#[derive(Debug, Clone, PartialEq)]
struct PaperOrder {
    exchange_order_id: String,
    report: OrderReport,
}

#[derive(Debug, Default)]
struct World {
    positions: BTreeMap<String, Position>,
    orders: HashMap<String, PaperOrder>,
    /// Free balance (`None`: not modelled); see `paper/account.rs`.
    balance: Option<Decimal>,
    /// Leverage and margin mode set per symbol.
    leverage: HashMap<String, LeverageSetting>,
}

/// The simulated exchange.
#[derive(Debug)]
pub struct PaperExchange {
    cfg: PaperConfig,
    writer: Writer,
    world: Mutex<World>,
    next_id: AtomicU64,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS paper_positions (
        symbol TEXT PRIMARY KEY,
        side TEXT NOT NULL,
        quantity REAL NOT NULL,
        entry_price REAL NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS paper_orders (
        client_order_id TEXT PRIMARY KEY,
        exchange_order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        price REAL NOT NULL,
        quantity REAL NOT NULL,
        reason TEXT,
        created_at TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS paper_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

/// Deterministic simulated price of a symbol (no market data in paper mode).
pub fn price_of(symbol: &str) -> Decimal {
    // FNV-1a: stable across runs and platforms.
    let h = symbol.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    // 1.00 ..= 1000.99, in cents.
    Decimal::ONE + Decimal::new((h % 100_000) as i64, 2)
}

/// A stored paper number (REAL `column`) back as a decimal.
fn stored(x: f64, column: &'static str) -> Result<Decimal, sqlx::Error> {
    decimal(x, column).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

impl PaperExchange {
    /// Opens the paper exchange on the journal database, writing through the journal's
    /// writer; the configured `open_positions` are seeded once, when the database is new.
    pub async fn open(cfg: PaperConfig, journal: &Journal) -> Result<Self, sqlx::Error> {
        let pool = journal.pool();
        for stmt in SCHEMA.iter().chain(account::SCHEMA).chain(balance::SCHEMA) {
            sqlx::query(*stmt).execute(pool).await?;
        }
        let seeded = sqlx::query(
            "INSERT INTO paper_meta (key, value) VALUES ('seeded', ?) ON CONFLICT DO NOTHING",
        )
        .bind(Utc::now().to_rfc3339())
        .execute(pool)
        .await?
        .rows_affected()
            == 1;
        if seeded {
            for symbol in &cfg.open_positions {
                let price = price_of(symbol);
                let quantity = Position::quantity(cfg.notional, price);
                let p = Position {
                    side: Side::Long,
                    quantity,
                    entry_price: price,
                };
                seed_position(pool, symbol, &p).await?;
            }
        }
        let mut world = World {
            balance: balance::load(pool, cfg.balance).await?,
            ..World::default()
        };
        let leverage: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT symbol, leverage, margin_mode FROM paper_leverage")
                .fetch_all(pool)
                .await?;
        for (symbol, leverage, mode) in leverage {
            let setting = LeverageSetting {
                leverage: u32::try_from(leverage).unwrap_or(1),
                margin_mode: super::MarginMode::parse(&mode).unwrap_or_default(),
            };
            world.leverage.insert(symbol, setting);
        }
        let positions: Vec<(String, String, f64, f64)> =
            sqlx::query_as("SELECT symbol, side, quantity, entry_price FROM paper_positions")
                .fetch_all(pool)
                .await?;
        for (symbol, side, quantity, entry_price) in positions {
            let position = Position {
                side: Side::parse(&side).unwrap_or(Side::Long),
                quantity: stored(quantity, "quantity")?,
                entry_price: stored(entry_price, "entry_price")?,
            };
            world.positions.insert(symbol, position);
        }
        type OrderRow = (String, String, String, f64, f64, Option<String>);
        let orders: Vec<OrderRow> = sqlx::query_as(
            "SELECT client_order_id, exchange_order_id, status, price, quantity, reason
             FROM paper_orders",
        )
        .fetch_all(pool)
        .await?;
        for (client_order_id, exchange_order_id, status, price, quantity, reason) in orders {
            let report = match status.as_str() {
                "filled" => OrderReport::Filled(Fill {
                    exchange_order_id: exchange_order_id.clone(),
                    price: stored(price, "price")?,
                    quantity: stored(quantity, "quantity")?,
                }),
                // A resting stop: a restarted exchange still holds it.
                "open" => OrderReport::Open,
                _ => OrderReport::Rejected(reason.unwrap_or_default()),
            };
            let order = PaperOrder {
                exchange_order_id,
                report,
            };
            world.orders.insert(client_order_id, order);
        }
        Ok(Self {
            next_id: AtomicU64::new(world.orders.len() as u64 + 1),
            world: Mutex::new(world),
            cfg,
            writer: journal.writer().clone(),
        })
    }

    /// The simulated world, locked.
    fn world(&self) -> Result<MutexGuard<'_, World>> {
        let poisoned = "paper exchange state poisoned";
        self.world
            .lock()
            .map_err(|_| ExchangeError::Unavailable(poisoned.into()))
    }

    async fn latency(&self) {
        /// The end of the simulated latency spun rather than slept.
        const SPIN: Duration = Duration::from_micros(150);
        if self.cfg.latency_ms > 0 {
            // A thread's sleep, not tokio's timer (which rounds up to the next whole ms), to a
            // deadline from the request's arrival, not from when the thread gets a CPU.
            let d = Duration::from_millis(self.cfg.latency_ms);
            let spawned = std::time::Instant::now();
            let deadline = spawned + d;
            let slept = tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                // A sleep overshoots by the timer slack and the wake-up (~80 µs here); the last
                // stretch is spun, so the simulated latency is what the config says.
                std::thread::sleep(deadline.saturating_duration_since(started + SPIN));
                while std::time::Instant::now() < deadline {
                    std::hint::spin_loop();
                }
                (started, std::time::Instant::now())
            })
            .await;
            if let Ok((started, ended)) = slept
                && tracing::enabled!(target: TIMING_TARGET, tracing::Level::DEBUG)
            {
                let us = |a: std::time::Instant, b: std::time::Instant| {
                    b.saturating_duration_since(a).as_micros()
                };
                tracing::debug!(
                    target: TIMING_TARGET,
                    start_us = us(spawned, started),
                    sleep_us = us(started, ended),
                    wake_us = us(ended, std::time::Instant::now()),
                    "paper latency timing"
                );
            }
        }
    }

    /// Commits `stmts` while the simulated latency passes; returns when both are done. The
    /// latency is polled first: its deadline is taken from the request's arrival, before a
    /// write that commits on this task (`Writer::write`) has run.
    async fn persist_during_latency(&self, stmts: Vec<Stmt>) -> Result<()> {
        let ((), stored) = futures::join!(self.latency(), self.writer.write(stmts));
        stored.map_err(|e| ExchangeError::Unknown(format!("paper store: {e}")))
    }

    fn new_order_id(&self) -> String {
        format!("paper-{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Records a received order in memory; returns its exchange order id and the statement
    /// that stores it.
    fn record(
        &self,
        client_order_id: &str,
        symbol: &str,
        kind: &str,
        report: OrderReport,
        arrived: &str,
    ) -> Result<(String, Stmt), ExchangeError> {
        let exchange_order_id = self.new_order_id();
        // A lookup reports the fill under the id the exchange gave it.
        let report = match report {
            OrderReport::Filled(f) => OrderReport::Filled(Fill {
                exchange_order_id: exchange_order_id.clone(),
                ..f
            }),
            other => other,
        };
        let (status, price, quantity, reason) = match &report {
            OrderReport::Filled(f) => ("filled", f.price, f.quantity, None),
            OrderReport::Rejected(r) => {
                ("rejected", Decimal::ZERO, Decimal::ZERO, Some(r.as_str()))
            }
            OrderReport::Open => ("open", Decimal::ZERO, Decimal::ZERO, None),
        };
        let stmt = Stmt::new(
            "INSERT INTO paper_orders (client_order_id, exchange_order_id, symbol, kind, status,
                 price, quantity, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                client_order_id.into(),
                exchange_order_id.as_str().into(),
                symbol.into(),
                kind.into(),
                status.into(),
                to_f64(price).into(),
                to_f64(quantity).into(),
                reason.into(),
                arrived.into(),
            ],
        );
        let mut w = self.world()?;
        w.orders.insert(
            client_order_id.to_owned(),
            PaperOrder {
                exchange_order_id: exchange_order_id.clone(),
                report,
            },
        );
        Ok((exchange_order_id, stmt))
    }

    /// Refuses a client order id used before (as Binance's -4116).
    fn check_new(&self, client_order_id: &str) -> Result<()> {
        if self.world()?.orders.contains_key(client_order_id) {
            return Err(ExchangeError::DuplicateId(DUPLICATE.into()));
        }
        Ok(())
    }
}

/// The statement that stores a symbol's position (`None`: closed).
fn position_stmt(symbol: &str, p: Option<&Position>) -> Stmt {
    match p {
        Some(p) => Stmt::new(
            "INSERT INTO paper_positions (symbol, side, quantity, entry_price, updated_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (symbol) DO UPDATE SET side = excluded.side,
                quantity = excluded.quantity, entry_price = excluded.entry_price,
                updated_at = excluded.updated_at",
            vec![
                symbol.into(),
                p.side.as_str().into(),
                to_f64(p.quantity).into(),
                to_f64(p.entry_price).into(),
                Utc::now().to_rfc3339().into(),
            ],
        ),
        None => Stmt::new(
            "DELETE FROM paper_positions WHERE symbol = ?",
            vec![symbol.into()],
        ),
    }
}

/// Stores a position seeded at startup (before any order, so no writer is needed yet).
async fn seed_position(pool: &SqlitePool, symbol: &str, p: &Position) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO paper_positions (symbol, side, quantity, entry_price, updated_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (symbol) DO NOTHING",
    )
    .bind(symbol)
    .bind(p.side.as_str())
    .bind(to_f64(p.quantity))
    .bind(to_f64(p.entry_price))
    .bind(Utc::now().to_rfc3339())
    .execute(pool)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl Exchange for PaperExchange {
    fn kind(&self) -> &'static str {
        "paper"
    }

    async fn check_rules(&self, _symbol: String, _side: Side, notional: Decimal) -> Result<()> {
        if notional < self.cfg.min_notional {
            return Err(ExchangeError::Rejected("below_min_notional".into()));
        }
        Ok(())
    }

    async fn open_positions(&self) -> Result<Vec<String>> {
        Ok(self.world()?.positions.keys().cloned().collect())
    }

    async fn position(&self, symbol: String) -> Result<Option<super::Position>> {
        let w = self.world()?;
        Ok(w.positions.get(&symbol).map(|p| super::Position {
            side: p.side,
            quantity: p.quantity,
        }))
    }

    async fn place_entry(&self, o: EntryOrder) -> Result<Fill> {
        let arrived = Utc::now().to_rfc3339();
        self.check_new(&o.client_order_id)?;
        let mut margin_taken = None;
        let rejection = if o.notional < self.cfg.min_notional {
            Some("below_min_notional")
        } else {
            match self.take_margin(&o.symbol, o.notional)? {
                Ok(margin) => {
                    margin_taken = margin.map(|m| balance::move_stmt(&o.client_order_id, -m));
                    None
                }
                Err(rule) => Some(rule),
            }
        };
        if let Some(reason) = rejection {
            let report = OrderReport::Rejected(reason.into());
            let (_, stmt) =
                self.record(&o.client_order_id, &o.symbol, "entry", report, &arrived)?;
            self.persist_during_latency(vec![stmt]).await?;
            return Err(ExchangeError::Rejected(reason.into()));
        }
        let price = price_of(&o.symbol);
        let quantity = Position::quantity(o.notional, price);
        let position = {
            let mut w = self.world()?;
            let p = w.positions.entry(o.symbol.clone()).or_insert(Position {
                side: o.side,
                quantity: Decimal::ZERO,
                entry_price: price,
            });
            p.quantity += quantity;
            p.clone()
        };
        let mut fill = Fill {
            exchange_order_id: String::new(),
            price,
            quantity,
        };
        let report = OrderReport::Filled(fill.clone());
        let (id, order) = self.record(&o.client_order_id, &o.symbol, "entry", report, &arrived)?;
        fill.exchange_order_id = id;
        let stmts = [position_stmt(&o.symbol, Some(&position)), order];
        self.persist_during_latency(stmts.into_iter().chain(margin_taken).collect())
            .await?;
        Ok(fill)
    }

    async fn refused(
        &self,
        kind: &'static str,
        symbol: String,
        id: String,
        reason: &'static str,
    ) -> ExchangeError {
        let arrived = Utc::now().to_rfc3339();
        let recorded = async {
            self.check_new(&id)?;
            let report = OrderReport::Rejected(reason.into());
            let (_, stmt) = self.record(&id, &symbol, kind, report, &arrived)?;
            self.persist_during_latency(vec![stmt]).await
        };
        recorded
            .await
            .err()
            .unwrap_or_else(|| ExchangeError::Rejected(reason.into()))
    }

    async fn place_stop(&self, o: StopOrder) -> Result<String> {
        let arrived = Utc::now().to_rfc3339();
        self.check_new(&o.client_order_id)?;
        let has_position = self.world()?.positions.contains_key(&o.symbol);
        if !has_position {
            let report = OrderReport::Rejected("no_position".into());
            let (_, stmt) = self.record(&o.client_order_id, &o.symbol, "stop", report, &arrived)?;
            self.persist_during_latency(vec![stmt]).await?;
            return Err(ExchangeError::Rejected("no_position".into()));
        }
        let report = OrderReport::Open;
        let (id, stmt) = self.record(&o.client_order_id, &o.symbol, "stop", report, &arrived)?;
        let trigger = Self::trigger_stmt(&o.client_order_id, &o.symbol, "stop", o.stop_price, None);
        self.persist_during_latency(vec![stmt, trigger]).await?;
        Ok(id)
    }

    async fn close_position(&self, symbol: String, id: String) -> Result<Fill> {
        let arrived = Utc::now().to_rfc3339();
        self.check_new(&id)?;
        let removed = self.world()?.positions.remove(&symbol);
        let Some(position) = removed else {
            self.latency().await;
            return Err(ExchangeError::NoPosition);
        };
        let margin_back = self
            .give_margin(&symbol, &position)?
            .map(|m| balance::move_stmt(&id, m));
        let mut fill = Fill {
            exchange_order_id: String::new(),
            price: price_of(&symbol),
            quantity: position.quantity,
        };
        let report = OrderReport::Filled(fill.clone());
        let (id, order) = self.record(&id, &symbol, "close", report, &arrived)?;
        fill.exchange_order_id = id;
        let stmts = [position_stmt(&symbol, None), order];
        self.persist_during_latency(stmts.into_iter().chain(margin_back).collect())
            .await?;
        Ok(fill)
    }

    async fn lookup_order(&self, _symbol: String, id: String) -> Result<Option<OrderReport>> {
        self.latency().await;
        Ok(self.world()?.orders.get(&id).map(|o| o.report.clone()))
    }

    async fn min_order_notional(&self, _symbol: String) -> Result<Option<Decimal>> {
        // No lot steps: the minimum notional is the smallest order.
        Ok(Some(self.cfg.min_notional))
    }

    async fn account(&self) -> Result<AccountState> {
        let w = self.world()?;
        Ok(AccountState {
            free_balance: w.balance,
            exposure: w.positions.values().map(Position::value).sum(),
        })
    }

    async fn bracket_max_notional(
        &self,
        _symbol: String,
        leverage: u32,
    ) -> Result<Option<Decimal>> {
        let leverage = Decimal::from(leverage.max(1));
        Ok(self.cfg.max_notional.map(|m| m / leverage))
    }

    async fn set_leverage(&self, symbol: String, setting: LeverageSetting) -> Result<()> {
        self.leverage(symbol, setting).await
    }

    async fn place_trailing_stop(&self, order: TrailingStopOrder) -> Result<String> {
        self.trailing(order).await
    }

    async fn lookup_trailing_stop(
        &self,
        symbol: String,
        id: String,
    ) -> Result<Option<OrderReport>> {
        self.lookup_order(symbol, id).await
    }
}

#[cfg(test)]
mod tests;
