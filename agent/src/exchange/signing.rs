//! Lower-case hex HMAC-SHA256 of the live adapters; what is signed lives with each adapter.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::Secret;

/// Lower-case hex HMAC-SHA256 of `payload` keyed by `secret`.
pub fn hmac_sha256_hex(secret: &Secret, payload: &str) -> String {
    // HMAC takes any key length; the fallback is unreachable but keeps this panic-free.
    match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mut m) => {
            m.update(payload.as_bytes());
            hex::encode(m.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance's documented example ("SIGNED Endpoint Examples for POST /fapi/v1/order").
    #[test]
    fn binance_documented_vector() {
        let secret =
            Secret::new("2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9");
        let params = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
        assert_eq!(
            hmac_sha256_hex(&secret, params),
            "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
        );
    }
}
