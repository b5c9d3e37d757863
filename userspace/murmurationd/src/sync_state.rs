//! LOCKED, HOLDOVER, FREERUN: the sync state every timing part speaks of
//! (ptp's derivation, linuxptp's supervised phc2sys, the notification API).
//! A leaf module, so none of those has to import another for it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncState {
    Locked,
    Holdover,
    Freerun,
}

impl SyncState {
    pub const ALL: [SyncState; 3] = [Self::Locked, Self::Holdover, Self::Freerun];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Locked => "LOCKED",
            Self::Holdover => "HOLDOVER",
            Self::Freerun => "FREERUN",
        }
    }

    /// The least synchronized of two states (FREERUN beats HOLDOVER beats
    /// LOCKED): how a node's overall sync-state combines its parts.
    pub fn worst(self, other: Self) -> Self {
        let rank = |s: Self| match s {
            Self::Locked => 0,
            Self::Holdover => 1,
            Self::Freerun => 2,
        };
        if rank(other) > rank(self) { other } else { self }
    }
}
