//! `waves`: lifecycle rows, the one-write dispatch claim and the dispatch lease.

use chrono::{DateTime, Utc};
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::WaveTotals;

use super::row::{Columns, Statement, Value, sqlx_query};
use super::{Store, from_ms, ms, one_row};
use crate::error::CoordinatorError;

pub use wavegate_common::wave_status::WaveStatus;

/// One stored wave.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveRow {
    /// Wave id (RFC 3339 of the timestamp).
    pub id: String,
    /// Open time of the candle.
    pub wave_timestamp: DateTime<Utc>,
    /// Status.
    pub status: WaveStatus,
    /// Signals accepted.
    pub signal_count: u32,
    /// First signal.
    pub created_at: DateTime<Utc>,
    /// Latest signal.
    pub last_signal_at: DateTime<Utc>,
    /// Close at the latest (timestamp + interval + grace).
    pub close_by: DateTime<Utc>,
    /// When it stopped collecting.
    pub closed_at: Option<DateTime<Utc>>,
    /// When it completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Coordinator holding the dispatch lease.
    pub owner: Option<String>,
    /// Dispatch deadline sent to agents.
    pub deadline_at: Option<DateTime<Utc>>,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// Totals, once completed.
    pub totals: Option<WaveTotals>,
}

impl WaveRow {
    /// Wire summary.
    pub fn to_summary(&self) -> pb::WaveSummary {
        use wavegate_common::time::to_proto;
        pb::WaveSummary {
            wave_id: self.id.clone(),
            wave_timestamp: Some(to_proto(self.wave_timestamp)),
            status: self.status.to_proto() as i32,
            signal_count: self.signal_count,
            created_at: Some(to_proto(self.created_at)),
            closed_at: self.closed_at.map(to_proto),
            completed_at: self.completed_at.map(to_proto),
            totals: self.totals.map(WaveTotals::to_proto),
            reason: self.reason.clone().unwrap_or_default(),
        }
    }
}

macro_rules! wave_columns {
    () => {
        "id, wave_ts, status, signal_count, created_at, last_signal_at, close_by, \
                       closed_at, completed_at, owner, deadline_at, reason, totals"
    };
}

/// A `waves` row (the columns of `wave_columns!`) from either driver.
pub(super) fn from_row(r: &impl Columns) -> Result<WaveRow, CoordinatorError> {
    let id = r.text("id")?;
    let status = r.text("status")?;
    let status = WaveStatus::parse(&status)
        .ok_or_else(|| CoordinatorError::Corrupt(format!("wave {id} status {status:?}")))?;
    let totals = (r.text_opt("totals")?)
        .map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| CoordinatorError::Corrupt(format!("wave {id} totals: {e}")))?;
    let at = |col| r.int(col).map(from_ms);
    let at_opt = |col| r.int_opt(col).map(|v| v.map(from_ms));
    Ok(WaveRow {
        wave_timestamp: at("wave_ts")?,
        status,
        signal_count: u32::try_from(r.int("signal_count")?).unwrap_or(u32::MAX),
        created_at: at("created_at")?,
        last_signal_at: at("last_signal_at")?,
        close_by: at("close_by")?,
        closed_at: at_opt("closed_at")?,
        completed_at: at_opt("completed_at")?,
        owner: r.text_opt("owner")?,
        deadline_at: at_opt("deadline_at")?,
        reason: r.text_opt("reason")?,
        totals,
        id,
    })
}

