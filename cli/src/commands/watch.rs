//! `wavegate watch [WAVE]`: live per-exchange progress, then the result table.

use wavegate_common::proto::v1 as pb;

use crate::args::WatchArgs;
use crate::client::Clients;
use crate::error::CliError;
use crate::follow::{Follower, get_wave};
use crate::progress::{ProgressMode, WaveProgress};
use crate::report::text::plural;
use crate::report::{WaveReport, render_wave, status_name};

/// A wave's state before following it: unknown, collecting (count), dispatching, or finished.
pub fn state_line(id: &str, detail: Option<&pb::WaveDetail>) -> String {
    let Some(summary) = detail.and_then(|d| d.summary.as_ref()) else {
        return format!(
            "wave {id}: not known to the coordinator yet; waiting for its first signal"
        );
    };
    let n = plural(summary.signal_count, "signal");
    match pb::WaveStatus::try_from(summary.status) {
        Ok(pb::WaveStatus::Collecting) => {
            format!("wave {id}: collecting ({n} so far); progress starts when it closes")
        }
        Ok(pb::WaveStatus::Dispatching) => format!("wave {id}: dispatching ({n})"),
        _ => format!("wave {id}: already {} ({n})", status_name(summary.status)),
    }
}

/// Runs `watch`. Exits 0 when the wave completes (also partially), 1 when it failed.
pub async fn run(clients: &mut Clients, args: &WatchArgs) -> Result<(), CliError> {
    let wave = args.wave.clone();
    // Subscribed before the wave is read, so nothing between the two is missed.
    let follower = Follower::subscribe(clients, wave.clone()).await?;
    match &wave {
        Some(w) => {
            eprintln!("watching wave {w} on {}", clients.endpoint);
            let detail = get_wave(clients, w).await?;
            eprintln!("{}", state_line(w, detail.as_ref()));
        }
        None => eprintln!(
            "waiting for the next wave that shows activity on {}",
            clients.endpoint
        ),
    }
    let mut progress = WaveProgress::new(ProgressMode::auto());
    let detail = follower.wait(&mut progress).await?;
    let report = WaveReport::from_detail(&detail, false);
    print!("{}", render_wave(&report));
    if report.status == "failed" {
        return Err(CliError::Failed(format!("wave {} failed", report.wave_id)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_line_names_the_wave_and_says_where_it_is() {
        let id = "2026-11-24T12:00:00Z";
        assert!(state_line(id, None).contains("not known to the coordinator yet"));
        let detail = |status: pb::WaveStatus, n: u32| pb::WaveDetail {
            summary: Some(pb::WaveSummary {
                wave_id: id.into(),
                status: status as i32,
                signal_count: n,
                ..Default::default()
            }),
            ..Default::default()
        };
        let collecting = state_line(id, Some(&detail(pb::WaveStatus::Collecting, 1)));
        assert_eq!(
            collecting,
            format!("wave {id}: collecting (1 signal so far); progress starts when it closes")
        );
        let done = state_line(id, Some(&detail(pb::WaveStatus::Partial, 17)));
        assert_eq!(done, format!("wave {id}: already partial (17 signals)"));
    }
}
