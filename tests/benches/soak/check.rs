//! The soak run's invariants, checked against what each paper exchange holds (its tables in
//! the agent's journal file), and the results table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use wavegate_common::proto::v1 as pb;

use crate::Args;
use crate::faults::Tally;

/// The journal (and paper exchange) file of the agent of `exchange_id`.
pub fn journal(dir: &Path, exchange_id: u32) -> PathBuf {
    dir.join(format!("agent-{exchange_id}.db"))
}

/// One invariant on one exchange.
pub struct Invariant {
    /// What must hold.
    pub name: &'static str,
    /// Exchange id.
    pub exchange: u32,
    /// How many cases were checked.
    pub checked: usize,
    /// The cases where it did not hold (a few, for the table).
    pub violations: Vec<String>,
}

impl Invariant {
    /// True when no case broke it.
    pub fn held(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks every invariant on every exchange.
pub async fn run(
    dir: &Path,
    exchanges: &[u32],
    target: u32,
    reported: &[(String, pb::WaveDetail)],
) -> anyhow::Result<Vec<Invariant>> {
    let mut out = Vec::new();
    for &ex in exchanges {
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(journal(dir, ex))
            .read_only(true);
        let pool = SqlitePool::connect_with(opts).await?;

        let fills: Vec<(String, String)> = sqlx::query_as(
            "SELECT p.symbol, o.wave_id FROM paper_orders p
             JOIN orders o ON o.client_order_id = p.client_order_id
             WHERE p.kind = 'entry' AND p.status = 'filled'",
        )
        .fetch_all(&pool)
        .await?;
        let mut by_symbol: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_wave: BTreeMap<&str, u32> = BTreeMap::new();
        for (symbol, wave) in &fills {
            *by_symbol.entry(symbol).or_default() += 1;
            *by_wave.entry(wave).or_default() += 1;
        }
        out.push(Invariant {
            name: "no symbol opened twice",
            exchange: ex,
            checked: by_symbol.len(),
            violations: by_symbol
                .iter()
                .filter(|(_, n)| **n > 1)
                .map(|(s, n)| format!("{s} ×{n}"))
                .collect(),
        });
        out.push(Invariant {
            name: "never above target per candle",
            exchange: ex,
            checked: reported.len(),
            violations: by_wave
                .iter()
                .filter(|(_, n)| **n > target)
                .map(|(w, n)| format!("{w}: {n} > {target}"))
                .collect(),
        });
        let mut mismatches = Vec::new();
        for (wave, d) in reported {
            let reported = d
                .exchanges
                .iter()
                .find(|s| s.exchange_id == ex)
                .map_or(0, |s| s.executed);
            let held = by_wave.get(wave.as_str()).copied().unwrap_or(0);
            if reported != held {
                mismatches.push(format!("{wave}: reported {reported}, exchange {held}"));
            }
        }
        out.push(Invariant {
            name: "report = exchange",
            exchange: ex,
            checked: reported.len(),
            violations: mismatches,
        });
        let unprotected: Vec<String> = sqlx::query_scalar(
            "SELECT p.symbol FROM paper_positions p
             WHERE EXISTS (SELECT 1 FROM paper_orders e WHERE e.symbol = p.symbol
                           AND e.kind = 'entry' AND e.status = 'filled')
               AND NOT EXISTS (SELECT 1 FROM paper_orders s WHERE s.symbol = p.symbol
                               AND s.kind = 'stop' AND s.status = 'open')",
        )
        .fetch_all(&pool)
        .await?;
        out.push(Invariant {
            name: "every position protected",
            exchange: ex,
            checked: by_symbol.len(),
            violations: unprotected,
        });
        pool.close().await;
    }
    Ok(out)
}

/// The results table (Markdown).
pub fn table(a: &Args, t: &Tally, elapsed: Duration, results: &[Invariant]) -> String {
    let mut s = format!(
        "## Soak run\n\n{} waves, seed {}, {:.0} s: {} without fault, {} agent kills (back \
         within 3 s), {} agent stops (up to 3 s), {} coordinator kills.\n\n\
         | invariant | exchange | checked | violations | held |\n|---|---|---|---|---|\n",
        a.waves,
        a.seed,
        elapsed.as_secs_f64(),
        t.none,
        t.agent_kills,
        t.agent_stops,
        t.coordinator_kills,
    );
    for r in results {
        let shown: Vec<&str> = r.violations.iter().take(3).map(String::as_str).collect();
        s.push_str(&format!(
            "| {} | {} | {} | {} {} | {} |\n",
            r.name,
            r.exchange,
            r.checked,
            r.violations.len(),
            shown.join("; "),
            if r.held() { "yes" } else { "**NO**" },
        ));
    }
    s
}
