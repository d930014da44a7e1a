//! The `wavegate` binary. Exit codes: 0 ok, 1 rejected or failed operation, 2 usage or input
//! error, 3 coordinator unreachable.

use std::process::ExitCode;

use clap::Parser;
use tracing::Instrument as _;
use wavegate_cli::args::Cli;
use wavegate_common::telemetry::{self, SERVICE_CLI, TelemetryConfig};

fn main() -> ExitCode {
    // Parse before anything else so usage errors exit 2 with clap's message.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        // stderr, quiet unless RUST_LOG; spans to OTEL_EXPORTER_OTLP_ENDPOINT as `wavegate`.
        let level = if matches!(cli.command, wavegate_cli::args::Command::Bridge(_)) {
            "info"
        } else {
            "warn"
        };
        let telemetry = match telemetry::init_with(&TelemetryConfig::new(SERVICE_CLI), level) {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        // One span per command: the coordinator's spans of its calls become its children.
        let span = tracing::info_span!(
            "command",
            "otel.name" = format!("wavegate {}", cli.command.name()).as_str(),
            error = tracing::field::Empty,
            "otel.status_code" = tracing::field::Empty,
        );
        let result = wavegate_cli::commands::run(cli)
            .instrument(span.clone())
            .await;
        if result.is_err() {
            span.record("error", true);
            span.record("otel.status_code", "ERROR");
        }
        drop(span);
        let code = match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        };
        if let Err(e) = telemetry.shutdown().await {
            eprintln!("warning: {e}");
        }
        code
    })
}
