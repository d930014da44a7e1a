//! Request signatures exactly as the two exchanges define them (HMAC-SHA256, hex).
//!
//! - Binance USDⓈ-M futures: `signature = hex(HMAC_SHA256(secret, totalParams))` where
//!   `totalParams` is the query string concatenated with the request body (no `&` between them),
//!   both as sent, without the `signature` parameter itself.
//! - Bybit v5: `X-BAPI-SIGN = hex(HMAC_SHA256(secret, timestamp + apiKey + recvWindow + payload))`
//!   where `payload` is the query string for GET and the raw JSON body for POST.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// Lower-case hex HMAC-SHA256 of `payload` keyed by `secret`.
pub fn hmac_sha256_hex(secret: &str, payload: &str) -> String {
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// True when `signature_hex` (either case) is the HMAC of `payload`; compared in constant time.
pub fn verify_hex(secret: &str, payload: &str, signature_hex: &str) -> bool {
    let Ok(sig) = hex::decode(signature_hex) else {
        return false;
    };
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    m.verify_slice(&sig).is_ok()
}

/// Binance signature of `total_params` (query string + body, without `signature`).
pub fn binance_signature(secret: &str, total_params: &str) -> String {
    hmac_sha256_hex(secret, total_params)
}

/// Bybit v5 `X-BAPI-SIGN` for a request.
pub fn bybit_signature(
    secret: &str,
    timestamp_ms: &str,
    api_key: &str,
    recv_window: &str,
    payload: &str,
) -> String {
    hmac_sha256_hex(
        secret,
        &format!("{timestamp_ms}{api_key}{recv_window}{payload}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Binance's USDⓈ-M futures "SIGNED Endpoint Examples for POST
    /// /fapi/v1/order - HMAC Keys" (query-string form).
    #[test]
    fn binance_documented_vector() {
        let secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
        let params = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
        let sig = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9";
        assert_eq!(binance_signature(secret, params), sig);
        assert!(verify_hex(secret, params, &sig.to_uppercase()));
        assert!(!verify_hex(secret, params, "00"));
        assert!(!verify_hex(secret, params, "not hex"));
    }
}
