//! Whose journal this is, and whether it is whole, checked at start-up: a damaged or foreign
//! journal would let waves run again. `journal_meta` records the owning agent.

use chrono::Utc;
use sqlx::SqlitePool;

use super::{Journal, JournalError};

/// The agent a journal belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `exchange_id` of the agent's config.
    pub exchange_id: u32,
    /// `exchange_name` of the agent's config.
    pub exchange_name: String,
    /// Adapter kind (`paper`, `binance`, `bybit`).
    pub adapter: String,
}

/// What the journal said about itself at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It carries this agent's identity, or has history.
    Known,
    /// No identity and no history: a first start, or a lost or replaced journal.
    New,
}

/// `PRAGMA quick_check`: damage anywhere in the file refuses the start.
pub(super) async fn quick_check(pool: &SqlitePool) -> Result<(), JournalError> {
    // Damage bad enough may fail the check itself: that is its verdict too.
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_all(pool)
        .await
        .map_err(|e| JournalError::Corrupt(format!("quick_check: {e}")))?;
    if rows.len() == 1 && rows[0] == "ok" {
        return Ok(());
    }
    let mut found = rows.join("; ");
    if found.len() > 300 {
        found.truncate(found.floor_char_boundary(300));
        found.push('…');
    }
    Err(JournalError::Corrupt(format!("quick_check: {found}")))
}

impl Journal {
    /// Compares the journal's identity with `me` ([`JournalError::Foreign`]: another agent's).
    pub async fn check_identity(&self, me: &Identity) -> Result<Standing, JournalError> {
        let stored: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM journal_meta")
            .fetch_all(self.pool())
            .await?;
        let get = |k: &str| stored.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        if get("exchange_id").is_some() {
            let mine = me.exchange_id.to_string();
            for (key, ours) in [
                ("exchange_id", &mine),
                ("exchange_name", &me.exchange_name),
                ("adapter", &me.adapter),
            ] {
                if let Some(theirs) = get(key)
                    && theirs != ours
                {
                    return Err(JournalError::Foreign {
                        key,
                        journal: theirs.clone(),
                        config: ours.clone(),
                    });
                }
            }
            return Ok(Standing::Known);
        }
        let history: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM orders) OR EXISTS (SELECT 1 FROM wave_results)",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(if history {
            Standing::Known
        } else {
            Standing::New
        })
    }

    /// Records `me` as the journal's agent (kept once written), after the start-up checks.
    pub async fn stamp_identity(&self, me: &Identity) -> Result<(), JournalError> {
        let now = Utc::now().to_rfc3339();
        let mut tx = self.pool().begin().await?;
        for (k, v) in [
            ("exchange_id", me.exchange_id.to_string()),
            ("exchange_name", me.exchange_name.clone()),
            ("adapter", me.adapter.clone()),
            ("created_at", now),
        ] {
            sqlx::query(
                "INSERT INTO journal_meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
