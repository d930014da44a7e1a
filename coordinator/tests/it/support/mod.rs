//! Test support: fresh databases on both backends, and signal builders.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use sqlx::Connection;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::to_proto;

/// A fresh database; `cleanup` drops it (PostgreSQL) or its directory goes with the TempDir.
pub struct TestDb {
    pub url: String,
    pg_admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/wavegate.db?mode=rwc", dir.path().display());
        Self {
            url,
            pg_admin: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let admin = std::env::var("WAVEGATE_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!(
            "wg_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            Utc::now().timestamp_micros()
        );
        let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap().to_owned();
        Self {
            url: format!("{base}/{name}"),
            pg_admin: Some((admin, name)),
            _dir: None,
        }
    }

    pub async fn both() -> Vec<TestDb> {
        vec![Self::sqlite().await, Self::postgres().await]
    }

    pub async fn cleanup(self) {
        if let Some((admin, name)) = &self.pg_admin {
            let mut c = sqlx::PgConnection::connect(admin).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
        }
    }
}

/// The current 15-minute candle's open time (so signals are neither late nor too old).
pub fn current_wave() -> DateTime<Utc> {
    wavegate_common::time::floor_to_interval(Utc::now(), 900)
}

/// A wire signal.
pub fn sig(id: i64, symbol: &str, exchange_id: u32, score: f64, ts: DateTime<Utc>) -> pb::Signal {
    pb::Signal {
        id,
        symbol: symbol.into(),
        exchange_id,
        action: pb::Action::Buy as i32,
        score_week: score,
        score_month: score,
        wave_timestamp: Some(to_proto(ts)),
        created_at: Some(to_proto(Utc::now())),
        params: None,
    }
}

/// A wire signal carrying `max_trades`.
pub fn sig_with_params(
    id: i64,
    symbol: &str,
    exchange_id: u32,
    score: f64,
    ts: DateTime<Utc>,
    max_trades: u32,
) -> pb::Signal {
    let mut s = sig(id, symbol, exchange_id, score, ts);
    s.params = Some(pb::SignalParams {
        max_trades: Some(max_trades),
        stop_loss_percent: Some(4.0),
        trailing_activation_percent: None,
        trailing_distance_percent: None,
    });
    s
}
