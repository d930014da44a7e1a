//! The journal's start-up checks (issue 12, item 6): another agent's journal and a damaged one
//! are refused before anything is served; a new one on a live account that already trades
//! refuses every wave (`FAILED_PRECONDITION`) until the operator confirms once.

use std::io::{Seek, SeekFrom, Write};

use wavegate_agent::AgentError;
use wavegate_agent::config::AdapterKind;
use wavegate_agent::journal::JournalError;
use wavegate_common::proto::v1 as pb;
use wavegate_tests::fake_exchange::{FakeBinance, World};

use crate::live_support::{KEY, SECRET, instruments, live_config};
use crate::support::config;

#[tokio::test]
async fn another_agents_journal_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    wavegate_agent::spawn(cfg.clone())
        .await
        .expect("first start")
        .shutdown()
        .await;
    let mut other = config(dir.path(), 2, "bybit");
    other.journal = cfg.journal.clone();
    let err = match wavegate_agent::spawn(other).await {
        Ok(_) => panic!("another agent's journal was accepted"),
        Err(e) => e,
    };
    match &err {
        AgentError::Journal(JournalError::Foreign {
            key,
            journal,
            config,
        }) => assert_eq!(
            (*key, journal.as_str(), config.as_str()),
            ("exchange_id", "1", "2")
        ),
        e => panic!("unexpected error: {e}"),
    }
    // The same agent still starts on it.
    wavegate_agent::spawn(cfg)
        .await
        .expect("own journal")
        .shutdown()
        .await;
}

#[tokio::test]
async fn a_journal_damaged_in_the_middle_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    wavegate_agent::spawn(cfg.clone())
        .await
        .expect("first start")
        .shutdown()
        .await;
    // Fold the WAL into the file, then overwrite the b-tree header of page 3 (past the
    // schema page that opening reads anyway).
    {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", cfg.journal.display()))
            .await
            .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let page_size = 4096;
    let len = std::fs::metadata(&cfg.journal).unwrap().len();
    assert!(len >= 4 * page_size, "journal has {len} bytes");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&cfg.journal)
        .unwrap();
    f.seek(SeekFrom::Start(2 * page_size)).unwrap();
    f.write_all(&[
        0x0d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ])
    .unwrap();
    drop(f);
    // Refused by the integrity check at open, before anything reads the damaged page.
    match wavegate_agent::spawn(cfg).await {
        Ok(_) => panic!("a damaged journal was accepted"),
        Err(AgentError::Journal(JournalError::Corrupt(m))) if m.starts_with("quick_check") => {}
        Err(e) => panic!("not refused by quick_check: {e}"),
    }
}

/// An `ExecuteWave` with nothing but `Start`: the status when the agent refuses the call.
async fn refused_call(addr: std::net::SocketAddr) -> Option<tonic::Status> {
    let mut client = crate::support::connect(addr).await;
    let start = pb::CoordinatorMsg {
        msg: Some(pb::coordinator_msg::Msg::Start(crate::support::start_msg(
            "W", 1, 1, 1, 1,
        ))),
    };
    client
        .execute_wave(tokio_stream::iter(vec![start]))
        .await
        .err()
}

#[tokio::test]
async fn a_new_journal_on_a_trading_account_waits_for_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let world = instruments(World::new(KEY, SECRET)).position("SOLUSDT", "0.5", "150");
    let fake = FakeBinance::start(world).await.unwrap();
    let mut cfg = live_config(
        dir.path(),
        1,
        "binance",
        AdapterKind::Binance,
        &fake.base_url(),
        SECRET,
    );
    cfg.confirm_new_journal = false;
    // Served (health says why not), but no wave trades.
    let agent = wavegate_agent::spawn(cfg.clone()).await.expect("starts");
    let refused = refused_call(agent.local_addr())
        .await
        .expect("a wave on a journal behind the venue was accepted");
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(refused.message().contains("SOLUSDT"), "{refused:?}");
    assert!(
        refused.message().contains("--confirm-new-journal"),
        "{refused:?}"
    );
    agent.shutdown().await;
    assert!(fake.orders().is_empty(), "nothing was sent");
    // Confirmed once, the position is recorded as known: later starts need no confirmation.
    let mut confirmed = cfg.clone();
    confirmed.confirm_new_journal = true;
    let agent = wavegate_agent::spawn(confirmed).await.expect("confirmed");
    assert!(
        refused_call(agent.local_addr()).await.is_none(),
        "trades once confirmed"
    );
    agent.shutdown().await;
    let agent = wavegate_agent::spawn(cfg.clone())
        .await
        .expect("stamped journal");
    assert!(
        refused_call(agent.local_addr()).await.is_none(),
        "no confirmation needed again"
    );
    agent.shutdown().await;
    // The journal lost: refused again.
    std::fs::remove_file(&cfg.journal).unwrap();
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", cfg.journal.display()));
    }
    let agent = wavegate_agent::spawn(cfg).await.expect("starts");
    let refused = refused_call(agent.local_addr())
        .await
        .expect("refused again");
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    agent.shutdown().await;
}
