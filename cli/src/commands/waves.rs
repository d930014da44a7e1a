//! `wavegate waves list|show|cancel`: tables by default, `--json` for scripts.

use serde::Serialize;
use wavegate_common::WaveTotals;
use wavegate_common::proto::cancel_reason;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::from_proto;
use wavegate_common::timing::millis_between;

use crate::args::WavesCommand;
use crate::client::Clients;
use crate::commands::print_as;
use crate::error::CliError;
use crate::follow::get_wave;
use crate::report::{WaveReport, render_wave, status_name, time_str};
use crate::table::{
    Align::{Left, Right},
    Column, Table, cell, output_width,
};

/// One wave in `waves list --json`.
#[derive(Debug, Serialize)]
pub struct WaveSummaryView {
    wave_id: String,
    status: &'static str,
    signal_count: u32,
    created_at: Option<String>,
    closed_at: Option<String>,
    completed_at: Option<String>,
    /// From closed to completed, in milliseconds.
    duration_ms: Option<u64>,
    /// Totals, once finished.
    totals: Option<WaveTotals>,
    /// Why it failed or stopped early (e.g. `cancelled: …`), when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
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
            duration_ms: millis_between(
                s.closed_at.as_ref().and_then(from_proto),
                s.completed_at.as_ref().and_then(from_proto),
            ),
            totals: s.totals.as_ref().map(WaveTotals::from_proto),
            reason: (!s.reason.is_empty()).then(|| s.reason.clone()),
        }
    }
}

/// What `waves cancel --json` prints.
#[derive(Debug, Serialize)]
pub struct CancelView {
    wave_id: String,
    /// Status right after the cancel: `failed` (it was collecting) or `dispatching` (stopping).
    status: &'static str,
    /// Exchanges told to stop (0 for a collecting wave).
    exchanges_stopping: u32,
    reason: String,
}

/// The line `waves cancel` prints.
fn cancel_text(v: &CancelView) -> String {
    let id = &v.wave_id;
    match (v.status, v.exchanges_stopping) {
        ("failed", _) => {
            format!("wave {id} cancelled before dispatch: marked failed, nothing executed")
        }
        ("dispatching", 0) => format!(
            "wave {id} cancel recorded: no exchange of it is running here right now; its \
             dispatch stops each exchange as it starts (follow: wavegate watch {id})"
        ),
        ("dispatching", n) => format!(
            "wave {id} cancelling: {n} exchange(s) told to stop; orders in flight finish, then \
             the wave completes with what was opened (follow: wavegate watch {id})"
        ),
        (status, _) => format!("wave {id} finished ({status}) before the cancel reached it"),
    }
}

async fn cancel(
    clients: &mut Clients,
    wave: &str,
    reason: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let id = wave.to_owned();
    // Checked here too, so a bad reason is bad input (exit 2) rather than a refusal.
    let reason = cancel_reason(reason.unwrap_or_default())
        .map_err(|why| CliError::Input(format!("--reason: {why}")))?;
    let resp = clients
        .waves
        .cancel(pb::CancelWaveRequest {
            wave_id: id.clone(),
            reason: reason.clone(),
        })
        .await
        .map_err(|s| clients.status_error("Waves.Cancel", &s))?
        .into_inner();
    let view = CancelView {
        wave_id: id,
        status: status_name(resp.wave.as_ref().map_or(0, |w| w.status)),
        exchanges_stopping: resp.exchanges_stopping,
        reason,
    };
    print_as(json, &view, |v| cancel_text(v) + "\n")
}

fn list_table(waves: &[WaveSummaryView]) -> String {
    let columns: &[Column<WaveSummaryView>] = &[
        ("WAVE", Left, |w| w.wave_id.clone()),
        ("STATUS", Left, |w| w.status.to_owned()),
        ("SIGNALS", Right, |w| w.signal_count.to_string()),
        ("OPENED", Right, |w| {
            cell(w.totals.map(|t| t.total_executed))
        }),
        ("EXEC_FAILED", Right, |w| {
            cell(w.totals.map(|t| t.total_failed))
        }),
        ("COMPLETED_AT", Left, |w| {
            w.completed_at.clone().unwrap_or_default()
        }),
        ("DURATION_MS", Right, |w| cell(w.duration_ms)),
        ("REASON", Left, |w| w.reason.clone().unwrap_or_default()),
    ];
    Table::of(columns, waves).render_within(output_width())
}

/// Runs `waves list`, `waves show` or `waves cancel`.
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
                    status: status.map_or(0, |s| s as i32),
                })
                .await
                .map_err(|s| clients.status_error("Waves.List", &s))?
                .into_inner();
            let views: Vec<WaveSummaryView> =
                resp.waves.iter().map(WaveSummaryView::from_proto).collect();
            print_as(*json, &views, |v| list_table(v))
        }
        WavesCommand::Show { wave, json } => {
            let detail = get_wave(clients, wave)
                .await?
                .ok_or_else(|| CliError::Failed(format!("wave {wave} not found")))?;
            print_as(*json, &WaveReport::from_detail(&detail, *json), render_wave)
        }
        WavesCommand::Cancel { wave, reason, json } => {
            cancel(clients, wave, reason.as_deref(), *json).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_text_says_what_happened() {
        let mut v = CancelView {
            wave_id: "2026-11-24T12:00:00Z".into(),
            status: "failed",
            exchanges_stopping: 0,
            reason: "drill".into(),
        };
        assert!(cancel_text(&v).contains("nothing executed"));
        v.status = "dispatching";
        v.exchanges_stopping = 2;
        assert!(cancel_text(&v).contains("2 exchange(s) told to stop"));
        v.exchanges_stopping = 0;
        assert!(cancel_text(&v).contains("cancel recorded"));
        v.status = "completed";
        assert!(cancel_text(&v).contains("finished (completed)"));
    }
}
