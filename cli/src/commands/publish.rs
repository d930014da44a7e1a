//! `wavegate publish FILE|-`: check locally, stream with `Publish`, optionally close, report.

use std::collections::BTreeSet;
use std::io::Read;

use chrono::Utc;
use wavegate_common::Signal;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::publish_request::Item;
use wavegate_common::time::to_proto;

use crate::args::{ConnectArgs, PublishArgs};
use crate::client::{Clients, connect};
use crate::error::CliError;
use crate::input::{MAX_REPORTED_ERRORS, ParsedSignal, parse_signals};

/// Reads `FILE` or standard input.
fn read_input(file: &str) -> Result<(String, String), CliError> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Input(format!("<stdin>: {e}")))?;
        return Ok(("<stdin>".into(), text));
    }
    let text =
        std::fs::read_to_string(file).map_err(|e| CliError::Input(format!("{file}: {e}")))?;
    Ok((file.to_owned(), text))
}

/// Parses and checks the file; prints every error and refuses the whole file if any.
pub fn load(args: &PublishArgs) -> Result<(String, Vec<ParsedSignal>), CliError> {
    let (source, text) = read_input(&args.file)?;
    match parse_signals(&source, &text, args.format, args.interval_secs, Utc::now()) {
        Ok(signals) => Ok((source, signals)),
        Err(errors) => {
            for e in errors.iter().take(MAX_REPORTED_ERRORS) {
                eprintln!("error: {e}");
            }
            if errors.len() > MAX_REPORTED_ERRORS {
                eprintln!("error: … and {} more", errors.len() - MAX_REPORTED_ERRORS);
            }
            Err(CliError::Input(format!(
                "{source}: {} invalid signal record(s); nothing was sent",
                errors.len()
            )))
        }
    }
}

/// The Publish stream: every signal in order, then one close per wave when asked.
pub fn requests<'a>(
    signals: impl IntoIterator<Item = &'a Signal>,
    close: bool,
) -> Vec<pb::PublishRequest> {
    let signals: Vec<&Signal> = signals.into_iter().collect();
    let waves: BTreeSet<_> = signals.iter().map(|s| s.wave_timestamp()).collect();
    let closes = waves.into_iter().filter(|_| close).map(|w| {
        Item::Close(pb::CloseWave {
            wave_timestamp: Some(to_proto(w)),
        })
    });
    let items = signals.iter().map(|s| Item::Signal(s.to_proto()));
    items
        .chain(closes)
        .map(|item| pb::PublishRequest { item: Some(item) })
        .collect()
}

/// Streams the requests and returns the coordinator's summary.
pub async fn send(
    clients: &mut Clients,
    reqs: Vec<pb::PublishRequest>,
) -> Result<pb::PublishSummary, CliError> {
    clients
        .ingest
        .publish(tokio_stream::iter(reqs))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| clients.status_error("SignalIngest.Publish", &s))
}

/// Prints the summary; the lines of rejected signals come from the file.
pub fn print_summary(source: &str, signals: &[ParsedSignal], s: &pb::PublishSummary) {
    println!("accepted {}, rejected {}", s.accepted, s.rejected);
    for r in &s.rejections {
        let line = signals
            .get(r.position as usize)
            .map_or_else(|| format!("#{}", r.position), |p| p.line.to_string());
        let field = if r.field.is_empty() {
            String::new()
        } else {
            format!("{}: ", r.field)
        };
        println!(
            "rejected: {source}:{line}: signal {}: {field}{}",
            r.signal_id, r.reason
        );
    }
    if !s.wave_ids.is_empty() {
        println!("waves: {}", s.wave_ids.join(", "));
    }
    if !s.closed_wave_ids.is_empty() {
        println!("closed: {}", s.closed_wave_ids.join(", "));
    }
}

/// Every rejection (all listed) is `ALREADY_EXISTS`: a retry, which counts as success.
pub fn only_already_stored(s: &pb::PublishSummary) -> bool {
    s.rejected > 0
        && s.rejections.len() == s.rejected as usize
        && s.rejections
            .iter()
            .all(|r| r.code == tonic::Code::AlreadyExists as i32)
}

/// Runs `publish`; the file is checked before connecting (a bad file exits 2 regardless).
pub async fn run(connect_args: &ConnectArgs, args: &PublishArgs) -> Result<(), CliError> {
    let (source, signals) = load(args)?;
    let clients = &mut connect(connect_args).await?;
    let summary = send(
        clients,
        requests(signals.iter().map(|p| &p.signal), args.close),
    )
    .await?;
    print_summary(&source, &signals, &summary);
    if only_already_stored(&summary) {
        println!(
            "{} signal(s) were stored already (an identical earlier publish); nothing changed",
            summary.rejected
        );
        return Ok(());
    }
    if summary.rejected > 0 {
        return Err(CliError::Failed(format!(
            "{} of {} signals rejected",
            summary.rejected,
            signals.len()
        )));
    }
    Ok(())
}
