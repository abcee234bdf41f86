//! Internal transfers between accounts on the platform: `requested → held(until, reasons) →
//! settled`, exit `cancelled(by)`. They pass the same egress gate as withdrawals; a held transfer
//! can be cancelled by its sender (or a freeze) until it settles, and settled ones are final — the
//! money is in another account, where only that account's owner or support can move it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    Requested,
    Held,
    Settled,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferEvent {
    /// The gate allowed it outright.
    Settle,
    /// The gate held it (risk reasons).
    Hold,
    /// The hold ran out (or support released it): it settles.
    Release,
    /// The sender, support or a freeze cancelled it.
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a transfer that is {from:?} cannot take {event:?}")]
pub struct IllegalTransfer {
    pub from: TransferState,
    pub event: TransferEvent,
}

impl TransferState {
    pub const ALL: [TransferState; 4] = [Self::Requested, Self::Held, Self::Settled, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Held => "held",
            Self::Settled => "settled",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Not settled yet: the sender or a freeze can still stop it.
    pub fn cancellable(self) -> bool {
        matches!(self, Self::Requested | Self::Held)
    }

    pub fn apply(self, event: TransferEvent) -> Result<TransferState, IllegalTransfer> {
        use TransferEvent::*;
        use TransferState as S;
        Ok(match (self, event) {
            (S::Requested, Settle) => S::Settled,
            (S::Requested, Hold) => S::Held,
            (S::Held, Release) => S::Settled,
            (s, Cancel) if s.cancellable() => S::Cancelled,
            (from, event) => return Err(IllegalTransfer { from, event }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TransferEvent::*;
    use super::TransferState as S;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_held_transfer_settles_when_released_or_is_cancelled() {
        assert_eq!(S::Requested.apply(Hold).and_then(|s| s.apply(Release)), Ok(S::Settled));
        assert_eq!(S::Requested.apply(Hold).and_then(|s| s.apply(Cancel)), Ok(S::Cancelled));
        assert!(S::Settled.apply(Cancel).is_err(), "settled is final");
        assert!(S::Cancelled.apply(Release).is_err());
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
    }

    fn event() -> impl Strategy<Value = TransferEvent> {
        prop_oneof![Just(Settle), Just(Hold), Just(Release), Just(Cancel)]
    }

    proptest! {
        /// Only the gate's two answers (settle, hold) leave `requested`, and a hold only settles
        /// through a release: no sequence reaches `settled` without passing the gate.
        #[test]
        fn no_path_settles_without_the_gate(events in prop::collection::vec(event(), 0..12)) {
            let mut s = S::Requested;
            let mut gate_said = false;
            for e in events {
                if let Ok(next) = s.apply(e) {
                    if s == S::Requested && matches!(e, Settle | Hold) {
                        gate_said = true;
                    }
                    s = next;
                }
                if s == S::Settled {
                    prop_assert!(gate_said);
                }
            }
        }
    }
}
