//! Unit tests of the agent's configuration: defaults, the example file, key errors and
//! environment overrides.

use super::*;

fn parse_err(text: &str) -> (String, String) {
    AgentConfig::from_toml(text).unwrap_err()
}

#[test]
fn bad_mode_and_unknown_keys_name_the_key() {
    let (k, m) = parse_err("exchange_id = 1\nexecution_mode = \"fast\"\n");
    assert_eq!(k, "execution_mode", "{m}");
    let (k, m) = parse_err("[adapter.paper]\nlatency_ms = 1\nlatencyms = 2\n");
    assert_eq!(k, "adapter.paper.latencyms", "{m}");
    assert!(m.contains("latencyms"), "{m}");
    let (k, _) = parse_err("[rate_limit]\nburst = \"ten\"\n");
    assert_eq!(k, "rate_limit.burst");
}

#[test]
fn journal_sync_is_normal_unless_set_and_a_bad_value_names_the_key() {
    assert_eq!(AgentConfig::default().journal_sync, JournalSync::Normal);
    let c = AgentConfig::from_toml("exchange_id = 1\njournal_sync = \"full\"\n").unwrap();
    assert_eq!(c.journal_sync, JournalSync::Full);
    let (k, _) = parse_err("exchange_id = 1\njournal_sync = \"sometimes\"\n");
    assert_eq!(k, "journal_sync");
    let mut c = AgentConfig::paper(1, "binance", "j.db".into());
    let env = |k: &str| (k == "WAVEGATE_AGENT_JOURNAL_SYNC").then(|| "full".to_owned());
    c.apply_env(env).unwrap();
    assert_eq!(c.journal_sync, JournalSync::Full);
    let bad = |k: &str| (k == "WAVEGATE_AGENT_JOURNAL_SYNC").then(|| "off".to_owned());
    let e = c.apply_env(bad).unwrap_err().to_string();
    assert!(
        e.contains("WAVEGATE_AGENT_JOURNAL_SYNC") || e.contains("journal_sync"),
        "{e}"
    );
}

#[test]
fn topup_timeout_and_keepalive_have_defaults_overrides_and_bounds() {
    let c = AgentConfig::default();
    assert_eq!(
        (
            c.topup_timeout_ms,
            c.keepalive_interval_ms,
            c.keepalive_timeout_ms
        ),
        (30_000, 10_000, 20_000)
    );
    let c = AgentConfig::from_toml(
        "exchange_id = 1\ntopup_timeout_ms = 500\nkeepalive_interval_ms = 0\n\
         [faults]\npositions_fail = 2\nduplicate_entry = [\"BTCUSDT\"]\n",
    )
    .unwrap();
    assert_eq!((c.topup_timeout_ms, c.keepalive_interval_ms), (500, 0));
    assert_eq!(c.faults.positions_fail, 2);
    assert_eq!(c.faults.duplicate_entry, vec!["BTCUSDT"]);
    let mut c = AgentConfig::paper(1, "binance", "j.db".into());
    c.apply_env(|k| match k {
        "WAVEGATE_AGENT_TOPUP_TIMEOUT_MS" => Some("750".into()),
        "WAVEGATE_AGENT_KEEPALIVE_INTERVAL_MS" => Some("5000".into()),
        "WAVEGATE_AGENT_KEEPALIVE_TIMEOUT_MS" => Some("3000".into()),
        "WAVEGATE_AGENT_FAULTS_POSITIONS_FAIL" => Some("1".into()),
        "WAVEGATE_AGENT_FAULTS_DUPLICATE_ENTRY" => Some("ETHUSDT".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(
        (
            c.topup_timeout_ms,
            c.keepalive_interval_ms,
            c.keepalive_timeout_ms
        ),
        (750, 5_000, 3_000)
    );
    assert_eq!(c.faults.positions_fail, 1);
    assert_eq!(c.faults.duplicate_entry, vec!["ETHUSDT"]);
    c.validate().unwrap();
    for key in ["topup_timeout_ms", "keepalive_timeout_ms"] {
        let mut bad = c.clone();
        bad.set(key, "0").unwrap();
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains(key), "{e}");
    }
}

#[test]
fn env_overrides_and_validation() {
    let mut c = AgentConfig::paper(1, "binance", "j.db".into());
    c.apply_env(|k| match k {
        "WAVEGATE_AGENT_FAULTS_EXEC_FAIL" => Some("BTCUSDT, ETHUSDT".into()),
        "WAVEGATE_AGENT_EXECUTION_MODE" => Some("windowed".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.faults.exec_fail, vec!["BTCUSDT", "ETHUSDT"]);
    assert_eq!(c.execution_mode, Mode::Windowed);
    let err = c
        .apply_env(|k| (k == "WAVEGATE_AGENT_EXECUTION_MODE").then(|| "fast".into()))
        .unwrap_err();
    assert!(err.to_string().contains("execution_mode"), "{err}");
    c.rate_limit.burst = 0;
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("rate_limit.burst")
    );
    let mut c = AgentConfig::paper(1, "binance", "j.db".into());
    c.faults.exec_fail = vec!["btc".into()];
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("faults.exec_fail"), "{e}");
}

#[test]
fn network_selects_the_official_test_endpoints_and_never_mixes_with_production() {
    let c = AgentConfig::from_toml(
        "exchange_id = 2\n[adapter]\nkind = \"bybit\"\n[adapter.bybit]\nnetwork = \"testnet\"\n",
    )
    .unwrap();
    assert_eq!(c.adapter.bybit.base_url, "https://api-testnet.bybit.com");
    let c =
        AgentConfig::from_toml("exchange_id = 1\n[adapter.binance]\nnetwork = \"demo\"\n").unwrap();
    assert_eq!(c.adapter.binance.base_url, "https://demo-fapi.binance.com");
    // From the environment: a production default follows the network.
    let mut c = AgentConfig::paper(1, "binance", "j.db".into());
    let env = |k: &str| (k == "WAVEGATE_AGENT_BINANCE_NETWORK").then(|| "testnet".to_owned());
    c.apply_env(env).unwrap();
    assert_eq!(
        c.adapter.binance.base_url,
        "https://testnet.binancefuture.com"
    );
    let (k, _) = parse_err("exchange_id = 1\n[adapter.binance]\nnetwork = \"live\"\n");
    assert_eq!(k, "adapter.binance.network");
    // A production URL on a test network is refused, naming the key.
    let mut live = live::LiveConfig::binance();
    live.network = network::Network::Testnet;
    live.api_key = Some(Secret::new("k"));
    live.api_secret = Some(Secret::new("s"));
    match live.validate("adapter.binance") {
        Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "adapter.binance.base_url"),
        other => panic!("{other:?}"),
    }
}
