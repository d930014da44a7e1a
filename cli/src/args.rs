//! Command-line arguments (clap derive). Parsing only: every command lives in [`crate::commands`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::parse_wave_id;

/// Default public endpoint of a coordinator (also what `wavegate dev` listens on).
pub const DEFAULT_COORDINATOR: &str = "http://127.0.0.1:7000";

/// `wavegate`: publish signals to a wavegate coordinator, follow waves, manage params, and run
/// a whole cluster on loopback (`demo`, `dev`, `replay`).
#[derive(Debug, Parser)]
#[command(
    name = "wavegate",
    version,
    about,
    long_about = None,
    after_help = "Connection options go before the command (e.g. `wavegate --coordinator \
                  https://host:7000 --ca-cert ca.pem waves list`); demo, dev and replay start \
                  their own coordinator and take none."
)]
pub struct Cli {
    /// Connection to the coordinator; not global, so a command's `--help` lists only its own
    /// options.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the coordinator's public API.
#[derive(Args, Clone, Default)]
#[command(next_help_heading = "Connection (publish, watch, waves, params, agents)")]
pub struct ConnectArgs {
    /// Coordinator endpoint (`http://` or `https://`).
    #[arg(long, env = "WAVEGATE_COORDINATOR", default_value = DEFAULT_COORDINATOR)]
    pub coordinator: String,
    /// Bearer token sent as `authorization: Bearer <token>` (never printed).
    #[arg(long, env = "WAVEGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the CA that signed the coordinator's certificate (enables TLS).
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (needs `--client-key`).
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `--client-cert`.
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Server name to verify in the coordinator's certificate (default: the URL's host).
    #[arg(long, value_name = "NAME")]
    pub tls_domain: Option<String>,
}

impl ConnectArgs {
    /// Plaintext, no token: the loopback clusters of `demo`, `dev`, `replay` and `bench`.
    pub fn plain(coordinator: String) -> Self {
        Self {
            coordinator,
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for ConnectArgs {
    // Hand-written so the token can never reach a log or an error message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectArgs")
            .field("coordinator", &self.coordinator)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("tls_domain", &self.tls_domain)
            .finish()
    }
}

/// The subcommands.
#[derive(Debug, Subcommand, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Command {
    /// Publish signals from a file (JSON array, NDJSON, CSV or the reference bot's form).
    Publish(PublishArgs),
    /// Follow a wave live, one progress bar per exchange, then print its result.
    Watch(WatchArgs),
    /// List, show or cancel waves.
    #[command(subcommand)]
    Waves(WavesCommand),
    /// Read or write stored exchange params.
    #[command(subcommand)]
    Params(ParamsCommand),
    /// List the exchange agents the coordinator dispatches to.
    Agents(JsonFlag),
    /// Start a coordinator and two paper agents (in this process, or as processes with
    /// `--processes`), run the sample waves, exit.
    Demo(DemoArgs),
    /// Start a coordinator and two paper agents (in this process, or as processes with
    /// `--processes`) and stay up until Ctrl-C.
    Dev(DevArgs),
    /// Dry-run one wave from a scenario file against scripted paper exchanges.
    Replay(ReplayArgs),
    /// Relay the reference bot's signal server (websocket) to the coordinator; runs until
    /// stopped.
    Bridge(crate::bridge::BridgeArgs),
    /// Measure waves on this machine: the real binaries as processes on loopback, sequential
    /// and windowed at several exchange latencies, and agents far from their coordinator.
    Bench(BenchArgs),
}

/// `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short run (under a minute): latencies 0, 2 and 20 ms, two runs of each wave.
    #[arg(long)]
    pub quick: bool,
    /// Print the results as JSON on standard output (progress stays on standard error).
    #[arg(long)]
    pub json: bool,
    /// Paper exchange latencies per call to measure, in ms (comma-separated; default 0,1,2,5,20,
    /// with --quick 0,2,20).
    #[arg(long, value_delimiter = ',')]
    pub latencies_ms: Option<Vec<u64>>,
    /// Runs of each sample wave per setting (default 10, with --quick 2).
    #[arg(long)]
    pub waves: Option<usize>,
    /// Coordinator ↔ agent round trip of the multi-region comparison, in ms.
    #[arg(long, default_value_t = 80)]
    pub region_rtt_ms: u64,
    /// Agent ↔ exchange latency per call in the multi-region comparison, in ms.
    #[arg(long, default_value_t = 2)]
    pub region_exchange_ms: u64,
    /// Skip the multi-region comparison.
    #[arg(long)]
    pub no_regions: bool,
    /// `sqlite_sync` of the coordinator's database: `full` (its default, an fsync per commit)
    /// or `normal` (none; the agents' journals are `normal` by default).
    #[arg(long, value_enum, default_value_t = SyncArg::Full)]
    pub sqlite_sync: SyncArg,
    /// Keep every setting's configs, process logs and databases under DIR (for profiling).
    /// Default: temp dirs, removed. With RUST_LOG set to
    /// info,wavegate_agent::timing=debug,wavegate_coordinator::timing=debug
    /// the report adds where each walked signal's time goes (docs/benchmarks.md).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl Command {
    /// The command's name as typed (`publish`, `waves`, …), e.g. for its span.
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// `bench --sqlite-sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// An fsync per commit.
    Full,
    /// No fsync per commit (WAL).
    Normal,
}

