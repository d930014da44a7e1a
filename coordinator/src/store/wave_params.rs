//! A wave's dispatched params (docs/design.md §1 step 1), fixed before the first `Start`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Connection as _;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::ParamsSource;
use wavegate_common::time::{from_proto, to_proto};
use wavegate_common::{MarginMode, Signal, SignalParams};

use super::fault::is_sqlite_constraint;
use super::params::{read_params_for_update, upsert_params, upsert_params_all};
use super::row::{Statement, Value, sqlx_query};
use super::signals::wave_signals_in;
use super::sqlite_claim::{Job, Ran};
use super::waves::{Claim, claim_in, claim_statement, hold_dispatching};
use super::{Backend, Store, StoredParams, WaveRow, from_ms, merge_wave_params, ms, one_row};
use crate::error::CoordinatorError;

/// Params of each exchange of a wave, by exchange id; `None` is `no_params`.
pub type WaveParams = BTreeMap<u32, Option<pb::ExchangeParams>>;

/// Stored params rows by exchange id.
pub type ByExchange = BTreeMap<u32, StoredParams>;

/// One exchange's params from a wave: its first signal (rank order) that carries any.
#[derive(Debug, Clone)]
pub struct ParamsUpdate {
    /// Exchange id.
    pub exchange_id: u32,
    /// Its name (for a first row).
    pub exchange_name: String,
    /// The signal's params.
    pub params: SignalParams,
}

/// The JSON form of one exchange's params in `waves.params`.
#[derive(Debug, Serialize, Deserialize)]
struct Sent {
    exchange_name: String,
    max_trades: u32,
    buffer_size: u32,
    source: ParamsSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop_loss_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trailing_activation_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trailing_distance_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leverage: Option<u32>,
    /// Absent: the agent's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    margin_mode: Option<MarginMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    position_size_usd: Option<f64>,
}

fn encode(params: &WaveParams) -> Result<String, CoordinatorError> {
    let by_id: BTreeMap<String, Option<Sent>> = params
        .iter()
        .map(|(id, p)| {
            let sent = p.as_ref().map(|p| Sent {
                exchange_name: p.exchange_name.clone(),
                max_trades: p.max_trades,
                buffer_size: p.buffer_size,
                source: ParamsSource::from_proto(p.source),
                stop_loss_percent: p.stop_loss_percent,
                trailing_activation_percent: p.trailing_activation_percent,
                trailing_distance_percent: p.trailing_distance_percent,
                updated_at_ms: p.updated_at.as_ref().and_then(from_proto).map(ms),
                leverage: p.leverage,
                margin_mode: MarginMode::from_proto(p.margin_mode).ok().flatten(),
                position_size_usd: p.position_size_usd,
            });
            (id.to_string(), sent)
        })
        .collect();
    serde_json::to_string(&by_id).map_err(|e| CoordinatorError::Corrupt(format!("params: {e}")))
}

fn decode(json: &str) -> Result<WaveParams, CoordinatorError> {
    let corrupt = |what: String| CoordinatorError::Corrupt(format!("waves.params: {what}"));
    let by_id: BTreeMap<String, Option<Sent>> =
        serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
    by_id
        .into_iter()
        .map(|(id, sent)| {
            let id: u32 = id
                .parse()
                .map_err(|_| corrupt(format!("exchange id {id:?}")))?;
            let p = sent.map(|s| pb::ExchangeParams {
                exchange_id: id,
                exchange_name: s.exchange_name,
                max_trades: s.max_trades,
                buffer_size: s.buffer_size,
                source: s.source.to_proto() as i32,
                stop_loss_percent: s.stop_loss_percent,
                trailing_activation_percent: s.trailing_activation_percent,
                trailing_distance_percent: s.trailing_distance_percent,
                updated_at: s.updated_at_ms.map(|v| to_proto(from_ms(v))),
                leverage: s.leverage,
                margin_mode: s
                    .margin_mode
                    .map_or(pb::MarginMode::Unspecified, MarginMode::to_proto)
                    as i32,
                position_size_usd: s.position_size_usd,
            });
            Ok((id, p))
        })
        .collect()
}

