//! `wavegate bridge`: relays the reference bot's signal server ([`protocol`]) to `SignalIngest`,
//! long-running: authenticates (token never logged), drops the repeats of the server's window,
//! forwards new signals ([`relay`]), pings, and reconnects with backoff and jitter (5–60 s, as
//! the reference). State in its log and, with `--metrics-listen`, in [`stats`].

pub mod protocol;
pub mod relay;
pub mod session;
pub mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use clap::Args;

use crate::args::ConnectArgs;
use crate::client::{Clients, connect};
use crate::error::CliError;
use relay::Relay;
use stats::BridgeStats;

/// Environment variable holding the signal server's token when `--token-file` is not given.
pub const TOKEN_ENV: &str = "WAVEGATE_SIGNAL_TOKEN";

/// `bridge`.
#[derive(Debug, Clone, Args)]
pub struct BridgeArgs {
    /// The signal server's websocket URL (`ws://…` or `wss://…`).
    #[arg(long)]
    pub url: String,
    /// File holding the signal server's token (else the WAVEGATE_SIGNAL_TOKEN variable).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// PEM file of CA certificates to trust for a `wss://` server, besides Mozilla's roots
    /// (a private CA).
    #[arg(long)]
    pub server_ca: Option<PathBuf>,
    /// Candle length in seconds (a record without `timestamp` belongs to its `created_at`
    /// rounded down to it).
    #[arg(long, default_value_t = 900)]
    pub interval_secs: i64,
    /// Ping the server this often (milliseconds; the reference: 20 s).
    #[arg(long, default_value_t = 20_000)]
    pub ping_interval_ms: u64,
    /// Reconnect when nothing answers a ping within this long (milliseconds; the reference:
    /// 10 s).
    #[arg(long, default_value_t = 10_000)]
    pub pong_timeout_ms: u64,
    /// First reconnect delay (milliseconds; doubled after each failed attempt, with jitter).
    #[arg(long, default_value_t = 5_000)]
    pub backoff_min_ms: u64,
    /// Longest reconnect delay (milliseconds).
    #[arg(long, default_value_t = 60_000)]
    pub backoff_max_ms: u64,
    /// Largest message accepted from the server, in bytes; a larger one is counted and the
    /// connection opened again.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Serve Prometheus `/metrics` on this address.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
}

/// The signal server's token. Its `Debug` never shows it.
pub struct Token(String);

impl Token {
    /// The token, for the `auth` message only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Reads the token from `--token-file`, else the environment. Errors never quote it.
pub fn read_token(args: &BridgeArgs) -> Result<Token, CliError> {
    let raw = match &args.token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Input(format!("--token-file {}: {e}", path.display())))?,
        None => std::env::var(TOKEN_ENV).map_err(|_| {
            CliError::Input(format!(
                "no signal-server token: give --token-file or set {TOKEN_ENV}"
            ))
        })?,
    };
    let t = raw.trim();
    if t.is_empty() {
        return Err(CliError::Input("the signal-server token is empty".into()));
    }
    Ok(Token(t.to_owned()))
}

/// Checks the arguments (exit 2 on a bad one).
fn check(args: &BridgeArgs) -> Result<(), CliError> {
    if !(args.url.starts_with("ws://") || args.url.starts_with("wss://")) {
        return Err(CliError::Input(format!(
            "--url {}: must start with ws:// or wss://",
            args.url
        )));
    }
    let positive = [
        (
            "--interval-secs",
            u64::try_from(args.interval_secs).unwrap_or(0),
        ),
        ("--ping-interval-ms", args.ping_interval_ms),
        ("--pong-timeout-ms", args.pong_timeout_ms),
        ("--backoff-min-ms", args.backoff_min_ms),
        ("--max-message-bytes", args.max_message_bytes as u64),
    ];
    for (flag, v) in positive {
        if v == 0 {
            return Err(CliError::Input(format!("{flag}: must be at least 1")));
        }
    }
    if args.backoff_max_ms < args.backoff_min_ms {
        return Err(CliError::Input(
            "--backoff-max-ms: must not be below --backoff-min-ms".into(),
        ));
    }
    Ok(())
}

/// Reconnect delays: attempt `n` waits in `[d/2, d)`, `d = min(max, min · 2ⁿ)` (backon's jitter).
pub fn backoff(min: Duration, max: Duration) -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(min / 2)
        .with_max_delay(max / 2)
        .with_jitter()
        .without_max_times()
}