impl From<SyncArg> for wavegate_coordinator::store::SqliteSync {
    fn from(a: SyncArg) -> Self {
        match a {
            SyncArg::Full => Self::Full,
            SyncArg::Normal => Self::Normal,
        }
    }
}

/// Input format of `publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Detect from the content.
    Auto,
    /// A JSON array of signals (or one signal object).
    Json,
    /// One JSON signal per line.
    Ndjson,
    /// CSV with a header row naming the fields.
    Csv,
    /// The reference bot's records (JSON or NDJSON), its server's `signals` message, or its
    /// database's CSV export.
    Tradingbot,
}

/// `publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Signal file, or `-` for standard input.
    pub file: String,
    /// Input format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Close the wave(s) of the published signals, so they are dispatched at once.
    #[arg(long)]
    pub close: bool,
    /// Wave interval in seconds, for signals without `wave_timestamp`.
    #[arg(long, default_value_t = wavegate_common::time::DEFAULT_INTERVAL_SECS,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub interval_secs: i64,
}

/// `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Wave id (RFC 3339 timestamp, e.g. 2026-11-24T12:00:00Z); default: the next wave that
    /// shows activity.
    #[arg(value_parser = wave_id)]
    pub wave: Option<String>,
}

/// A `--json` switch.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Wave status filter of `waves list`; the values are the wire's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    /// Accepting signals.
    Collecting = pb::WaveStatus::Collecting as isize,
    /// Being executed.
    Dispatching = pb::WaveStatus::Dispatching as isize,
    /// Done.
    Completed = pb::WaveStatus::Completed as isize,
    /// Done, some exchange not processed.
    Partial = pb::WaveStatus::Partial as isize,
    /// Nothing processed.
    Failed = pb::WaveStatus::Failed as isize,
}

/// `params set --margin-mode`; the values are the wire's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MarginMode {
    /// Cross margin.
    Cross = pb::MarginMode::Cross as isize,
    /// Isolated margin.
    Isolated = pb::MarginMode::Isolated as isize,
}

/// A wave id in any RFC 3339 form of its timestamp, normalized (`2026-11-24T12:00:00Z`).
fn wave_id(arg: &str) -> Result<String, String> {
    parse_wave_id(arg.trim())
        .map(wavegate_common::time::wave_id)
        .ok_or_else(|| "not an RFC 3339 timestamp (e.g. 2026-11-24T12:00:00Z)".into())
}

