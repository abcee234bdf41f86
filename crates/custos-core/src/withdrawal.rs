//! The withdrawal state machine. `requested → awaiting_confirmation → held(until, reasons) →
//! queued → processing → broadcast → confirmed`, exits `cancelled(by) | rejected | failed`.
//! Cancellable before `processing`; interceptable (ask the wallet) in `processing`; final from
//! `broadcast` (the chain does not give money back).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalState {
    Requested,
    AwaitingConfirmation,
    Held,
    Queued,
    Processing,
    Broadcast,
    Confirmed,
    Cancelled,
    Rejected,
    Failed,
}

/// Everything that can happen to a withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The gate allowed it; it now waits for the emailed confirmation.
    AskConfirmation,
    /// The emailed link was used (or no confirmation is needed) and the gate allowed it outright.
    Confirmed,
    /// The gate put it on hold (risk reasons, a cooling period).
    Hold,
    /// A hold ran out or support released it.
    Release,
    /// A wallet worker claimed it.
    Claim,
    /// The wallet broadcast it (a TxID exists).
    Broadcast,
    /// Enough confirmations on chain.
    ConfirmOnChain,
    /// The holder, support or a freeze cancelled it.
    Cancel,
    /// The wallet stopped it while processing (interception succeeded).
    Intercepted,
    /// Support or a policy refused it.
    Reject,
    /// The wallet could not send it.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a withdrawal that is {from:?} cannot take {event:?}")]
pub struct IllegalTransition {
    pub from: WithdrawalState,
    pub event: Event,
}

impl WithdrawalState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::AwaitingConfirmation => "awaiting_confirmation",
            Self::Held => "held",
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Broadcast => "broadcast",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }

    pub const ALL: [WithdrawalState; 10] = [
        Self::Requested,
        Self::AwaitingConfirmation,
        Self::Held,
        Self::Queued,
        Self::Processing,
        Self::Broadcast,
        Self::Confirmed,
        Self::Cancelled,
        Self::Rejected,
        Self::Failed,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Not yet handed to the wallet: the holder (or a freeze) can cancel at once.
    pub fn cancellable(self) -> bool {
        matches!(self, Self::Requested | Self::AwaitingConfirmation | Self::Held | Self::Queued)
    }

    /// With the wallet but not on chain: the wallet can be asked to stop it.
    pub fn interceptable(self) -> bool {
        self == Self::Processing
    }

    /// No further change is possible.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Confirmed | Self::Cancelled | Self::Rejected | Self::Failed)
    }

    /// Funds are reserved (locked) in this state and return to the balance if it ends unsent.
    pub fn reserves_funds(self) -> bool {
        !matches!(self, Self::Cancelled | Self::Rejected | Self::Failed | Self::Confirmed | Self::Broadcast)
    }

    pub fn apply(self, event: Event) -> Result<WithdrawalState, IllegalTransition> {
        use Event::*;
        use WithdrawalState as S;
        let next = match (self, event) {
            (S::Requested, AskConfirmation) => S::AwaitingConfirmation,
            (S::Requested | S::AwaitingConfirmation, Confirmed) => S::Queued,
            (S::Requested | S::AwaitingConfirmation, Hold) => S::Held,
            (S::Held, Release) => S::Queued,
            (S::Queued, Claim) => S::Processing,
            (S::Processing, Broadcast) => S::Broadcast,
            (S::Processing, Intercepted) => S::Cancelled,
            (S::Processing, Fail) => S::Failed,
            (S::Broadcast, ConfirmOnChain) => S::Confirmed,
            (s, Cancel) if s.cancellable() => S::Cancelled,
            (s, Reject) if s.cancellable() => S::Rejected,
            (from, event) => return Err(IllegalTransition { from, event }),
        };
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::Event::*;
    use super::WithdrawalState as S;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_happy_path_reaches_confirmed() {
        let mut s = S::Requested;
        for e in [AskConfirmation, Confirmed, Claim, Broadcast, ConfirmOnChain] {
            s = s.apply(e).unwrap();
        }
        assert_eq!(s, S::Confirmed);
    }

    #[test]
    fn cancellation_works_until_the_wallet_has_it_and_interception_only_while_it_does() {
        for s in [S::Requested, S::AwaitingConfirmation, S::Held, S::Queued] {
            assert_eq!(s.apply(Cancel), Ok(S::Cancelled), "{s:?}");
        }
        for s in [S::Processing, S::Broadcast, S::Confirmed, S::Failed] {
            assert!(s.apply(Cancel).is_err(), "{s:?}");
        }
        assert_eq!(S::Processing.apply(Intercepted), Ok(S::Cancelled));
        assert!(S::Broadcast.apply(Intercepted).is_err(), "on chain is final");
    }

    #[test]
    fn a_hold_cannot_be_skipped() {
        assert!(S::Held.apply(Claim).is_err());
        assert!(S::Held.apply(Broadcast).is_err());
        assert_eq!(S::Held.apply(Release), Ok(S::Queued));
    }

    fn event() -> impl Strategy<Value = Event> {
        prop::sample::select(vec![
            AskConfirmation,
            Confirmed,
            Hold,
            Release,
            Claim,
            Broadcast,
            ConfirmOnChain,
            Cancel,
            Intercepted,
            Reject,
            Fail,
        ])
    }

    proptest! {
        /// No sequence of events reaches the wallet (`processing`) without passing `queued`, i.e.
        /// without the gate's confirmation or a released hold; and final states stay final.
        #[test]
        fn no_path_reaches_the_wallet_without_passing_the_gate(events in prop::collection::vec(event(), 0..20)) {
            let mut s = S::Requested;
            let mut passed_queued = false;
            for e in events {
                let before = s;
                if let Ok(next) = s.apply(e) {
                    s = next;
                }
                if before.is_final() {
                    prop_assert_eq!(s, before);
                }
                passed_queued |= s == S::Queued;
                if matches!(s, S::Processing | S::Broadcast | S::Confirmed) {
                    prop_assert!(passed_queued);
                }
            }
        }
    }
}
