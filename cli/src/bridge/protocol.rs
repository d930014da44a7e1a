//! The reference bot's signal-server protocol (from the bot and its public server):
//! `auth_required` → `{"type":"auth","token":T}` → `auth_success` (`query_interval`,
//! `signal_window`), `auth_failed` or `error`. The client may send `get_signals`, `get_stats`,
//! `ping` (→ `pong`). `{"type":"signals","timestamp":<naive local time>,"count":N,"data":[…]}`
//! is pushed every `query_interval` and answers `get_signals`.

use serde_json::Value;

/// A message from the signal server, as far as the bridge needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMsg {
    /// `auth_required`: the server waits for the token.
    AuthRequired,
    /// `auth_success`, with the server's push interval and signal window when given.
    AuthSuccess {
        /// Seconds between pushes.
        query_interval: Option<f64>,
        /// Minutes of signals each push carries.
        signal_window: Option<f64>,
    },
    /// `auth_failed`.
    AuthFailed,
    /// `error` with its message.
    Error(String),
    /// `signals`: the records of the server's window (each still to be checked).
    Signals(Vec<Value>),
    /// `pong`.
    Pong,
    /// `stats` or any other type the bridge does not use.
    Other(String),
}

/// Why a text frame is not a usable message; its metric label is snake case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum BadMessage {
    /// Not JSON, or not a JSON object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// No string `type`.
    #[error("no \"type\" field")]
    NoType,
    /// A `signals` message whose `data` is not an array.
    #[error("a signals message without a \"data\" array")]
    NoData,
    /// A binary frame (the protocol is JSON text).
    #[error("a binary frame")]
    Binary,
    /// Larger than the configured limit (the connection is dropped and opened again).
    #[error("larger than --max-message-bytes")]
    Oversize,
}

impl BadMessage {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        self.into()
    }
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<ServerMsg, BadMessage> {
    let v: Value = serde_json::from_str(text).map_err(|e| BadMessage::NotJson(e.to_string()))?;
    let Value::Object(mut map) = v else {
        return Err(BadMessage::NotJson(
            "a JSON value that is not an object".into(),
        ));
    };
    let kind = map
        .get("type")
        .and_then(Value::as_str)
        .ok_or(BadMessage::NoType)?
        .to_owned();
    let num = |k: &str| map.get(k).and_then(Value::as_f64);
    Ok(match kind.as_str() {
        "auth_required" => ServerMsg::AuthRequired,
        "auth_success" => ServerMsg::AuthSuccess {
            query_interval: num("query_interval"),
            signal_window: num("signal_window"),
        },
        "auth_failed" => ServerMsg::AuthFailed,
        "error" => ServerMsg::Error(
            map.get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        "signals" => match map.remove("data") {
            Some(Value::Array(data)) => ServerMsg::Signals(data),
            _ => return Err(BadMessage::NoData),
        },
        "pong" => ServerMsg::Pong,
        _ => ServerMsg::Other(kind),
    })
}

/// `{"type":"auth","token":T}` (the token is only ever put on the wire here).
pub fn auth(token: &str) -> String {
    serde_json::json!({"type": "auth", "token": token}).to_string()
}

/// `{"type":"get_signals"}`.
pub const GET_SIGNALS: &str = r#"{"type":"get_signals"}"#;

/// `{"type":"ping"}`.
pub const PING: &str = r#"{"type":"ping"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_server_message() {
        assert_eq!(
            parse(r#"{"type":"auth_required"}"#),
            Ok(ServerMsg::AuthRequired)
        );
        assert_eq!(
            parse(r#"{"type":"auth_success","query_interval":5,"signal_window":60}"#),
            Ok(ServerMsg::AuthSuccess {
                query_interval: Some(5.0),
                signal_window: Some(60.0)
            })
        );
        assert_eq!(
            parse(r#"{"type":"auth_failed"}"#),
            Ok(ServerMsg::AuthFailed)
        );
        assert_eq!(
            parse(r#"{"type":"error","message":"bad token"}"#),
            Ok(ServerMsg::Error("bad token".into()))
        );
        assert_eq!(parse(r#"{"type":"pong"}"#), Ok(ServerMsg::Pong));
        let s = parse(
            r#"{"type":"signals","timestamp":"2025-10-28T21:34:05","count":1,"data":[{"id":1}]}"#,
        );
        assert_eq!(
            s,
            Ok(ServerMsg::Signals(vec![serde_json::json!({"id": 1})]))
        );
        assert_eq!(
            parse(r#"{"type":"stats","total":3}"#),
            Ok(ServerMsg::Other("stats".into()))
        );
    }

    #[test]
    fn bad_frames_are_named() {
        assert!(matches!(parse("{oops"), Err(BadMessage::NotJson(_))));
        assert!(matches!(parse("[1]"), Err(BadMessage::NotJson(_))));
        assert_eq!(parse(r#"{"data":[]}"#), Err(BadMessage::NoType));
        assert_eq!(
            parse(r#"{"type":"signals","data":{}}"#),
            Err(BadMessage::NoData)
        );
    }

    #[test]
    fn auth_carries_the_token() {
        let v: Value = serde_json::from_str(&auth("t\"ok")).unwrap();
        assert_eq!(v, serde_json::json!({"type": "auth", "token": "t\"ok"}));
    }
}
