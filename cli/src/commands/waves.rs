//! `wavegate waves list|show`: tables by default, `--json` for scripts.

use serde::Serialize;
use wavegate_common::WaveTotals;
use wavegate_common::proto::v1 as pb;

use crate::args::{StatusFilter, WavesCommand};
use crate::client::Clients;
use crate::commands::print_json;
use crate::commands::watch::normalize_wave_id;
use crate::error::CliError;
use crate::follow::get_wave;
use crate::report::{WaveReport, render_wave, status_name, time_str};
use crate::table::{Align, Table};

/// One wave in `waves list --json`.
#[derive(Debug, Serialize)]
pub struct WaveSummaryView {
    /// Wave id.
    pub wave_id: String,
    /// Status name.
    pub status: &'static str,
    /// Signals in the wave.
    pub signal_count: u32,
    /// First signal stored.
    pub created_at: Option<String>,
    /// Closed for dispatch.
    pub closed_at: Option<String>,
    /// Finished.
    pub completed_at: Option<String>,
    /// Totals, once finished.
    pub totals: Option<WaveTotals>,
}

impl WaveSummaryView {
    fn from_proto(s: &pb::WaveSummary) -> Self {
        Self {
            wave_id: s.wave_id.clone(),
            status: status_name(s.status),
            signal_count: s.signal_count,
            created_at: time_str(s.created_at.as_ref()),
            closed_at: time_str(s.closed_at.as_ref()),
            completed_at: time_str(s.completed_at.as_ref()),
            totals: s.totals.as_ref().map(WaveTotals::from_proto),
        }
    }
}

fn status_proto(s: StatusFilter) -> pb::WaveStatus {
    match s {
        StatusFilter::Collecting => pb::WaveStatus::Collecting,
        StatusFilter::Dispatching => pb::WaveStatus::Dispatching,
        StatusFilter::Completed => pb::WaveStatus::Completed,
        StatusFilter::Partial => pb::WaveStatus::Partial,
        StatusFilter::Failed => pb::WaveStatus::Failed,
    }
}

fn list_table(waves: &[WaveSummaryView]) -> String {
    let mut t = Table::new(&[
        ("WAVE", Align::Left),
        ("STATUS", Align::Left),
        ("SIGNALS", Align::Right),
        ("EXECUTED", Align::Right),
        ("FAILED", Align::Right),
        ("COMPLETED_AT", Align::Left),
    ]);
    for w in waves {
        let (executed, failed) = w.totals.map_or((String::new(), String::new()), |t| {
            (t.total_executed.to_string(), t.total_failed.to_string())
        });
        t.row([
            w.wave_id.clone(),
            w.status.to_owned(),
            w.signal_count.to_string(),
            executed,
            failed,
            w.completed_at.clone().unwrap_or_default(),
        ]);
    }
    t.render()
}

/// Runs `waves list` or `waves show`.
pub async fn run(clients: &mut Clients, cmd: &WavesCommand) -> Result<(), CliError> {
    match cmd {
        WavesCommand::List {
            limit,
            status,
            json,
        } => {
            let resp = clients
                .waves
                .list(pb::ListWavesRequest {
                    limit: *limit,
                    status: status.map_or(pb::WaveStatus::Unspecified, status_proto) as i32,
                })
                .await
                .map_err(|s| clients.status_error("Waves.List", &s))?
                .into_inner();
            let views: Vec<WaveSummaryView> =
                resp.waves.iter().map(WaveSummaryView::from_proto).collect();
            if *json {
                print_json(&views)
            } else {
                print!("{}", list_table(&views));
                Ok(())
            }
        }
        WavesCommand::Show { wave, json } => {
            let id = normalize_wave_id(wave)?;
            let detail = get_wave(clients, &id)
                .await?
                .ok_or_else(|| CliError::Failed(format!("wave {id} not found")))?;
            let report = WaveReport::from_detail(&detail, *json);
            if *json {
                print_json(&report)
            } else {
                print!("{}", render_wave(&report));
                Ok(())
            }
        }
    }
}