/// Makes sure the wave row exists (inside an ingest transaction); true when it was created.
pub(crate) async fn ensure_wave(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    ts: DateTime<Utc>,
    close_by: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let q = sqlx::query(
        "INSERT INTO waves (id, wave_ts, status, signal_count, created_at, last_signal_at, \
         close_by) VALUES ($1, $2, 'collecting', 0, $3, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(ms(ts))
    .bind(ms(now))
    .bind(ms(close_by));
    one_row(q, conn).await
}

/// True while the wave is collecting. A no-op write that locks the row on PostgreSQL (a
/// concurrent claim waits); `last_signal_at` is untouched so repeats do not extend the quiet.
pub(crate) async fn lock_collecting(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let q = sqlx::query(
        "UPDATE waves SET signal_count = signal_count WHERE id = $1 AND status = 'collecting'",
    )
    .bind(id);
    one_row(q, conn).await
}

/// Records `added` signals on a collecting wave (see [`lock_collecting`]); quiet counts from `now`.
pub(crate) async fn touch_collecting(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    now: DateTime<Utc>,
    added: u32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE waves SET last_signal_at = $1, signal_count = signal_count + $2 \
         WHERE id = $3 AND status = 'collecting'",
    )
    .bind(ms(now))
    .bind(i64::from(added))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// In a transaction: true while `owner` dispatches the wave, held (a no-op write) to its end.
pub(crate) async fn hold_dispatching(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    owner: &str,
) -> Result<bool, sqlx::Error> {
    let q = sqlx::query(
        "UPDATE waves SET owner = owner WHERE id = $1 AND owner = $2 AND status = 'dispatching'",
    )
    .bind(id)
    .bind(owner);
    one_row(q, conn).await
}

/// A claim of a collecting wave by `owner` (see [`Store::claim`]).
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The wave.
    pub id: &'a str,
    /// The claiming coordinator.
    pub owner: &'a str,
    /// The dispatch lease's end.
    pub lease_until: DateTime<Utc>,
    /// The dispatch deadline sent to agents.
    pub deadline: DateTime<Utc>,
    /// The close time (`closed_at`).
    pub now: DateTime<Utc>,
    /// Unless the producer closed the wave: quiet since this instant (or past `close_by`).
    pub due: Option<DateTime<Utc>>,
    /// Only a wave whose timestamp is at or after this instant (an older one is too old to
    /// execute: the caller reads the row to tell why the claim failed).
    pub not_before: Option<DateTime<Utc>>,
}

/// THE claim's statement: it returns the wave's row as the claim left it, when it succeeded.
pub(super) fn claim_statement(c: &Claim<'_>) -> Statement {
    let mut sql = String::from(
        "UPDATE waves SET status = 'dispatching', owner = $1, lease_until = $2, \
         deadline_at = $3, closed_at = $4 WHERE id = $5 AND status = 'collecting'",
    );
    let mut next = 6;
    if c.due.is_some() {
        sql.push_str(&format!(
            " AND (last_signal_at <= ${next} OR close_by <= $4)"
        ));
        next += 1;
    }
    if c.not_before.is_some() {
        sql.push_str(&format!(" AND wave_ts >= ${next}"));
    }
    sql.push_str(concat!(" RETURNING ", wave_columns!()));
    let mut values = vec![
        Value::text(c.owner),
        Value::int(ms(c.lease_until)),
        Value::int(ms(c.deadline)),
        Value::int(ms(c.now)),
        Value::text(c.id),
    ];
    values.extend(
        [c.due, c.not_before]
            .into_iter()
            .flatten()
            .map(|at| Value::int(ms(at))),
    );
    (sql, values)
}

