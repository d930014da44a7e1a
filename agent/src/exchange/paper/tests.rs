//! Unit tests of the paper exchange: fills, refusals and its persisted positions.

use super::*;
use crate::exchange::Decimal;

fn entry(id: &str, symbol: &str) -> EntryOrder {
    EntryOrder {
        client_order_id: id.into(),
        symbol: symbol.into(),
        side: Side::Long,
        notional: Decimal::ONE_HUNDRED,
    }
}

#[tokio::test]
async fn scripted_world_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let cfg = PaperConfig {
        open_positions: vec!["ETHUSDT".into()],
        ..PaperConfig::default()
    };
    {
        let j = Journal::open(&path).await.unwrap();
        let p = PaperExchange::open(cfg.clone(), &j).await.unwrap();
        assert_eq!(p.open_positions().await.unwrap(), vec!["ETHUSDT"]);
        assert_eq!(
            p.check_rules("BTCUSDT".into(), Side::Long, Decimal::ONE)
                .await,
            Err(ExchangeError::Rejected("below_min_notional".into()))
        );
        let f = p.place_entry(entry("c1", "BTCUSDT")).await.unwrap();
        assert_eq!(f.price, price_of("BTCUSDT"));
        assert_eq!(
            p.place_entry(entry("c1", "BTCUSDT")).await,
            Err(ExchangeError::DuplicateId(DUPLICATE.into()))
        );
        let below_min = EntryOrder {
            notional: Decimal::ONE,
            ..entry("c2", "XRPUSDT")
        };
        assert_eq!(
            p.place_entry(below_min).await,
            Err(ExchangeError::Rejected("below_min_notional".into()))
        );
        p.close_position("ETHUSDT".into(), "c3".into())
            .await
            .unwrap();
    }
    let j = Journal::open(&path).await.unwrap();
    let p = PaperExchange::open(cfg, &j).await.unwrap();
    assert_eq!(
        p.open_positions().await.unwrap(),
        vec!["BTCUSDT"],
        "closed ETHUSDT is not re-seeded; BTCUSDT survived the restart"
    );
    assert!(matches!(
        p.lookup_order("BTCUSDT".into(), "c1".into()).await,
        Ok(Some(OrderReport::Filled(_)))
    ));
    assert!(matches!(
        p.lookup_order("XRPUSDT".into(), "c2".into()).await,
        Ok(Some(OrderReport::Rejected(_)))
    ));
    assert_eq!(
        p.lookup_order("BTCUSDT".into(), "nope".into()).await,
        Ok(None)
    );
}
