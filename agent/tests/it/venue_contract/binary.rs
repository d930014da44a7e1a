//! The real `wavegate-agent` binary with a live adapter, and the live adapters' config.

use super::{Venue, contract};
use crate::live_support::*;
use crate::support::*;
use wavegate_agent::config::AdapterKind;
use wavegate_tests::Proc;
use wavegate_tests::fake_exchange::{Fault, World};

contract!(
    missing_credentials_are_a_startup_error_naming_the_key,
    credentials_never_reach_the_log_or_describe,
);

async fn missing_credentials_are_a_startup_error_naming_the_key(venue: Venue) {
    let fake = venue.fake(instruments(World::new(KEY, SECRET))).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = venue.config(dir.path(), &fake, SECRET);
    venue.live(&mut cfg).api_secret = None;
    let e = wavegate_agent::spawn(cfg).await.err().expect("refused");
    let key = format!("adapter.{}.api_secret_file", venue.name());
    assert!(e.to_string().contains(&key), "{e}");
}

/// The real binary with credentials from the environment: a wave with a refused entry, an
/// unknown outcome and a refused stop at debug log level; neither the secret nor the key
/// appears in anything it printed, nor in Describe.
async fn credentials_never_reach_the_log_or_describe(venue: Venue) {
    let world = instruments(World::new(KEY, SECRET))
        .reject_entry("XRPUSDT")
        .reject_stop("ETHUSDT")
        .fault(Fault::symbol("BTCUSDT").server_error());
    let fake = venue.fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let name = venue.name();
    let toml = format!(
        "exchange_id = {}\nexchange_name = \"{name}\"\nmetrics_listen = \"off\"\n\
         [rate_limit]\norders_per_second = 1000\nburst = 100\n\
         [adapter]\nkind = \"{name}\"\n[adapter.{name}]\nbase_url = \"{}\"\n",
        venue.exchange_id(),
        fake.base_url()
    );
    let mut agent = Proc::builder("wavegate-agent", dir.path())
        .program(env!("CARGO_BIN_EXE_wavegate-agent"))
        .config(&toml)
        .args(["--listen", "127.0.0.1:0", "--journal"])
        .args([dir.path().join("agent.db")])
        .env_remove("WAVEGATE_AGENT_CONFIG")
        .env_remove("WAVEGATE_AGENT_LISTEN")
        .env_remove("WAVEGATE_AGENT_JOURNAL")
        .env("WAVEGATE_AGENT_API_KEY", KEY)
        .env("WAVEGATE_AGENT_API_SECRET", SECRET)
        .env("RUST_LOG", "debug")
        .spawn()
        .await
        .expect("binary starts");
    let mut client = connect(agent.addr()).await;
    let d = describe(&mut client).await;
    assert_eq!(d.adapter, name);
    let described = format!("{d:?}");
    let all = signals(
        venue.exchange_id(),
        1,
        &["XRPUSDT", "ETHUSDT", "BTCUSDT", "ADAUSDT"],
    );
    let run = drive(
        &mut client,
        start_msg("W5", venue.exchange_id(), 2, 4, 4),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.stats().executed, 2, "{:?}", kinds(run.result()));
    // Everything it printed, to its exit (killed if SIGTERM is not enough).
    let _ = agent.terminate().await;
    let out = agent.log_text();
    assert!(
        out.contains(venue.server_error_code()),
        "the unknown outcome is logged with its detail: {out}"
    );
    for (what, secret) in [("secret", SECRET), ("API key", KEY)] {
        assert!(!out.contains(secret), "{what} in the log:\n{out}");
        assert!(!described.contains(secret), "{what} in Describe");
    }
}

#[test]
fn example_config_selects_a_live_adapter_with_credentials_from_the_environment() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml");
    let env = |kind: &'static str, secret: bool| {
        move |k: &str| match k {
            "WAVEGATE_AGENT_ADAPTER_KIND" => Some(kind.to_owned()),
            "WAVEGATE_AGENT_API_KEY" => Some(KEY.to_owned()),
            "WAVEGATE_AGENT_API_SECRET" if secret => Some(SECRET.to_owned()),
            _ => None,
        }
    };
    let c = wavegate_agent::AgentConfig::load_with_env(Some(&example), env("binance", true))
        .expect("loads");
    assert_eq!(c.adapter.kind, AdapterKind::Binance);
    assert_eq!(c.adapter.binance.base_url, "https://fapi.binance.com");
    assert_eq!(c.adapter.bybit.base_url, "https://api.bybit.com");
    assert_eq!(c.adapter.binance.recv_window_ms, 5000);
    assert_eq!(
        c.adapter.binance.max_fill_deviation_percent,
        wavegate_agent::exchange::Decimal::TEN,
        "default"
    );
    let creds = c.adapter.binance.credentials("adapter.binance").unwrap();
    assert_eq!(
        (creds.api_key.expose(), creds.api_secret.expose()),
        (KEY, SECRET)
    );
    assert!(
        c.adapter.bybit.api_key.is_none(),
        "credentials go to the selected adapter only"
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains(SECRET) && !debug.contains(KEY), "{debug}");

    let e = wavegate_agent::AgentConfig::load_with_env(Some(&example), env("bybit", false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("adapter.bybit.api_secret_file"), "{e}");
    assert!(e.contains("WAVEGATE_AGENT_API_SECRET"), "{e}");
}
