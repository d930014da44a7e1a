//! Unit tests of the agent's configuration: defaults, key errors and environment overrides.

use std::collections::{HashMap, HashSet};

use super::*;

/// The key and reason of the error parsing `text`.
pub(super) fn parse_err(text: &str) -> (String, String) {
    match AgentConfig::from_toml(text) {
        Err(ConfigError::Value { key, reason, .. }) => (key, reason),
        other => panic!("{other:?}"),
    }
}

/// Defaults plus these environment variables (exchange 1 `binance` unless they say otherwise),
/// over the TOML `file` when not empty.
fn load(file: &str, vars: &[(&str, &str)]) -> Result<AgentConfig, ConfigError> {
    let mut env: HashMap<String, String> = [("EXCHANGE_ID", "1"), ("EXCHANGE_NAME", "binance")]
        .iter()
        .map(|(k, v)| (format!("{ENV_PREFIX}{k}"), (*v).to_owned()))
        .collect();
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, file).unwrap();
    let path = (!file.is_empty()).then_some(path.as_path());
    AgentConfig::load_with_env(path, |k| env.get(k).cloned())
}

fn load_env(vars: &[(&str, &str)]) -> Result<AgentConfig, ConfigError> {
    load("", vars)
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
    let c = load_env(&[("WAVEGATE_AGENT_JOURNAL_SYNC", "full")]).unwrap();
    assert_eq!(c.journal_sync, JournalSync::Full);
    let e = load_env(&[("WAVEGATE_AGENT_JOURNAL_SYNC", "off")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("WAVEGATE_AGENT_JOURNAL_SYNC") && e.contains("journal_sync"),
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
    let c = load_env(&[
        ("WAVEGATE_AGENT_TOPUP_TIMEOUT_MS", "750"),
        ("WAVEGATE_AGENT_KEEPALIVE_INTERVAL_MS", "5000"),
        ("WAVEGATE_AGENT_KEEPALIVE_TIMEOUT_MS", "3000"),
        ("WAVEGATE_AGENT_FAULTS_POSITIONS_FAIL", "1"),
        ("WAVEGATE_AGENT_FAULTS_DUPLICATE_ENTRY", "ETHUSDT"),
    ])
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
        let var = format!("{ENV_PREFIX}{}", key.to_ascii_uppercase());
        let e = load_env(&[(&var, "0")]).unwrap_err().to_string();
        assert!(e.contains(key) && e.contains("nonzero"), "{e}");
        let (k, m) = parse_err(&format!("{key} = 0\n"));
        assert_eq!(k, key, "{m}");
    }
}

#[test]
fn env_overrides_and_validation() {
    let c = load_env(&[
        ("WAVEGATE_AGENT_FAULTS_EXEC_FAIL", "BTCUSDT, ETHUSDT"),
        ("WAVEGATE_AGENT_EXECUTION_MODE", "windowed"),
    ])
    .unwrap();
    assert_eq!(c.faults.exec_fail, vec!["BTCUSDT", "ETHUSDT"]);
    assert_eq!(c.execution_mode, Mode::Windowed);
    let err = load_env(&[("WAVEGATE_AGENT_EXECUTION_MODE", "fast")]).unwrap_err();
    assert!(err.to_string().contains("execution_mode"), "{err}");
    let err = load_env(&[("WAVEGATE_AGENT_RATE_LIMIT_BURST", "0")]).unwrap_err();
    assert!(err.to_string().contains("rate_limit.burst"), "{err}");
    let mut c = AgentConfig::paper(1, "binance", "j.db".into());
    c.faults.exec_fail = vec!["btc".into()];
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("faults.exec_fail"), "{e}");
}