fn delays(args: &BridgeArgs) -> ExponentialBuilder {
    backoff(
        Duration::from_millis(args.backoff_min_ms),
        Duration::from_millis(args.backoff_max_ms),
    )
}

/// Connects to the coordinator, retrying with backoff while it is unreachable.
async fn coordinator(connect_args: &ConnectArgs, args: &BridgeArgs) -> Result<Clients, CliError> {
    (|| connect(connect_args))
        .retry(delays(args))
        .when(|e| matches!(e, CliError::Unreachable { .. }))
        .notify(|e, wait| {
            tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64,
                "coordinator not reachable yet");
        })
        .await
}

/// Runs the bridge until SIGINT or SIGTERM.
pub async fn run(connect_args: &ConnectArgs, args: &BridgeArgs) -> Result<(), CliError> {
    check(args)?;
    let token = read_token(args)?;
    // Built once, so a bad --server-ca is an input error at start, not a retry loop.
    let connector = if args.url.starts_with("wss://") {
        Some(session::tls_connector(args.server_ca.as_deref()).map_err(CliError::Input)?)
    } else {
        None
    };
    let mut shutdown = wavegate_common::shutdown::ShutdownSignal::install()?;
    let stats = BridgeStats::new().map_err(|e| CliError::Failed(format!("metrics: {e}")))?;
    let _metrics = match args.metrics_listen {
        None => None,
        Some(addr) => {
            let server = wavegate_common::telemetry::serve_metrics(addr, stats.metrics())
                .await
                .map_err(|e| CliError::Input(format!("--metrics-listen: {e}")))?;
            // Announced like the servers' metrics, so port 0 is usable (and findable).
            eprintln!("wavegate metrics on http://{}/metrics", server.local_addr());
            Some(server)
        }
    };
    let work = async {
        let clients = coordinator(connect_args, args).await?;
        tracing::info!(url = %args.url, coordinator = %clients.endpoint, "bridge started");
        let mut relay = Relay::new(clients, stats.clone(), args.interval_secs);
        let builder = delays(args);
        let mut waits = builder.build();
        loop {
            let end = session::run(
                args,
                connector.as_ref(),
                &token,
                &mut relay,
                &stats,
                &mut || waits = builder.build(),
            )
            .await;
            stats.connection(end.label());
            let wait = waits
                .next()
                .unwrap_or(Duration::from_millis(args.backoff_max_ms));
            // Never fatal: an auth failure is an operator's problem to fix while it retries.
            if matches!(end, session::SessionEnd::AuthFailed(_)) {
                tracing::error!(reason = %end, retry_in_ms = wait.as_millis() as u64,
                    "signal server refused the token");
            } else {
                tracing::warn!(reason = %end, retry_in_ms = wait.as_millis() as u64,
                    "disconnected from the signal server; reconnecting");
            }
            tokio::time::sleep(wait).await;
        }
        #[allow(unreachable_code)]
        Ok::<(), CliError>(())
    };
    tokio::select! {
        r = work => r,
        _ = shutdown.recv() => {
            tracing::info!("bridge stopped");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds_with_jitter() {
        let (min, max) = (Duration::from_secs(5), Duration::from_secs(60));
        let mut waits = backoff(min, max).build();
        for attempt in 0..40u32 {
            let d = min
                .saturating_mul(2u32.saturating_pow(attempt.min(16)))
                .min(max);
            let w = waits.next().expect("never runs out");
            assert!(
                w >= d / 2 && w <= d,
                "attempt {attempt}: {w:?} not in [{:?}, {d:?}]",
                d / 2
            );
        }
        assert!(waits.next().is_some_and(|w| w <= max));
    }

    #[test]
    fn metric_labels_are_snake_case() {
        use session::SessionEnd as E;
        let ends = [
            E::Connection(String::new()),
            E::AuthFailed(String::new()),
            E::Protocol(String::new()),
            E::Silent(Duration::ZERO),
            E::Closed,
        ];
        let ends: Vec<&str> = ends.iter().map(E::label).collect();
        let want = "connection_error auth_failed protocol_error silent closed";
        assert_eq!(ends.join(" "), want);
        assert_eq!(protocol::BadMessage::NoType.label(), "no_type");
    }

    #[test]
    fn token_debug_is_redacted() {
        assert_eq!(format!("{:?}", Token("s3cret".into())), "Token(<redacted>)");
    }
}