impl Store {
    /// The params the wave was first dispatched with, if they were recorded.
    pub async fn wave_params(&self, wave_id: &str) -> Result<Option<WaveParams>, CoordinatorError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT params FROM waves WHERE id = $1")
                .bind(wave_id)
                .fetch_optional(&self.pool)
                .await?;
        row.and_then(|(p,)| p).as_deref().map(decode).transpose()
    }

    /// docs/design.md §1 step 1 in one transaction for a resumed wave: updates merged as of
    /// `as_of` (see `merge_and_record`), `choose`'s params recorded. `None` when not `owner`'s.
    pub async fn commit_wave_params(
        &self,
        wave_id: &str,
        owner: &str,
        updates: &[ParamsUpdate],
        as_of: DateTime<Utc>,
        choose: impl FnOnce(&ByExchange, &ByExchange) -> WaveParams,
    ) -> Result<Option<(WaveParams, Vec<StoredParams>)>, CoordinatorError> {
        let mut tx = self.pool.begin().await?;
        // Held first, so no other commit lands between the reads and writes below.
        if !hold_dispatching(&mut tx, wave_id, owner).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let Some(done) = merge_and_record(
            &mut tx,
            self.backend,
            wave_id,
            owner,
            updates,
            as_of,
            choose,
        )
        .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(done))
    }

    /// The claim ([`Store::claim`]) and docs/design.md §1 step 1 in ONE commit: the wave's
    /// signals (`cached` when its count matches, else read here), `plan`, updates merged as of
    /// the claim's `now`, `choose`'s params recorded. `None`, nothing written, when not claimed.
    /// A SQLite file's claim runs on a connection of its own (`store/sqlite_claim.rs`).
    pub async fn claim_with_params<G, C, P, Ch>(
        &self,
        claim: Claim<'_>,
        cached: C,
        plan: P,
        choose: Ch,
    ) -> Result<Option<ClaimedWave<G>>, CoordinatorError>
    where
        G: Send + 'static,
        C: FnOnce(u32) -> Option<Vec<Signal>> + Send + 'static,
        P: FnOnce(Vec<Signal>) -> (G, Vec<ParamsUpdate>) + Send + 'static,
        Ch: FnOnce(&G, &ByExchange, &ByExchange) -> WaveParams + Send + 'static,
    {
        let Some(conn) = &self.claims else {
            return self.claim_on_pool(claim, cached, plan, choose).await;
        };
        let job = Job {
            claim: claim_statement(&claim),
            wave_id: claim.id.to_owned(),
            owner: claim.owner.to_owned(),
            as_of: claim.now,
            cached,
            plan,
            choose,
        };
        match conn.claim(job).await? {
            Ran::Claimed(c) => Ok(Some(*c)),
            Ran::NotClaimed => Ok(None),
            // The wave's count changed after the signals were taken (an ingest raced the close):
            // the pool's claim reads them under its lock.
            Ran::Miss { plan, choose } => self.claim_on_pool(claim, |_| None, plan, choose).await,
        }
    }

    /// [`Store::claim_with_params`] on the pool.
    async fn claim_on_pool<G>(
        &self,
        claim: Claim<'_>,
        cached: impl FnOnce(u32) -> Option<Vec<Signal>>,
        plan: impl FnOnce(Vec<Signal>) -> (G, Vec<ParamsUpdate>),
        choose: impl FnOnce(&G, &ByExchange, &ByExchange) -> WaveParams,
    ) -> Result<Option<ClaimedWave<G>>, CoordinatorError> {
        let mut tx = self.pool.begin().await?;
        // The claim's row lock (PostgreSQL) or write lock (SQLite) is held to the commit: no
        // other claim, ingest or params write on this wave lands in between.
        let Some(row) = claim_in(&mut tx, &claim).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        // On a mismatch read here: exactly what the claim counted, in the same single commit.
        let (signals, read_in_claim) = match cached(row.signal_count) {
            Some(s) => (s, false),
            None => (
                wave_signals_in(&mut tx, claim.id, row.wave_timestamp).await?,
                true,
            ),
        };
        let (kept, updates) = plan(signals);
        let recorded = merge_and_record(
            &mut tx,
            self.backend,
            claim.id,
            claim.owner,
            &updates,
            claim.now,
            |w, s| choose(&kept, w, s),
        )
        .await?;
        let Some((params, written)) = recorded else {
            // Unreachable while the claim's lock is held; never commit a claim without params.
            tx.rollback().await?;
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(ClaimedWave {
            row,
            signals: kept,
            read_in_claim,
            params,
            written,
        }))
    }
}

/// What [`Store::claim_with_params`] committed.
#[derive(Debug)]
pub struct ClaimedWave<G> {
    /// The wave's row as the claim left it (its final signal count among it).
    pub row: WaveRow,
    /// What the caller's `plan` kept of the wave's signals.
    pub signals: G,
    /// `cached` had no whole wave: the signals were read inside the claim's transaction.
    pub read_in_claim: bool,
    /// The params each exchange is dispatched with, as recorded on the wave.
    pub params: WaveParams,
    /// The params rows this wave wrote (merged).
    pub written: Vec<StoredParams>,
}