#[test]
fn every_variable_sets_one_key_and_the_documented_names_work() {
    let names = config_load::env_names::<AgentConfig>(&ENV);
    let mut keys: HashMap<&str, &str> = HashMap::new();
    for (var, key) in &names {
        let old = keys.insert(var, key);
        assert!(old.is_none_or(|k| k == key), "{var}: {old:?} and {key}");
    }
    for (var, key) in [
        ("LISTEN", "listen"),
        (
            "RATE_LIMIT_ORDERS_PER_SECOND",
            "rate_limit.orders_per_second",
        ),
        ("RATE_LIMIT__BURST", "rate_limit.burst"),
        ("ADAPTER_KIND", "adapter.kind"),
        ("PAPER_LATENCY_MS", "adapter.paper.latency_ms"),
        (
            "BINANCE_MAX_FILL_DEVIATION_PERCENT",
            "adapter.binance.max_fill_deviation_percent",
        ),
        ("BYBIT_BAN_COOLDOWN_SECS", "adapter.bybit.ban_cooldown_secs"),
        (
            "POSITIONS_TRAILING_DISTANCE_PERCENT",
            "positions.trailing_distance_percent",
        ),
        ("LIMITS_MAX_POSITIONS", "limits.max_positions"),
        ("SIZING_TOLERANCE_PERCENT", "sizing.tolerance_percent"),
        (
            "SYMBOLS_ALLOW_LEVERAGED_TOKENS",
            "symbols.allow_leveraged_tokens",
        ),
        ("METRICS_LISTEN", "metrics_listen"),
        ("TELEMETRY_OTLP_ENDPOINT", "telemetry.otlp_endpoint"),
        ("TLS_CLIENT_CA", "tls.client_ca"),
        ("AUTH_TOKEN_FILE", "auth.token_file"),
    ] {
        let var = format!("{ENV_PREFIX}{var}");
        assert_eq!(keys.get(var.as_str()), Some(&key), "{var}");
    }
    let secret: HashSet<_> = names.iter().filter(|(_, k)| k.contains("secret")).collect();
    assert!(
        secret.iter().all(|(_, k)| k.ends_with("api_secret_file")),
        "the secret itself is never a key: {secret:?}"
    );
}

#[test]
fn auth_and_tls_from_the_environment() {
    let c = load_env(&[
        ("WAVEGATE_AGENT_AUTH_TOKEN_FILE", "/t"),
        ("WAVEGATE_AGENT_AUTH_INSECURE", "true"),
    ])
    .unwrap();
    assert!(c.auth.insecure && c.auth.token_file == Some("/t".into()));
    let e = load_env(&[("WAVEGATE_AGENT_AUTH_INSECURE", "yes")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("WAVEGATE_AGENT_AUTH_INSECURE"), "{e}");
    let c = load(
        "[auth]\ntoken_file = \"/t\"\n",
        &[("WAVEGATE_AGENT_AUTH_TOKEN_FILE", "")],
    )
    .unwrap();
    assert_eq!(c.auth.token_file, None, "empty clears it");

    let e = load_env(&[("WAVEGATE_AGENT_TLS_CERT", "a.pem")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("tls.key"), "{e}");
    let tls = load_env(&[
        ("WAVEGATE_AGENT_TLS_CERT", "a.pem"),
        ("WAVEGATE_AGENT_TLS_KEY", "a.key"),
        ("WAVEGATE_AGENT_TLS_CLIENT_CA", "ca.pem"),
    ])
    .unwrap()
    .tls
    .unwrap();
    assert!(tls.mutual());
    let tls = load(
        "[tls]\ncert = \"a.pem\"\nkey = \"a.key\"\nclient_ca = \"ca.pem\"\n",
        &[("WAVEGATE_AGENT_TLS_CLIENT_CA", "")],
    )
    .unwrap()
    .tls
    .unwrap();
    assert!(!tls.mutual(), "empty turns mutual TLS off");
}

#[test]
fn telemetry_from_the_environment() {
    let c = load(
        "[telemetry]\notlp_endpoint = \"http://file:4317\"\n",
        &[
            ("WAVEGATE_AGENT_METRICS_LISTEN", "127.0.0.1:0"),
            ("WAVEGATE_AGENT_TELEMETRY_LOG_FORMAT", "json"),
        ],
    )
    .unwrap();
    assert_eq!(c.metrics_listen, Some("127.0.0.1:0".parse().unwrap()));
    assert_eq!(
        c.telemetry.log_format,
        wavegate_common::telemetry::LogFormat::Json
    );
    assert_eq!(
        c.telemetry.otlp_endpoint.as_deref(),
        Some("http://file:4317")
    );
    let c = load(
        "[telemetry]\notlp_endpoint = \"http://file:4317\"\n",
        &[("WAVEGATE_AGENT_TELEMETRY_OTLP_ENDPOINT", "")],
    )
    .unwrap();
    assert_eq!(c.telemetry.otlp_endpoint, None, "empty clears it");
    let e = load_env(&[("WAVEGATE_AGENT_TELEMETRY_LOG_FORMAT", "xml")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("WAVEGATE_AGENT_TELEMETRY_LOG_FORMAT"), "{e}");
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
    let c = load_env(&[("WAVEGATE_AGENT_BINANCE_NETWORK", "testnet")]).unwrap();
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
