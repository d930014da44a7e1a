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

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Demo(a) => return demo::run(a).await,
        Command::Dev(a) => return dev::run(a).await,
        Command::Replay(a) => return replay::run(a).await,
        Command::Publish(a) => return publish::run(&cli.connect, a).await,
        Command::Bridge(a) => return crate::bridge::run(&cli.connect, a).await,
        Command::Bench(a) => return bench::run(a).await,
        _ => {}
    }
    let mut clients = connect(&cli.connect).await?;
    match &cli.command {
        Command::Watch(a) => watch::run(&mut clients, a).await,
        Command::Waves(c) => waves::run(&mut clients, c).await,
        Command::Params(c) => params::run(&mut clients, c).await,
        Command::Agents(f) => agents::run(&mut clients, f).await,
        // Handled above: they do not connect first.
        Command::Demo(_)
        | Command::Dev(_)
        | Command::Replay(_)
        | Command::Publish(_)
        | Command::Bridge(_)
        | Command::Bench(_) => Ok(()),
    }
}