/// Writes `merged` in one statement; if that fails, each row in a savepoint of its own, so a
/// failing one rolls back alone (logged). Returns what was written. On PostgreSQL the one
/// statement runs in a savepoint too (any error aborts the transaction there); on SQLite it
/// needs none when it fails for a constraint, the one failure it goes on after (two round
/// trips fewer on the claim's path); any other failure fails the transaction.
async fn write_merged(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    wave_id: &str,
    merged: ByExchange,
) -> Result<ByExchange, CoordinatorError> {
    if merged.is_empty() {
        return Ok(merged);
    }
    let all: Vec<&StoredParams> = merged.values().collect();
    let failed = match backend {
        Backend::Sqlite => match upsert_params_all(tx, backend, &all).await {
            Ok(()) => return Ok(merged),
            Err(e) if is_sqlite_constraint(&e) => e,
            Err(e) => return Err(e),
        },
        Backend::Postgres => {
            let mut sp = tx.begin().await?;
            match upsert_params_all(&mut sp, backend, &all).await {
                Ok(()) => {
                    sp.commit().await?;
                    return Ok(merged);
                }
                Err(e) => {
                    sp.rollback().await?;
                    e
                }
            }
        }
    };
    tracing::debug!(wave_id, error = %failed, "params rows written one by one");
    let mut written = ByExchange::new();
    for (id, next) in merged {
        let mut sp = tx.begin().await?;
        match upsert_params(&mut sp, backend, &next).await {
            Ok(()) => {
                sp.commit().await?;
                written.insert(id, next);
            }
            Err(e) => {
                sp.rollback().await?;
                tracing::warn!(
                    wave_id,
                    exchange_id = id,
                    error = %e,
                    "params update from the wave failed; the stored params stand"
                );
            }
        }
    }
    Ok(written)
}

/// docs/design.md §1 step 1 on the rows `stored` for the updated exchanges: each update merged
/// as of `as_of` (a newer row stands). Returns the rows to write and the stored rows that stand.
pub(super) fn merge_updates(
    stored: &ByExchange,
    updates: &[ParamsUpdate],
    as_of: DateTime<Utc>,
) -> (ByExchange, ByExchange) {
    let (mut merged, mut stood) = (ByExchange::new(), ByExchange::new());
    for u in updates {
        // A second update of the same exchange merges onto the first.
        let row = merged
            .get(&u.exchange_id)
            .or_else(|| stored.get(&u.exchange_id))
            .cloned();
        if row.as_ref().is_some_and(|c| c.updated_at > as_of) {
            // Written after the wave's instant: it stands.
            stood.extend(row.map(|r| (u.exchange_id, r)));
            continue;
        }
        match merge_wave_params(row, u.exchange_id, &u.exchange_name, &u.params, as_of) {
            Some(next) => {
                merged.insert(u.exchange_id, next);
            }
            // Nothing to store: the stored row, if any, stands.
            None => stood.extend(
                stored
                    .get(&u.exchange_id)
                    .map(|r| (u.exchange_id, r.clone())),
            ),
        }
    }
    (merged, stood)
}

/// The statement recording the params a wave is dispatched with; it changes one row while
/// `owner` dispatches the wave.
pub(super) fn record_statement(
    wave_id: &str,
    owner: &str,
    params: &WaveParams,
) -> Result<Statement, CoordinatorError> {
    Ok((
        "UPDATE waves SET params = $1 WHERE id = $2 AND owner = $3 AND status = 'dispatching'"
            .to_owned(),
        vec![
            Value::Text(Some(encode(params)?)),
            Value::text(wave_id),
            Value::text(owner),
        ],
    ))
}

/// In a transaction holding the wave: the updated exchanges' rows read (and locked) in one
/// statement, merged ([`merge_updates`]), the merged rows written in one statement in a
/// savepoint; should that fail, each in a savepoint of its own, so a failing one rolls back
/// alone (logged) and its stored params stand. Then `choose`'s params recorded. `None` when
/// not `owner`'s.
async fn merge_and_record(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    wave_id: &str,
    owner: &str,
    updates: &[ParamsUpdate],
    as_of: DateTime<Utc>,
    choose: impl FnOnce(&ByExchange, &ByExchange) -> WaveParams,
) -> Result<Option<(WaveParams, Vec<StoredParams>)>, CoordinatorError> {
    let ids: Vec<u32> = updates.iter().map(|u| u.exchange_id).collect();
    let stored = read_params_for_update(tx, backend, &ids).await?;
    let (merged, stood) = merge_updates(&stored, updates, as_of);
    let written = write_merged(tx, backend, wave_id, merged).await?;
    let params = choose(&written, &stood);
    let q = sqlx_query(record_statement(wave_id, owner, &params)?);
    if !one_row(q, &mut *tx).await? {
        return Ok(None);
    }
    Ok(Some((params, written.into_values().collect())))
}
