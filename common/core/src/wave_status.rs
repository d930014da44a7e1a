//! The one definition of a wave's status, with its stored name and wire form.

use crate::pb;

/// Lifecycle of a wave: `collecting → dispatching → completed | partial | failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum WaveStatus {
    /// Accepting signals.
    Collecting,
    /// Claimed; agents are executing.
    Dispatching,
    /// Every exchange finished.
    Completed,
    /// At least one exchange could not be processed.
    Partial,
    /// Nothing was processed (e.g. too old).
    Failed,
}

impl WaveStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [WaveStatus; 5] = [
        WaveStatus::Collecting,
        WaveStatus::Dispatching,
        WaveStatus::Completed,
        WaveStatus::Partial,
        WaveStatus::Failed,
    ];

    /// The final statuses: a wave in one of them never changes again.
    pub const FINAL: [WaveStatus; 3] = [
        WaveStatus::Completed,
        WaveStatus::Partial,
        WaveStatus::Failed,
    ];

    /// Stored name, also the label value and the CLI's word.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// True once the wave will not change any more.
    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self)
    }

    /// Wire form.
    pub fn to_proto(self) -> pb::WaveStatus {
        match self {
            WaveStatus::Collecting => pb::WaveStatus::Collecting,
            WaveStatus::Dispatching => pb::WaveStatus::Dispatching,
            WaveStatus::Completed => pb::WaveStatus::Completed,
            WaveStatus::Partial => pb::WaveStatus::Partial,
            WaveStatus::Failed => pb::WaveStatus::Failed,
        }
    }

    /// From the wire; unspecified or unknown is `None`.
    pub fn from_proto(v: i32) -> Option<Self> {
        match pb::WaveStatus::try_from(v).ok()? {
            pb::WaveStatus::Unspecified => None,
            pb::WaveStatus::Collecting => Some(WaveStatus::Collecting),
            pb::WaveStatus::Dispatching => Some(WaveStatus::Dispatching),
            pb::WaveStatus::Completed => Some(WaveStatus::Completed),
            pb::WaveStatus::Partial => Some(WaveStatus::Partial),
            pb::WaveStatus::Failed => Some(WaveStatus::Failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wire_forms_round_trip() {
        for s in WaveStatus::ALL {
            assert_eq!(WaveStatus::parse(s.as_str()), Some(s));
            assert_eq!(WaveStatus::from_proto(s.to_proto() as i32), Some(s));
        }
        // The stored names (the coordinator's database and the metric labels).
        assert_eq!(
            WaveStatus::ALL.map(WaveStatus::as_str),
            [
                "collecting",
                "dispatching",
                "completed",
                "partial",
                "failed"
            ]
        );
        assert_eq!(WaveStatus::parse("done"), None);
        assert_eq!(WaveStatus::parse("Completed"), None);
        assert_eq!(WaveStatus::from_proto(0), None);
        assert_eq!(WaveStatus::from_proto(99), None);
        let finals: Vec<_> = WaveStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(finals, WaveStatus::FINAL);
    }
}
