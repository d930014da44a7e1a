//! `WAVE_CANCELLED`: failing a collecting wave, recording a dispatching wave's cancel.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Acquire;

use super::waves::{WaveStatus, fail_collecting_in, hold_dispatching};
use super::{NewEvent, Store, insert_event};
use crate::error::CoordinatorError;

/// One operator's cancel of a wave.
#[derive(Debug, Clone, Copy)]
pub struct CancelRecord<'a> {
    /// Wave id.
    pub wave_id: &'a str,
    /// The operator's reason (already checked).
    pub reason: &'a str,
    /// The wave's status when the cancel was taken: collecting or dispatching.
    pub status: WaveStatus,
    /// The coordinator that took it.
    pub coordinator: &'a str,
    /// When.
    pub now: DateTime<Utc>,
}

/// The event's unique key: a wave is cancelled once, whatever the number of calls.
fn dedup_key(wave_id: &str) -> String {
    format!("wave_cancelled:{wave_id}")
}

fn event<'a>(c: &CancelRecord<'a>) -> NewEvent<'a> {
    let data = serde_json::json!({
        "wave_id": c.wave_id,
        "reason": c.reason,
        "status": c.status.as_str(),
        "coordinator": c.coordinator,
        "cancelled_at": c.now.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    NewEvent {
        event_type: "WAVE_CANCELLED",
        event_data: data.to_string(),
        correlation_id: c.wave_id,
        severity: "warning",
        dedup_key: Some(dedup_key(c.wave_id)),
        ..NewEvent::default()
    }
}

impl Store {
    /// Fails a collecting wave with its event in one transaction; false when not collecting.
    pub(crate) async fn cancel_collecting(
        &self,
        c: &CancelRecord<'_>,
        failed_reason: &str,
    ) -> Result<bool, CoordinatorError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        if !fail_collecting_in(&mut tx, c.wave_id, failed_reason, c.now).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_event(&mut tx, &event(c)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a cancel while `c.coordinator` dispatches the wave: `None` if not, else if first.
    pub async fn record_cancel(
        &self,
        c: &CancelRecord<'_>,
    ) -> Result<Option<bool>, CoordinatorError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        // Held, so a completion or takeover cannot commit between this check and the event.
        if !hold_dispatching(&mut tx, c.wave_id, c.coordinator).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let first = insert_event(&mut tx, &event(c)).await?;
        tx.commit().await?;
        Ok(Some(first))
    }

    /// The reason of the wave's recorded cancel, if it was cancelled.
    pub async fn cancel_reason(&self, wave_id: &str) -> Result<Option<String>, CoordinatorError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT event_data FROM events WHERE dedup_key = $1")
                .bind(dedup_key(wave_id))
                .fetch_optional(&self.pool)
                .await?;
        let Some((data,)) = row else {
            return Ok(None);
        };
        let v: serde_json::Value = serde_json::from_str(&data)
            .map_err(|e| CoordinatorError::Corrupt(format!("WAVE_CANCELLED of {wave_id}: {e}")))?;
        let reason = v["reason"].as_str().ok_or_else(|| {
            CoordinatorError::Corrupt(format!("WAVE_CANCELLED of {wave_id} has no reason"))
        })?;
        Ok(Some(reason.to_owned()))
    }
}
