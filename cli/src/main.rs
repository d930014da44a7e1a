//! The `wavegate` binary: parses the command line and runs [`wavegate_cli::commands::run`].
//!
//! Exit codes: 0 ok, 1 rejected or failed operation, 2 usage or input error, 3 coordinator
//! unreachable.

use std::process::ExitCode;

use clap::Parser;
use wavegate_cli::args::Cli;

fn main() -> ExitCode {
    // Parse before anything else so usage errors exit 2 with clap's message.
    let cli = Cli::parse();
    // Library logs go to stderr, quiet unless RUST_LOG asks for more.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
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
    match runtime.block_on(wavegate_cli::commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
