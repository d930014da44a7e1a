//! docs/design.md §5 target 3: ingest above 100 000 signals/s with large streamed batches on SQLite.
//!
//! Signals go to a coordinator whose exchanges have no agent and whose waves never close
//! during the run (quiet period of an hour), so only ingest is measured. Rates count signals
//! the summary acknowledged (committed before the summary is sent), and the stored count is
//! checked with `Waves.Get` afterwards.

use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::publish_request::Item;
use wavegate_common::time::{floor_to_interval, to_proto, wave_id};

use crate::cluster::{Cluster, CoordinatorSpec, vm_hwm_kib};

/// Exchanges the ingested signals are spread over.
const EXCHANGES: u32 = 8;

/// The ingest coordinator's settings: room for the whole stream in one call.
pub fn coordinator(stream_signals: usize) -> CoordinatorSpec {
    CoordinatorSpec {
        max_batch_signals: stream_signals.max(100_000),
        exchanges_without_agent: (1..=EXCHANGES).collect(),
    }
}

/// Results of the ingest runs.
#[derive(Debug)]
pub struct Ingest {
    /// Signals in the one `Publish` stream.
    pub stream_signals: usize,
    /// Seconds from the first message to the summary.
    pub stream_secs: f64,
    /// `PublishWave` calls and signals per call.
    pub batches: usize,
    /// Signals per `PublishWave` call.
    pub batch_signals: usize,
    /// Seconds spent inside the `PublishWave` calls (building the messages excluded).
    pub batch_secs: f64,
    /// The coordinator's peak RSS (KiB) in the stream and in the batches, when asked for.
    pub phase_peaks_kib: Option<(u64, u64)>,
}

impl Ingest {
    /// Accepted signals per second over the stream.
    pub fn stream_rate(&self) -> f64 {
        self.stream_signals as f64 / self.stream_secs
    }

    /// Accepted signals per second over the `PublishWave` calls.
    pub fn batch_rate(&self) -> f64 {
        (self.batches * self.batch_signals) as f64 / self.batch_secs
    }
}

fn signal(i: usize, ts: DateTime<Utc>, created: &prost_types::Timestamp) -> pb::Signal {
    let score = (i % 1000) as f64 / 10.0;
    pb::Signal {
        id: i as i64 + 1,
        symbol: format!("S{i}USDT"),
        exchange_id: 1 + (i as u32 % EXCHANGES),
        action: pb::Action::Buy as i32,
        score_week: score,
        score_month: 100.0 - score,
        wave_timestamp: Some(to_proto(ts)),
        created_at: Some(*created),
        params: None,
    }
}

async fn stored(cluster: &Cluster, ts: DateTime<Utc>) -> anyhow::Result<u32> {
    let d = cluster
        .waves()
        .await?
        .get(pb::GetWaveRequest {
            wave_id: wave_id(ts),
        })
        .await?
        .into_inner();
    d.summary.map(|s| s.signal_count).context("no summary")
}

/// Streams `stream_signals` through one `Publish` call, then `batches` × `batch_signals`
/// through `PublishWave`. With the coordinator's `pid`, its peak RSS is read after each phase
/// and reset before the next (`/proc/<pid>/clear_refs`), so each phase has its own peak.
pub async fn run(
    cluster: &Cluster,
    stream_signals: usize,
    batches: usize,
    batch_signals: usize,
    pid: Option<u32>,
) -> anyhow::Result<Ingest> {
    let base = floor_to_interval(Utc::now(), 900);
    let created = to_proto(Utc::now());
    let mut client = cluster.ingest().await?;

    // Signals are built lazily as the stream is polled: the producer's cost is part of it.
    let stream_ts = base;
    let items = futures::stream::iter(0..stream_signals).map(move |i| pb::PublishRequest {
        item: Some(Item::Signal(signal(i, stream_ts, &created))),
    });
    let t = Instant::now();
    let s = client.publish(items).await?.into_inner();
    let stream_secs = t.elapsed().as_secs_f64();
    if s.accepted as usize != stream_signals || s.rejected != 0 {
        bail!(
            "stream: {} accepted, {} rejected of {stream_signals}: {:?}",
            s.accepted,
            s.rejected,
            s.rejections.first()
        );
    }
    eprintln!("      stream: {stream_signals} signals in {stream_secs:.2} s");
    let n = stored(cluster, stream_ts).await?;
    if n as usize != stream_signals {
        bail!("stream: {n} signals stored, {stream_signals} acknowledged");
    }
    let stream_peak = match pid {
        Some(pid) => {
            let kib = vm_hwm_kib(pid)?;
            // "5" resets the peak RSS to the current RSS (proc(5), /proc/pid/clear_refs).
            std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
                .context("resetting the coordinator's peak RSS")?;
            Some(kib)
        }
        None => None,
    };

    // The next candle: a wave id of its own, aligned and not in the future beyond one interval.
    let batch_ts = base + chrono::Duration::seconds(900);
    let mut batch_secs = 0.0;
    for b in 0..batches {
        let wave = pb::Wave {
            wave_timestamp: Some(to_proto(batch_ts)),
            signals: (b * batch_signals..(b + 1) * batch_signals)
                .map(|i| signal(i, batch_ts, &created))
                .collect(),
            close: false,
        };
        let t = Instant::now();
        let s = client.publish_wave(wave).await?.into_inner();
        batch_secs += t.elapsed().as_secs_f64();
        if s.accepted as usize != batch_signals || s.rejected != 0 {
            bail!(
                "PublishWave {b}: {} accepted of {batch_signals}",
                s.accepted
            );
        }
    }
    let n = stored(cluster, batch_ts).await?;
    if n as usize != batches * batch_signals {
        bail!("PublishWave: {n} signals stored");
    }
    let phase_peaks_kib = match (stream_peak, pid) {
        (Some(stream), Some(pid)) => Some((stream, vm_hwm_kib(pid)?)),
        _ => None,
    };
    Ok(Ingest {
        stream_signals,
        stream_secs,
        batches,
        batch_signals,
        batch_secs,
        phase_peaks_kib,
    })
}