/// THE claim on `conn`: the wave's row as the claim left it, when it succeeded.
pub(super) async fn claim_in(
    conn: &mut sqlx::AnyConnection,
    c: &Claim<'_>,
) -> Result<Option<WaveRow>, CoordinatorError> {
    sqlx_query(claim_statement(c))
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

impl Store {
    /// One wave.
    pub async fn wave(&self, id: &str) -> Result<Option<WaveRow>, CoordinatorError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            wave_columns!(),
            " FROM waves WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// Newest waves first, optionally of one status.
    pub async fn list_waves(
        &self,
        limit: u32,
        status: Option<WaveStatus>,
    ) -> Result<Vec<WaveRow>, CoordinatorError> {
        let filter = status.map_or("", |_| "WHERE status = $2 ");
        let sql = format!(
            concat!(
                "SELECT ",
                wave_columns!(),
                " FROM waves {}ORDER BY wave_ts DESC LIMIT $1"
            ),
            filter
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(i64::from(limit));
        if let Some(s) = status {
            q = q.bind(s.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Collecting waves due to close: quiet since `quiet_before`, or past their `close_by`.
    pub(crate) async fn due_waves(
        &self,
        now: DateTime<Utc>,
        quiet_before: DateTime<Utc>,
    ) -> Result<Vec<String>, CoordinatorError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM waves WHERE status = 'collecting' \
             AND (last_signal_at <= $1 OR close_by <= $2) ORDER BY wave_ts",
        )
        .bind(ms(quiet_before))
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Dispatching waves this coordinator may take over: lease expired, or owned by `owner`.
    pub async fn resumable_waves(
        &self,
        now: DateTime<Utc>,
        owner: &str,
    ) -> Result<Vec<String>, CoordinatorError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM waves WHERE status = 'dispatching' \
             AND (lease_until < $1 OR owner = $2) ORDER BY wave_ts",
        )
        .bind(ms(now))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// THE claim alone (closing a wave claims with its params, [`Store::claim_with_params`]):
    /// one conditional write that succeeds for exactly one coordinator. With `due` it re-checks
    /// the wave is due, so an ingest committed meanwhile keeps it open.
    pub async fn claim(
        &self,
        id: &str,
        owner: &str,
        lease_until: DateTime<Utc>,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
        due: Option<DateTime<Utc>>,
    ) -> Result<bool, CoordinatorError> {
        let claim = Claim {
            id,
            owner,
            lease_until,
            deadline,
            now,
            due,
            not_before: None,
        };
        let mut conn = self.pool.acquire().await?;
        Ok(claim_in(&mut conn, &claim).await?.is_some())
    }

    /// Takes over a dispatching wave whose lease expired (or `owner`'s before a restart). The
    /// claim's deadline stands, so a resumed wave never places orders past it.
    pub async fn take_over(
        &self,
        id: &str,
        owner: &str,
        lease_until: DateTime<Utc>,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, CoordinatorError> {
        let q = sqlx::query(
            "UPDATE waves SET owner = $1, lease_until = $2, \
             deadline_at = COALESCE(deadline_at, $3) WHERE id = $4 AND status = 'dispatching' AND (lease_until < $5 OR owner = $1)",
        )
        .bind(owner)
        .bind(ms(lease_until))
        .bind(ms(deadline))
        .bind(id)
        .bind(ms(now));
        Ok(one_row(q, &self.pool).await?)
    }

    /// Renews the lease; false when another coordinator took the wave over.
    pub async fn renew_lease(
        &self,
        id: &str,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, CoordinatorError> {
        let q = sqlx::query(
            "UPDATE waves SET lease_until = $1 WHERE id = $2 AND owner = $3 \
             AND status = 'dispatching'",
        )
        .bind(ms(lease_until))
        .bind(id)
        .bind(owner);
        Ok(one_row(q, &self.pool).await?)
    }

    /// Marks a collecting wave failed (e.g. too old to execute); false if it was not collecting.
    pub async fn fail_collecting(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, CoordinatorError> {
        let mut conn = self.pool.acquire().await?;
        Ok(fail_collecting_in(&mut conn, id, reason, now).await?)
    }
}

/// [`Store::fail_collecting`] on a connection: races safely with the claim.
pub(crate) async fn fail_collecting_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let q = sqlx::query(
        "UPDATE waves SET status = 'failed', reason = $1, closed_at = $2, completed_at = $2 \
         WHERE id = $3 AND status = 'collecting'",
    )
    .bind(reason)
    .bind(ms(now))
    .bind(id);
    one_row(q, conn).await
}
