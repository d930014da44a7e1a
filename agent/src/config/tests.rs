//! Unit tests of the agent's configuration: defaults, key errors and environment overrides.

use std::collections::{HashMap, HashSet};

use super::*;

/// Defaults plus these variables (exchange 1 `binance` by default), over `file` if not empty.
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

#[test]
fn bad_toml_values_and_unknown_keys_name_the_key() {
    for (text, key) in [
        ("execution_mode = \"fast\"\n", "execution_mode"),
        (
            "[adapter.paper]\nlatencyms = 2\n",
            "adapter.paper.latencyms",
        ),
        ("[rate_limit]\nburst = \"ten\"\n", "rate_limit.burst"),
        ("journal_sync = \"sometimes\"\n", "journal_sync"),
        ("topup_timeout_ms = 0\n", "topup_timeout_ms"),
        ("keepalive_timeout_ms = 0\n", "keepalive_timeout_ms"),
        (
            "[adapter.binance]\nnetwork = \"live\"\n",
            "adapter.binance.network",
        ),
        (
            "[telemetry]\nlog_format = \"xml\"\n",
            "telemetry.log_format",
        ),
        (
            "[telemetry]\nservice_name = \"x\"\n",
            "telemetry.service_name",
        ),
        ("metrics_listen = \"9101\"\n", "metrics_listen"),
    ] {
        match AgentConfig::from_toml(text) {
            Err(ConfigError::Value { key: k, reason, .. }) => {
                assert_eq!(k, key, "{text}: {reason}");
                // Unknown keys are named in the reason too.
                assert!(
                    !k.ends_with("latencyms") || reason.contains("latencyms"),
                    "{reason}"
                );
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn bad_environment_values_name_the_variable_and_key() {
    for (var, value, needle) in [
        ("JOURNAL_SYNC", "off", "WAVEGATE_AGENT_JOURNAL_SYNC"),
        ("JOURNAL_SYNC", "off", "journal_sync"),
        ("TOPUP_TIMEOUT_MS", "0", "topup_timeout_ms"),
        ("KEEPALIVE_TIMEOUT_MS", "0", "keepalive_timeout_ms"),
        ("TOPUP_TIMEOUT_MS", "0", "nonzero"),
        ("KEEPALIVE_TIMEOUT_MS", "0", "nonzero"),
        ("EXECUTION_MODE", "fast", "execution_mode"),
        ("RATE_LIMIT_BURST", "0", "rate_limit.burst"),
        ("AUTH_INSECURE", "yes", "WAVEGATE_AGENT_AUTH_INSECURE"),
        ("TLS_CERT", "a.pem", "tls.key"),
        (
            "TELEMETRY_LOG_FORMAT",
            "xml",
            "WAVEGATE_AGENT_TELEMETRY_LOG_FORMAT",
        ),
    ] {
        let var = format!("{ENV_PREFIX}{var}");
        let e = load("", &[(&var, value)]).unwrap_err().to_string();
        assert!(e.contains(needle), "{var}={value}: {e}");
    }
}

#[test]
fn defaults_and_toml_values() {
    let c = AgentConfig::default();
    assert_eq!(c.journal_sync, JournalSync::Normal);
    assert_eq!(
        (c.topup_timeout_ms, c.keepalive_interval_ms),
        (30_000, 10_000)
    );
    assert_eq!(c.keepalive_timeout_ms, 20_000);
    let c = AgentConfig::from_toml(
        "exchange_id = 1\njournal_sync = \"full\"\ntopup_timeout_ms = 500\n\
         keepalive_interval_ms = 0\n[faults]\npositions_fail = 2\nduplicate_entry = [\"BTCUSDT\"]\n\
         [adapter.binance]\nnetwork = \"demo\"\n[adapter.bybit]\nnetwork = \"testnet\"\n",
    )
    .unwrap();
    assert_eq!(c.journal_sync, JournalSync::Full);
    assert_eq!((c.topup_timeout_ms, c.keepalive_interval_ms), (500, 0));
    assert_eq!(c.faults.positions_fail, 2);
    assert_eq!(c.faults.duplicate_entry, vec!["BTCUSDT"]);
    assert_eq!(c.adapter.binance.base_url, "https://demo-fapi.binance.com");
    assert_eq!(c.adapter.bybit.base_url, "https://api-testnet.bybit.com");
}

#[test]
fn environment_overrides_the_file() {
    let c = load(
        "[telemetry]\notlp_endpoint = \"http://file:4317\"\n",
        &[
            ("WAVEGATE_AGENT_JOURNAL_SYNC", "full"),
            ("WAVEGATE_AGENT_TOPUP_TIMEOUT_MS", "750"),
            ("WAVEGATE_AGENT_KEEPALIVE_INTERVAL_MS", "5000"),
            ("WAVEGATE_AGENT_KEEPALIVE_TIMEOUT_MS", "3000"),
            ("WAVEGATE_AGENT_FAULTS_POSITIONS_FAIL", "1"),
            ("WAVEGATE_AGENT_FAULTS_DUPLICATE_ENTRY", "ETHUSDT"),
            ("WAVEGATE_AGENT_FAULTS_EXEC_FAIL", "BTCUSDT, ETHUSDT"),
            ("WAVEGATE_AGENT_EXECUTION_MODE", "windowed"),
            ("WAVEGATE_AGENT_AUTH_TOKEN_FILE", "/t"),
            ("WAVEGATE_AGENT_AUTH_INSECURE", "true"),
            ("WAVEGATE_AGENT_TLS_CERT", "a.pem"),
            ("WAVEGATE_AGENT_TLS_KEY", "a.key"),
            ("WAVEGATE_AGENT_TLS_CLIENT_CA", "ca.pem"),
            ("WAVEGATE_AGENT_METRICS_LISTEN", "127.0.0.1:0"),
            ("WAVEGATE_AGENT_TELEMETRY_LOG_FORMAT", "json"),
            // A production default follows the network.
            ("WAVEGATE_AGENT_BINANCE_NETWORK", "testnet"),
        ],
    )
    .unwrap();
    assert_eq!(c.journal_sync, JournalSync::Full);
    assert_eq!((c.topup_timeout_ms, c.keepalive_interval_ms), (750, 5_000));
    assert_eq!(c.keepalive_timeout_ms, 3_000);
    assert_eq!(c.faults.positions_fail, 1);
    assert_eq!(c.faults.duplicate_entry, vec!["ETHUSDT"]);
    assert_eq!(c.faults.exec_fail, vec!["BTCUSDT", "ETHUSDT"]);
    assert_eq!(c.execution_mode, Mode::Windowed);
    assert!(c.auth.insecure && c.auth.token_file == Some("/t".into()));
    assert!(c.tls.as_ref().unwrap().mutual());
    assert_eq!(c.metrics_listen, Some("127.0.0.1:0".parse().unwrap()));
    let log_format = c.telemetry.log_format;
    assert_eq!(log_format, wavegate_common::telemetry::LogFormat::Json);
    let otlp = c.telemetry.otlp_endpoint.as_deref();
    assert_eq!(otlp, Some("http://file:4317"));
    let url = c.adapter.binance.base_url;
    assert_eq!(url, "https://testnet.binancefuture.com");
}

#[test]
fn an_empty_variable_clears_the_files_value() {
    let c = load(
        "[auth]\ntoken_file = \"/t\"\n[telemetry]\notlp_endpoint = \"http://file:4317\"\n\
         [tls]\ncert = \"a.pem\"\nkey = \"a.key\"\nclient_ca = \"ca.pem\"\n",
        &[
            ("WAVEGATE_AGENT_AUTH_TOKEN_FILE", ""),
            ("WAVEGATE_AGENT_TELEMETRY_OTLP_ENDPOINT", ""),
            ("WAVEGATE_AGENT_TLS_CLIENT_CA", ""),
        ],
    )
    .unwrap();
    assert_eq!(c.auth.token_file, None, "empty clears it");
    assert_eq!(c.telemetry.otlp_endpoint, None, "empty clears it");
    assert!(!c.tls.unwrap().mutual(), "empty turns mutual TLS off");
}

#[test]
fn validation_names_the_key() {
    let mut c = AgentConfig::paper(1, "binance", "j.db".into());
    c.faults.exec_fail = vec!["btc".into()];
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("faults.exec_fail"), "{e}");
    // A production URL on a test network is refused, naming the key.
    let mut live = live::LiveConfig::binance();
    live.network = network::Network::Testnet;
    live.api_key = Some(Secret::new("k"));
    live.api_secret = Some(Secret::new("s"));
    match live.validate("adapter.binance") {
        Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "adapter.binance.base_url"),
        other => panic!("{other:?}"),
    }
    let mut live = live::LiveConfig::bybit();
    live.api_key = Some(Secret::new("k"));
    live.api_secret = Some(Secret::new("s"));
    for bad in [0, 60_001] {
        live.ack_visibility_ms = bad;
        let e = live.validate("adapter.bybit").unwrap_err().to_string();
        assert!(
            e.contains("adapter.bybit.ack_visibility_ms")
                && e.contains(&format!("must be in 1..=60000, got {bad}")),
            "{e}"
        );
    }
    live.ack_visibility_ms = 60_000;
    live.validate("adapter.bybit").unwrap();
    let mut c = AgentConfig::paper(1, "binance", "j.db".into());
    for bad in [0, 10_001] {
        c.lookup_backoff_ms = bad;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("lookup_backoff_ms") && e.contains(&format!("1..=10000, got {bad}")),
            "{e}"
        );
    }
}

#[test]
fn every_variable_sets_one_key_and_the_documented_names_work() {
    let names = config_load::env_names::<AgentConfig>(&ENV);
    let mut keys: HashMap<&str, &str> = HashMap::new();
    for (var, key) in &names {
        let old = keys.insert(var, key);
        assert!(old.is_none_or(|k| k == key), "{var}: {old:?} and {key}");
    }
    // The documented rule: the key path in upper case, `.` as `_`.
    let plain = [
        "listen",
        "rate_limit.orders_per_second",
        "adapter.kind",
        "positions.trailing_distance_percent",
        "limits.max_positions",
        "sizing.tolerance_percent",
        "symbols.allow_leveraged_tokens",
        "metrics_listen",
        "telemetry.otlp_endpoint",
        "tls.client_ca",
        "auth.token_file",
    ];
    let plain = plain.map(|k| (k.replace('.', "_").to_ascii_uppercase(), k));
    let aliases = [
        ("RATE_LIMIT__BURST", "rate_limit.burst"),
        ("PAPER_LATENCY_MS", "adapter.paper.latency_ms"),
        (
            "BINANCE_MAX_FILL_DEVIATION_PERCENT",
            "adapter.binance.max_fill_deviation_percent",
        ),
        ("BYBIT_BAN_COOLDOWN_SECS", "adapter.bybit.ban_cooldown_secs"),
    ];
    let aliases = aliases.map(|(v, k)| (v.to_owned(), k));
    for (var, key) in plain.into_iter().chain(aliases) {
        let var = format!("{ENV_PREFIX}{var}");
        assert_eq!(keys.get(var.as_str()), Some(&key), "{var}");
    }
    let secret: HashSet<_> = names.iter().filter(|(_, k)| k.contains("secret")).collect();
    assert!(
        secret.iter().all(|(_, k)| k.ends_with("api_secret_file")),
        "the secret itself is never a key: {secret:?}"
    );
}
