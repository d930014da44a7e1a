//! Binance request parameters and SIGNED-endpoint security, as the USDⓈ-M futures "General Info"
//! page defines them.
//!
//! - Parameters come from the query string and, for POST/PUT/DELETE, from an
//!   `application/x-www-form-urlencoded` body; on a clash the query string wins.
//! - API key in `X-MBX-APIKEY` (missing: `-2014`, unknown: `-2015`, HTTP 401).
//! - `timestamp` mandatory (`-1102`), `recvWindow` default 5000; the request is processed only if
//!   `timestamp < serverTime + 1000 && serverTime - timestamp <= recvWindow`, else `-1021`.
//! - `signature` = hex HMAC-SHA256 over `totalParams` = query string ‖ body (no `&` between),
//!   without the `signature` pair, which must be the last pair of the part carrying it; not case
//!   sensitive; wrong or misplaced: `-1022`.

use std::collections::BTreeMap;

use http::{Method, StatusCode};

use super::super::server::{Outcome, Req};
use super::super::sign::verify_hex;
use super::super::state::Shared;
use super::error;

/// Default `recvWindow`, ms.
const DEFAULT_RECV_WINDOW: i64 = 5000;

/// Parsed request parameters (query string wins over body).
#[derive(Debug, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Parses the query string and, for non-GET requests, the form body.
    pub fn parse(req: &Req) -> Params {
        let mut map = BTreeMap::new();
        if req.method != Method::GET {
            for (k, v) in form_urlencoded::parse(&req.body) {
                map.insert(k.into_owned(), v.into_owned());
            }
        }
        for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
            map.insert(k.into_owned(), v.into_owned());
        }
        Params { map }
    }

    /// The value of `name`, if sent and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The value of a mandatory parameter, or the `-1102` answer naming it.
    pub fn required(&self, name: &str) -> Result<&str, Outcome> {
        self.get(name).ok_or_else(|| mandatory(name))
    }

    /// `-1104` when a parameter the endpoint does not read was sent (a misspelt name, or a
    /// parameter of another endpoint).
    pub fn only(&self, known: &[&str]) -> Result<(), Outcome> {
        let read = self
            .map
            .keys()
            .filter(|k| known.contains(&k.as_str()))
            .count();
        if read == self.map.len() {
            return Ok(());
        }
        Err(error(
            StatusCode::BAD_REQUEST,
            -1104,
            &format!(
                "Not all sent parameters were read; read '{read}' parameter(s) but was sent '{}'.",
                self.map.len()
            ),
        ))
    }

    /// A `"true"`/`"false"` parameter (absent = false); anything else is `-1130`.
    pub fn flag(&self, name: &str) -> Result<bool, Outcome> {
        match self.get(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(invalid(name)),
        }
    }
}

/// `-1102` for a missing, empty or malformed mandatory parameter.
pub fn mandatory(name: &str) -> Outcome {
    error(
        StatusCode::BAD_REQUEST,
        -1102,
        &format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

/// `-1130` for a parameter whose value is not valid.
pub fn invalid(name: &str) -> Outcome {
    error(
        StatusCode::BAD_REQUEST,
        -1130,
        &format!("Data sent for parameter '{name}' is not valid."),
    )
}

/// Checks key, timestamp and signature of a SIGNED request; returns its parameters.
pub fn authenticate(shared: &Shared, req: &Req) -> Result<Params, Outcome> {
    let key = req
        .headers
        .get("X-MBX-APIKEY")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if key.is_empty() {
        shared.lock().counters.key_rejections += 1;
        return Err(error(
            StatusCode::UNAUTHORIZED,
            -2014,
            "API-key format invalid.",
        ));
    }
    if key != shared.credentials.api_key {
        shared.lock().counters.key_rejections += 1;
        return Err(error(
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ));
    }
    let params = Params::parse(req);
    let ts: i64 = params
        .get("timestamp")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| mandatory("timestamp"))?;
    let recv_window: i64 = match params.get("recvWindow") {
        None => DEFAULT_RECV_WINDOW,
        Some(v) => v.parse().map_err(|_| invalid("recvWindow"))?,
    };
    let server_time = shared.lock().now_ms();
    if ts >= server_time + 1000 {
        shared.lock().counters.timestamp_rejections += 1;
        return Err(error(
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if server_time - ts > recv_window {
        shared.lock().counters.timestamp_rejections += 1;
        return Err(error(
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    check_signature(shared, req)?;
    Ok(params)
}

fn check_signature(shared: &Shared, req: &Req) -> Result<(), Outcome> {
    let body = if req.method == Method::GET {
        String::new()
    } else {
        String::from_utf8_lossy(&req.body).into_owned()
    };
    let (query, q_sig) = split_signature(&req.query);
    let (body, b_sig) = split_signature(&body);
    let reject = |shared: &Shared| {
        shared.lock().counters.signature_rejections += 1;
        error(
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid.",
        )
    };
    let signature = match (q_sig, b_sig) {
        (SigPart::Missing, SigPart::Missing) => {
            shared.lock().counters.signature_rejections += 1;
            return Err(mandatory("signature"));
        }
        (SigPart::Last(s), SigPart::Missing) | (SigPart::Missing, SigPart::Last(s)) => s,
        _ => return Err(reject(shared)),
    };
    let total_params = format!("{query}{body}");
    if verify_hex(&shared.credentials.secret, &total_params, &signature) {
        Ok(())
    } else {
        Err(reject(shared))
    }
}

/// Where a `signature` pair sits in one part of the request.
enum SigPart {
    Missing,
    /// The last pair: its (percent-decoded) value.
    Last(String),
    /// Present but not last, or present twice: never valid.
    Misplaced,
}

/// Splits `signature=…` off the end of a raw `k=v&k=v` string.
fn split_signature(raw: &str) -> (String, SigPart) {
    let pairs: Vec<&str> = raw.split('&').filter(|p| !p.is_empty()).collect();
    let is_sig = |p: &str| p.split('=').next() == Some("signature");
    let count = pairs.iter().filter(|p| is_sig(p)).count();
    match (count, pairs.last()) {
        (0, _) => (raw.to_owned(), SigPart::Missing),
        (1, Some(last)) if is_sig(last) => {
            let value = last.split_once('=').map(|(_, v)| v).unwrap_or("");
            let value = form_urlencoded::parse(format!("v={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let rest = pairs[..pairs.len() - 1].join("&");
            (rest, SigPart::Last(value))
        }
        _ => (raw.to_owned(), SigPart::Misplaced),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_must_be_last() {
        let (rest, sig) = split_signature("a=1&b=2&signature=ab");
        assert_eq!(rest, "a=1&b=2");
        assert!(matches!(sig, SigPart::Last(s) if s == "ab"));
        assert!(matches!(
            split_signature("signature=ab&a=1").1,
            SigPart::Misplaced
        ));
        assert!(matches!(split_signature("a=1").1, SigPart::Missing));
    }
}
