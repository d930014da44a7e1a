//! Deterministic client order ids.
//!
//! Every order carries an id derived from (wave, exchange, signal), so a re-sent wave or a
//! restarted agent looks the order up instead of placing it again (docs/design.md §3). Both Binance and
//! Bybit accept at most 36 characters of `[A-Za-z0-9_-]`.

use sha2::{Digest, Sha256};

/// Maximum length both exchanges accept for a client order id.
pub const MAX_LEN: usize = 36;

/// Derives the client order id of `signal_id` on `exchange_id` in `wave_id`.
///
/// `wg-` followed by the first 16 bytes of SHA-256 over the tuple, in hex: 35 characters,
/// the same on every machine and every version.
pub fn client_order_id(wave_id: &str, exchange_id: u32, signal_id: i64) -> String {
    let mut h = Sha256::new();
    h.update(b"wavegate/v1\0");
    h.update(wave_id.as_bytes());
    h.update([0]);
    h.update(exchange_id.to_be_bytes());
    h.update(signal_id.to_be_bytes());
    let digest = h.finalize();
    // Hex by table into one buffer: this runs for every order (no `format!` per byte).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(MAX_LEN);
    id.push_str("wg-");
    for b in &digest[..16] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    id
}

/// True when `id` is acceptable to both exchanges.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_valid_and_distinct() {
        let a = client_order_id("2026-11-24T12:00:00Z", 1, 101);
        assert_eq!(a, client_order_id("2026-11-24T12:00:00Z", 1, 101));
        assert!(is_valid(&a), "{a}");
        assert_eq!(a.len(), 35);
        assert_ne!(a, client_order_id("2026-11-24T12:00:00Z", 2, 101));
        assert_ne!(a, client_order_id("2026-11-24T12:15:00Z", 1, 101));
        assert_ne!(a, client_order_id("2026-11-24T12:00:00Z", 1, 102));
        assert!(is_valid(&client_order_id("", u32::MAX, i64::MIN)));
    }

    #[test]
    fn the_id_of_a_signal_never_changes() {
        // Pinned: orders already at an exchange are found again only under the same id.
        // The value is SHA-256 as specified above, checked independently (Python hashlib).
        assert_eq!(
            client_order_id("2026-11-24T12:00:00Z", 1, 101),
            "wg-952e786fa482758567fbe24f7a147c3d"
        );
    }

    #[test]
    fn rejects_bad_ids() {
        assert!(!is_valid(""));
        assert!(!is_valid("has space"));
        assert!(!is_valid(&"a".repeat(37)));
    }
}
