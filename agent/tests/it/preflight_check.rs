//! `wavegate-agent check --config FILE`: the real binary's read-only preflight against each
//! venue's fake — a table, exit 0 on a sound account, non-zero naming what would make trading
//! fail, never a credential in its output, and nothing sent that trades.

use std::process::{Command, Output};

use crate::live_support::*;
use wavegate_tests::fake_exchange::{
    Account, FakeBinance, FakeBybit, FakeServer, Instrument, World,
};

fn world() -> World {
    World::new(KEY, SECRET).instrument(
        Instrument::new("BTCUSDT", "60000")
            .step("0.001")
            .min_qty("0.001")
            .tick("0.1"),
    )
}

/// Runs `check` for `venue` (`binance`/`bybit`) against `fake`.
fn check(venue: &str, fake: &FakeServer, max_trades: u32) -> Output {
    check_with(venue, fake, max_trades, "")
}

/// [`check`] with `extra` TOML appended to the config.
fn check_with(venue: &str, fake: &FakeServer, max_trades: u32, extra: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("agent.toml");
    std::fs::write(
        &toml,
        format!(
            "exchange_id = 1\nexchange_name = \"{venue}\"\nmetrics_listen = \"off\"\n\
             [adapter]\nkind = \"{venue}\"\n[adapter.{venue}]\nbase_url = \"{}\"\nnotional = 100.0\n{extra}",
            fake.base_url()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_wavegate-agent"))
        .arg("--config")
        .arg(&toml)
        .arg("check")
        .arg("--max-trades")
        .arg(max_trades.to_string())
        .env_remove("WAVEGATE_AGENT_CONFIG")
        .env("WAVEGATE_AGENT_API_KEY", KEY)
        .env("WAVEGATE_AGENT_API_SECRET", SECRET)
        .output()
        .expect("binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The status column of the table line `check`.
fn status_of(out: &str, check: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(check))
        .and_then(|l| l[check.len()..].split_whitespace().next())
        .unwrap_or_else(|| panic!("no {check:?} line in:\n{out}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_a_sound_account_and_fails_what_would_stop_trading() {
    for venue in ["binance", "bybit"] {
        let start = |w: World| async move {
            match venue {
                "binance" => FakeBinance::start(w).await.unwrap(),
                _ => FakeBybit::start(w).await.unwrap(),
            }
        };
        // Sound: one-way mode, trading key without withdrawals, 10000 USDT for 5 × 100.
        let fake = start(world()).await;
        let o = check(venue, &fake, 5);
        let out = text(&o);
        assert!(o.status.success(), "{venue}:\n{out}");
        for line in [
            "server time",
            "symbol rules",
            "credentials",
            "trading permission",
            "withdrawals",
            "balance",
            "position mode",
            "margin and leverage",
            "rate limit",
        ] {
            let s = status_of(&out, line);
            assert!(
                s == "OK" || (line == "rate limit" && s == "WARN"),
                "{venue} {line}: {out}"
            );
        }
        assert!(!out.contains(SECRET), "{venue}: the secret leaked");
        assert!(
            fake.orders().is_empty() && fake.stops().is_empty(),
            "{venue}"
        );

        // Unsound: hedge mode, a key that may withdraw, 300 USDT for 5 × 100.
        let fake = start(world().hedge_mode(true).account(Account {
            available: dec("300"),
            can_trade: true,
            can_withdraw: true,
        }))
        .await;
        let o = check(venue, &fake, 5);
        let out = text(&o);
        assert!(!o.status.success(), "{venue}:\n{out}");
        assert_eq!(status_of(&out, "position mode"), "FAIL", "{venue}: {out}");
        assert_eq!(status_of(&out, "balance"), "FAIL", "{venue}: {out}");
        assert_eq!(status_of(&out, "withdrawals"), "WARN", "{venue}: {out}");

        // A read-only key cannot trade.
        let fake = start(world().account(Account {
            can_trade: false,
            ..Account::default()
        }))
        .await;
        let o = check(venue, &fake, 1);
        let out = text(&o);
        assert!(!o.status.success(), "{venue}:\n{out}");
        assert_eq!(
            status_of(&out, "trading permission"),
            "FAIL",
            "{venue}: {out}"
        );
    }
}

/// The lines of table check `check`.
fn lines_of<'a>(out: &'a str, check: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(check)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_margin_mode_and_leverage_of_each_checked_symbol() {
    for venue in ["binance", "bybit"] {
        let w = world().instrument(
            Instrument::new("ETHUSDT", "3000")
                .step("0.01")
                .min_qty("0.01")
                .tick("0.01"),
        );
        let fake = match venue {
            "binance" => FakeBinance::start(w).await.unwrap(),
            _ => FakeBybit::start(w).await.unwrap(),
        };
        // A new account: cross, the venue's default leverage (the fakes' 20), read for
        // `--symbol` (BTCUSDT) and the allow-list; the configured isolated ×5 is set before
        // the first entry, so the difference is no failure.
        let extra = "[positions]\nleverage = 5\nmargin_mode = \"isolated\"\n\
                     [symbols]\nallow = [\"BTCUSDT\", \"ETHUSDT\"]\n";
        let o = check_with(venue, &fake, 1, extra);
        let out = text(&o);
        assert!(o.status.success(), "{venue}:\n{out}");
        let lines = lines_of(&out, "margin and leverage");
        assert_eq!(lines.len(), 2, "{venue}: one line per symbol:\n{out}");
        for (line, symbol) in lines.iter().zip(["BTCUSDT", "ETHUSDT"]) {
            assert!(
                line.contains(&format!(
                    "OK    {symbol}: cross ×20, configured isolated ×5"
                )),
                "{venue}: {line}"
            );
        }
        let path = if venue == "binance" {
            "/fapi/v1/symbolConfig"
        } else {
            "/v5/account/info"
        };
        assert!(
            fake.requests().iter().any(|r| r.path == path),
            "{venue}: read through {path}"
        );
        assert!(fake.margin().changes == 0, "{venue}: check changes nothing");

        // A symbol the venue does not list: its settings are unreadable, the check fails.
        let extra = "[symbols]\nallow = [\"NOPEUSDT\"]\n";
        let o = check_with(venue, &fake, 1, extra);
        let out = text(&o);
        assert!(!o.status.success(), "{venue}:\n{out}");
        let bad = lines_of(&out, "margin and leverage")
            .into_iter()
            .find(|l| l.contains("NOPEUSDT"))
            .unwrap_or_else(|| panic!("{venue}: no NOPEUSDT line:\n{out}"))
            .to_owned();
        assert!(
            bad.contains("FAIL  NOPEUSDT: not readable"),
            "{venue}: {bad}"
        );
        assert!(!out.contains(SECRET), "{venue}: the secret leaked");
    }
}
