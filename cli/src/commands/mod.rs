//! One module per subcommand; [`run`] dispatches.

pub mod agents;
pub mod bench;
pub mod demo;
pub mod dev;
pub mod params;
pub mod publish;
pub mod replay;
pub mod watch;
pub mod waves;

use serde::Serialize;

use crate::args::{Cli, Command};
use crate::client::connect;
use crate::error::CliError;

/// Prints `value` as pretty JSON on standard output.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failed(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Prints `value` as JSON when `json`, else as `text` renders it.
pub fn print_as<T: Serialize + ?Sized>(
    json: bool,
    value: &T,
    text: impl FnOnce(&T) -> String,
) -> Result<(), CliError> {
    if json {
        print_json(value)
    } else {
        print!("{}", text(value));
        Ok(())
    }
}

/// Runs the parsed command line; commands not on the API, and `publish`, connect themselves.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let connect = || connect(&cli.connect);
    match &cli.command {
        Command::Demo(a) => demo::run(a).await,
        Command::Dev(a) => dev::run(a).await,
        Command::Replay(a) => replay::run(a).await,
        Command::Bench(a) => bench::run(a).await,
        Command::Publish(a) => publish::run(&cli.connect, a).await,
        Command::Bridge(a) => crate::bridge::run(&cli.connect, a).await,
        Command::Watch(a) => watch::run(&mut connect().await?, a).await,
        Command::Waves(c) => waves::run(&mut connect().await?, c).await,
        Command::Params(c) => params::run(&mut connect().await?, c).await,
        Command::Agents(f) => agents::run(&mut connect().await?, f).await,
    }
}