/// A finite number for which `ok` holds, else `why`.
fn number(s: &str, ok: fn(f64) -> bool, why: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && ok(v) => Ok(v),
        Ok(_) => Err(why.to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// A percentage strictly between 0 and 100.
fn percent(s: &str) -> Result<f64, String> {
    number(
        s,
        |v| v > 0.0 && v < 100.0,
        "must be a finite percentage in (0, 100)",
    )
}

/// A positive number of USD.
fn usd(s: &str) -> Result<f64, String> {
    number(s, |v| v > 0.0, "must be a positive number of USD")
}

/// `waves …`.
#[derive(Debug, Subcommand)]
pub enum WavesCommand {
    /// Newest waves first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Only waves with this status.
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One wave with its per-exchange results.
    Show {
        /// Wave id (RFC 3339 timestamp).
        #[arg(value_parser = wave_id)]
        wave: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stop a wave: a collecting one fails (nothing executed); a dispatching one sends no new
    /// order and completes with what was opened.
    Cancel {
        /// Wave id (RFC 3339 timestamp).
        #[arg(value_parser = wave_id)]
        wave: String,
        /// Why (at most 512 characters): stored with the wave and sent to the agents' logs.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `params …`.
#[derive(Debug, Subcommand)]
pub enum ParamsCommand {
    /// Effective params of one exchange, or of every known exchange.
    Get {
        /// Exchange id or configured name (e.g. `1` or `binance`).
        exchange: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Store params for an exchange; options left out keep their stored values.
    Set(ParamsSetArgs),
}

/// `params set`: at least one value to store.
#[derive(Debug, Default, Args)]
#[command(group(
    clap::ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args([
            "max_trades",
            "buffer_size",
            "stop_loss_percent",
            "trailing_activation_percent",
            "trailing_distance_percent",
            "leverage",
            "margin_mode",
            "size_usd",
            "name",
        ])
))]
pub struct ParamsSetArgs {
    /// Exchange id or configured name (e.g. `1` or `binance`).
    pub exchange: String,
    /// Store params for an exchange id the coordinator has no agent for.
    #[arg(long)]
    pub force: bool,
    /// Target positions per wave (>= 1). Left out: the exchange's current one (params stored
    /// or configured).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_trades: Option<u32>,
    /// Signals in the first validation round (>= max-trades). Left out: the stored one while
    /// max-trades is unchanged, else max-trades + 3.
    #[arg(long)]
    pub buffer_size: Option<u32>,
    /// Protective stop distance in percent (0 < P < 100).
    #[arg(long, value_parser = percent)]
    pub stop_loss_percent: Option<f64>,
    /// Trailing stop activation in percent.
    #[arg(long, value_parser = percent)]
    pub trailing_activation_percent: Option<f64>,
    /// Trailing stop distance in percent.
    #[arg(long, value_parser = percent)]
    pub trailing_distance_percent: Option<f64>,
    /// Leverage the agent sets per symbol before each entry (1..=the coordinator's
    /// `[params] max_leverage`); never set: the agent's `[positions] leverage`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=125))]
    pub leverage: Option<u32>,
    /// Margin mode the agent sets per symbol before each entry; never set: the agent's
    /// `[positions] margin_mode`.
    #[arg(long, value_enum)]
    pub margin_mode: Option<MarginMode>,
    /// Size of each entry in USD (within the exchange's configured min/max size); never set:
    /// the agent's adapter `notional`.
    #[arg(long, value_parser = usd)]
    pub size_usd: Option<f64>,
    /// Name to store (default: the configured name of the exchange).
    #[arg(long)]
    pub name: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Paper exchange latency per order, in milliseconds (makes the progress visible).
    #[arg(long, default_value_t = 150)]
    pub latency_ms: u64,
    /// Run the coordinator and agents as the `wavegate-coordinator` and `wavegate-agent`
    /// binaries next to `wavegate`, each exporting its traces as its own service.
    #[arg(long)]
    pub processes: bool,
}

/// `dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Coordinator public API address.
    #[arg(long, default_value = "127.0.0.1:7000")]
    pub listen: SocketAddr,
    /// Binance paper agent address.
    #[arg(long, default_value = "127.0.0.1:7101")]
    pub binance: SocketAddr,
    /// Bybit paper agent address.
    #[arg(long, default_value = "127.0.0.1:7102")]
    pub bybit: SocketAddr,
    /// Keep the database and journals here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Paper exchange latency per order, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Run the coordinator and agents as the `wavegate-coordinator` and `wavegate-agent`
    /// binaries next to `wavegate`, each exporting its traces as its own service.
    #[arg(long)]
    pub processes: bool,
}

/// `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Scenario file (see docs/replay.md).
    pub scenario: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Run the coordinator and agents as the `wavegate-coordinator` and `wavegate-agent`
    /// binaries next to `wavegate`, each exporting its traces as its own service.
    #[arg(long)]
    pub processes: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_is_grouped_and_each_command_lists_only_its_own_options() {
        let mut cmd = Cli::command();
        cmd.build();
        let top = cmd.render_help().to_string();
        assert!(
            top.contains("Connection (publish, watch, waves, params, agents):"),
            "{top}"
        );
        assert!(
            top.contains("--coordinator") && top.contains("--ca-cert"),
            "{top}"
        );
        for name in ["demo", "dev", "replay", "watch", "publish", "agents"] {
            let sub = cmd
                .find_subcommand_mut(name)
                .unwrap()
                .render_help()
                .to_string();
            for other in ["--coordinator", "--ca-cert", "--client-cert", "--token"] {
                assert!(!sub.contains(other), "{name} --help lists {other}:\n{sub}");
            }
        }
        // Connection options are taken before the command.
        let cli =
            Cli::try_parse_from(["wavegate", "--coordinator", "http://h:1", "agents"]).unwrap();
        assert_eq!(cli.connect.coordinator, "http://h:1");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let cli = Cli::try_parse_from(["wavegate", "--token", "s3cr3t", "agents"]).unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn wave_ids_are_normalized_or_refused() {
        let cli = Cli::try_parse_from(["wavegate", "watch", "2026-11-24T13:00:00+01:00"]).unwrap();
        match cli.command {
            Command::Watch(w) => assert_eq!(w.wave.as_deref(), Some("2026-11-24T12:00:00Z")),
            other => panic!("parsed as {other:?}"),
        }
        for cmd in [&["watch"][..], &["waves", "show"], &["waves", "cancel"]] {
            let args = [&["wavegate"][..], cmd, &["yesterday"]].concat();
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{cmd:?}");
            assert!(e.to_string().contains("'yesterday'"), "{cmd:?}: {e}");
        }
    }

    #[test]
    fn waves_cancel_takes_a_wave_and_an_optional_reason() {
        assert!(Cli::try_parse_from(["wavegate", "waves", "cancel"]).is_err());
        let cli = Cli::try_parse_from([
            "wavegate",
            "waves",
            "cancel",
            "2026-11-24T12:00:00Z",
            "--reason",
            "venue halted",
        ])
        .unwrap();
        match cli.command {
            Command::Waves(WavesCommand::Cancel { wave, reason, json }) => {
                assert_eq!(wave, "2026-11-24T12:00:00Z");
                assert_eq!(reason.as_deref(), Some("venue halted"));
                assert!(!json);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn params_set_requires_a_value_and_takes_an_id_or_a_name() {
        assert!(Cli::try_parse_from(["wavegate", "params", "set", "1"]).is_err());
        for exchange in ["1", "binance"] {
            let ok =
                Cli::try_parse_from(["wavegate", "params", "set", exchange, "--max-trades", "3"]);
            assert!(ok.is_ok(), "{exchange}");
        }
        // Position params alone keep the target (read back before the set).
        let ok = Cli::try_parse_from([
            "wavegate",
            "params",
            "set",
            "binance",
            "--leverage",
            "3",
            "--margin-mode",
            "isolated",
            "--size-usd",
            "50",
        ]);
        assert!(ok.is_ok(), "{ok:?}");
        for bad in [
            &["--leverage", "0"][..],
            &["--leverage", "126"],
            &["--margin-mode", "portfolio"],
            &["--stop-loss-percent", "NaN"],
            &["--stop-loss-percent", "100"],
            &["--trailing-distance-percent", "0"],
            &["--size-usd", "0"],
            &["--size-usd=-5"],
            &["--size-usd", "inf"],
        ] {
            let mut args = vec!["wavegate", "params", "set", "1"];
            args.extend_from_slice(bad);
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
            let flag = bad[0].split('=').next().unwrap_or_default();
            assert!(e.to_string().contains(flag), "{bad:?}: {e}");
        }
    }
}
