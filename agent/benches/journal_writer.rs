//! The journal writer's cost per acknowledged write, as a sequential walk issues them: the
//! order's row before it leaves (`Journal::insert_sent`), its fill queued, the stop step
//! (`Journal::stop_step`), its outcome queued. Prints ns per acknowledged write (median).
//!
//! `cargo bench -p wavegate-agent --bench journal_writer -- [orders] [rounds] [gap_us]`.
//! With `gap_us` > 0, each exchange call of the walk is stood in for by a sleep of that long on
//! a blocking-pool thread, as the paper exchange spends its latency: the queued writes then
//! commit alone while the walk waits, as they do in the agent (issue 14).
//! `--profile dev` is enough to compare before/after on a loaded machine; with
//! `valgrind --tool=callgrind` the instruction count is the steadier measure.

use std::time::Instant;

use wavegate_agent::exchange::Side;
use wavegate_agent::journal::{
    Journal, NewOrder, OrderEvent, OrderState, OrderUpdate, StopEvent, StopState,
};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let orders: u32 = args.next().map_or(Ok(500), |a| a.parse())?;
    let rounds: u32 = args.next().map_or(Ok(5), |a| a.parse())?;
    let gap_us: u64 = args.next().map_or(Ok(0), |a| a.parse())?;
    let gap = std::time::Duration::from_micros(gap_us);
    // The exchange call after an acknowledged write: nothing, or the paper exchange's sleep.
    let call = move || async move {
        if !gap.is_zero() {
            let _ = tokio::task::spawn_blocking(move || std::thread::sleep(gap)).await;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut per_write = Vec::new();
        for round in 0..rounds {
            let dir = tempfile::tempdir()?;
            let journal = Journal::open(&dir.path().join("journal.db")).await?;
            let wave = format!("bench-{round}");
            // Only the acknowledged writes are timed (not the stand-in exchange calls).
            let mut spent = std::time::Duration::ZERO;
            for i in 0..orders {
                let coid = format!("wg-bench-{round}-{i}");
                let symbol = format!("S{i}USDT");
                let t = Instant::now();
                journal
                    .insert_sent(&NewOrder {
                        client_order_id: &coid,
                        wave_id: &wave,
                        signal_id: i64::from(i),
                        symbol: &symbol,
                        side: Side::Long,
                        wave_target: orders,
                        index: i,
                        round: 0,
                        trailing: None,
                    })
                    .await?;
                spent += t.elapsed();
                call().await;
                let fill = OrderUpdate {
                    executed: true,
                    ..OrderUpdate::default()
                };
                journal.apply_later(&coid, OrderState::Sent, OrderEvent::Fill, &fill)?;
                // The walk goes on through other tasks' turns (the rate limiter, the outcome
                // sent on the session's stream) before its next acknowledged write.
                tokio::task::yield_now().await;
                let t = Instant::now();
                journal
                    .stop_step(&coid, StopState::None, StopEvent::Send, 1)
                    .await?;
                spent += t.elapsed();
                call().await;
                journal.stop_step_later(&coid, StopState::Sending, StopEvent::Place, None)?;
                tokio::task::yield_now().await;
            }
            per_write.push(spent.as_nanos() / u128::from(2 * orders));
            // Closing must return (the held connection included): a hang here is a failure.
            tokio::time::timeout(std::time::Duration::from_secs(10), journal.close())
                .await
                .map_err(|_| anyhow::anyhow!("journal close hung"))??;
        }
        per_write.sort_unstable();
        let median = per_write[per_write.len() / 2];
        println!(
            "journal writer: {orders} orders × 2 acknowledged writes, {rounds} rounds, \
             {gap_us} µs per exchange call: median {median} ns per write (all: {per_write:?})"
        );
        anyhow::Ok(())
    })
}
