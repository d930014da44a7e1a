//! The bench's waves: symbols and signals of the 8 × 100 grid. Publishing and following a
//! wave is [`wavegate_cli::bench::wave_run`], shared with `wavegate bench`.

use chrono::{DateTime, Utc};
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::to_proto;

/// Symbol of the `rank`-th signal of bench wave `wave`. Unique per wave, so no wave sees a
/// position opened by an earlier one; the `W<wave>S` prefix finds a wave's orders in a journal.
pub fn symbol(wave: usize, rank: usize) -> String {
    format!("W{wave}S{rank}USDT")
}

/// The bench wave `wave` a paper order's symbol belongs to.
pub fn wave_of_symbol(symbol: &str) -> Option<usize> {
    symbol.strip_prefix('W')?.split_once('S')?.0.parse().ok()
}

/// `per_exchange` signals for each `(exchange_id, max_trades)`, ranked by descending score;
/// the best signal of each exchange carries its `max_trades`.
pub fn signals(
    wave: usize,
    exchanges: &[(u32, u32)],
    per_exchange: usize,
    ts: DateTime<Utc>,
) -> Vec<pb::Signal> {
    let mut v = Vec::with_capacity(exchanges.len() * per_exchange);
    for &(ex, max_trades) in exchanges {
        for rank in 0..per_exchange {
            let score = 99.0 - rank as f64 * 90.0 / per_exchange as f64;
            v.push(pb::Signal {
                id: i64::from(ex) * 100_000 + rank as i64 + 1,
                symbol: symbol(wave, rank),
                exchange_id: ex,
                action: pb::Action::Buy as i32,
                score_week: score,
                score_month: score,
                wave_timestamp: Some(to_proto(ts)),
                created_at: Some(to_proto(Utc::now())),
                params: (rank == 0).then_some(pb::SignalParams {
                    max_trades: Some(max_trades),
                    stop_loss_percent: Some(4.0),
                    trailing_activation_percent: None,
                    trailing_distance_percent: None,
                    ..Default::default()
                }),
            });
        }
    }
    v
}
