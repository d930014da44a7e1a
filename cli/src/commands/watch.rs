//! `wavegate watch [WAVE]`: live per-exchange progress, then the result table.

use wavegate_common::time::{parse_wave_id, wave_id};

use crate::args::WatchArgs;
use crate::client::Clients;
use crate::error::CliError;
use crate::follow::Follower;
use crate::progress::{ProgressMode, WaveProgress};
use crate::report::{WaveReport, render_wave};

/// Normalizes a wave id given on the command line (any RFC 3339 form of the timestamp).
pub fn normalize_wave_id(arg: &str) -> Result<String, CliError> {
    parse_wave_id(arg.trim()).map(wave_id).ok_or_else(|| {
        CliError::Input(format!(
            "WAVE {arg:?}: not an RFC 3339 timestamp (e.g. 2026-11-24T12:00:00Z)"
        ))
    })
}

/// Runs `watch`. Exits 0 when the wave completes (also partially), 1 when it failed.
pub async fn run(clients: &mut Clients, args: &WatchArgs) -> Result<(), CliError> {
    let wave = args.wave.as_deref().map(normalize_wave_id).transpose()?;
    match &wave {
        Some(w) => eprintln!("watching wave {w} on {}", clients.endpoint),
        None => eprintln!("waiting for wave activity on {}", clients.endpoint),
    }
    let mut progress = WaveProgress::new(ProgressMode::auto());
    let detail = Follower::subscribe(clients, wave)
        .await?
        .wait(&mut progress)
        .await?;
    let report = WaveReport::from_detail(&detail, false);
    print!("{}", render_wave(&report));
    if report.status == "failed" {
        return Err(CliError::Failed(format!(
            "wave {} failed",
            report.wave_timestamp
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wave_ids_are_normalized_or_refused() {
        assert_eq!(
            normalize_wave_id("2026-11-24T13:00:00+01:00").unwrap(),
            "2026-11-24T12:00:00Z"
        );
        let e = normalize_wave_id("yesterday").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("\"yesterday\""));
    }
}
