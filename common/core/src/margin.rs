//! Margin mode of the positions a wave opens, in its JSON form (`cross`,
//! `isolated`) and its wire form ([`pb::MarginMode`]).

use serde::{Deserialize, Serialize};

use crate::pb;

/// Cross or isolated margin, as a signal's params, the stored params or an agent's config carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarginMode {
    /// Cross margin (the exchanges' default for a new account).
    #[default]
    Cross,
    /// Isolated margin.
    Isolated,
}

impl MarginMode {
    /// `cross` or `isolated`, as in the JSON form.
    pub fn as_str(self) -> &'static str {
        match self {
            MarginMode::Cross => "cross",
            MarginMode::Isolated => "isolated",
        }
    }

    /// Parses `cross` or `isolated` (exact, as stored and in JSON).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cross" => Some(MarginMode::Cross),
            "isolated" => Some(MarginMode::Isolated),
            _ => None,
        }
    }

    /// Wire form.
    pub fn to_proto(self) -> pb::MarginMode {
        match self {
            MarginMode::Cross => pb::MarginMode::Cross,
            MarginMode::Isolated => pb::MarginMode::Isolated,
        }
    }

    /// From the wire value: `Ok(None)` for `MARGIN_MODE_UNSPECIFIED` (not carried), `Err` with
    /// the value when it is not a known mode.
    pub fn from_proto(v: i32) -> Result<Option<Self>, i32> {
        match pb::MarginMode::try_from(v) {
            Ok(pb::MarginMode::Unspecified) => Ok(None),
            Ok(pb::MarginMode::Cross) => Ok(Some(MarginMode::Cross)),
            Ok(pb::MarginMode::Isolated) => Ok(Some(MarginMode::Isolated)),
            Err(_) => Err(v),
        }
    }
}
