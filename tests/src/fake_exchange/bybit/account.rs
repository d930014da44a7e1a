//! Bybit `GET /v5/user/query-api` (the API key's permissions, docs/v5/user/apikey-info.mdx),
//! `GET /v5/account/wallet-balance?accountType=UNIFIED` (docs/v5/account/
//! wallet-balance.mdx: `totalAvailableBalance`) and `GET /v5/account/info` (docs/v5/account/
//! account-info.mdx: `marginMode` `ISOLATED_MARGIN` | `REGULAR_MARGIN` | `PORTFOLIO_MARGIN`,
//! one mode for the whole unified account), the fields a preflight reads.

use serde_json::json;

use super::super::margin::MarginKind;
use super::super::server::{Outcome, Req};
use super::super::state::Shared;
use super::auth::{authenticate, params_error, query};
use super::ok;

/// `GET /v5/account/info`.
pub fn account_info(shared: &Shared, req: &Req) -> Outcome {
    if let Err(e) = authenticate(shared, req) {
        return e;
    }
    let st = shared.lock();
    let now = st.now_ms();
    let mode = match st.margin.account_margin {
        MarginKind::Isolated => "ISOLATED_MARGIN",
        MarginKind::Cross => "REGULAR_MARGIN",
    };
    ok(
        now,
        json!({
            "unifiedMarginStatus": 5,
            "marginMode": mode,
            "isMasterTrader": false,
            "spotHedgingStatus": "OFF",
            "updatedTime": now.to_string(),
            "dcpStatus": "OFF",
            "timeWindow": 0,
            "smpGroup": 0
        }),
    )
}

/// `GET /v5/user/query-api`.
pub fn query_api(shared: &Shared, req: &Req) -> Outcome {
    if let Err(e) = authenticate(shared, req) {
        return e;
    }
    let st = shared.lock();
    let now = st.now_ms();
    let a = &st.account;
    let contract: Vec<&str> = if a.can_trade {
        vec!["Order", "Position"]
    } else {
        vec![]
    };
    let mut wallet = vec!["AccountTransfer", "SubMemberTransfer"];
    if a.can_withdraw {
        wallet.push("Withdraw");
    }
    ok(
        now,
        json!({
            "id": "13770661",
            "note": "wavegate",
            "apiKey": shared.credentials.api_key,
            "readOnly": if a.can_trade { 0 } else { 1 },
            "secret": "",
            "permissions": {
                "ContractTrade": contract, "Spot": [], "Wallet": wallet, "Options": [],
                "Derivatives": [], "CopyTrading": [], "BlockTrade": [], "Exchange": [], "NFT": [],
                "Affiliate": []
            },
            "ips": ["*"],
            "type": 1,
            "deadlineDay": 83,
            "expiredAt": "",
            "createdAt": "2026-01-01T00:00:00Z",
            "unified": 0,
            "uta": 1,
            "userID": 24617703,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": true,
            "parentUid": "0",
            "kycLevel": "LEVEL_DEFAULT",
            "kycRegion": ""
        }),
    )
}

/// `GET /v5/account/wallet-balance` (`accountType=UNIFIED` required).
pub fn wallet_balance(shared: &Shared, req: &Req) -> Outcome {
    if let Err(e) = authenticate(shared, req) {
        return e;
    }
    let q = query(req);
    let st = shared.lock();
    let now = st.now_ms();
    if q.get("accountType").map(String::as_str) != Some("UNIFIED") {
        return params_error(now, "accountType invalid");
    }
    let bal = st.account.available.to_string();
    ok(
        now,
        json!({ "list": [{
            "accountType": "UNIFIED",
            "totalEquity": bal, "totalWalletBalance": bal, "totalMarginBalance": bal,
            "totalAvailableBalance": bal, "totalPerpUPL": "0", "totalInitialMargin": "0",
            "totalMaintenanceMargin": "0", "accountIMRate": "0", "accountMMRate": "0",
            "accountLTV": "0",
            "coin": [{"coin": "USDT", "equity": bal, "walletBalance": bal, "usdValue": bal,
                      "unrealisedPnl": "0", "cumRealisedPnl": "0", "locked": "0"}]
        }]}),
    )
}
