//! The kill switch, decided: what freezing an account does to everything that could act for it or
//! move value out of it (DESIGN "Contain", principle 1 "tighten freely").
//!
//! Given the account as it stands under its row lock, [`plan`] says: status `frozen`, a new
//! security stamp, every live session revoked, every live API key revoked (not suspended: a key
//! that survived a freeze would be a credential issued before it), every withdrawal that has not
//! reached the wallet cancelled, every one the wallet is processing asked to be intercepted, every
//! transfer that has not settled cancelled — and what is already on chain named as beyond reach.
//! The [`FreezeReceipt`] records what was done; freezing a frozen account answers its first
//! receipt again and changes nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::api_key::ApiKeyId;
use crate::ids::{SessionId, TransferId, WithdrawalId};
use crate::login::AccountStatus;
use crate::transfer::TransferState;
use crate::withdrawal::WithdrawalState;

/// Broadcast and confirmed withdrawals this recent are listed on the receipt as beyond reach, so
/// the holder sees at once what already left (and its TxID) without reading the whole history.
pub const BEYOND_REACH_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where a freeze came from. Every channel only tightens, so none needs a fresh proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreezeChannel {
    /// The "Freeze account" button or `POST /api/v1/security/freeze`, from a live session.
    SecurityCenter,
    /// The "Not you? Disable account" link in a security email.
    EmailLink,
    /// The offline panic code, on the public freeze page or API.
    PanicCode,
    /// An operator at the command line (`custos freeze`).
    Support,
    /// An automatic policy inside custos.
    Policy,
}

impl FreezeChannel {
    pub const ALL: [FreezeChannel; 5] =
        [Self::SecurityCenter, Self::EmailLink, Self::PanicCode, Self::Support, Self::Policy];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecurityCenter => "security_center",
            Self::EmailLink => "email_link",
            Self::PanicCode => "panic_code",
            Self::Support => "support",
            Self::Policy => "policy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A session that has not been revoked (expired ones are revoked too: revoking is harmless and the
/// receipt then lists every token that existed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFact {
    pub id: SessionId,
    pub ip: Option<String>,
    pub user_agent: String,
    pub created_at: Timestamp,
}

/// An API key that has not been revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyFact {
    pub id: ApiKeyId,
    pub label: String,
    pub scopes: Vec<String>,
}

/// A withdrawal of the account, amounts already formatted for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalFact {
    pub id: WithdrawalId,
    pub state: WithdrawalState,
    pub asset: String,
    pub network: String,
    pub amount: String,
    pub address: String,
    pub txid: Option<String>,
    pub broadcast_at: Option<Timestamp>,
}

/// A transfer sent by the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFact {
    pub id: TransferId,
    pub state: TransferState,
    pub asset: String,
    pub amount: String,
    pub to_uid: u64,
}

/// The account under its row lock: everything a freeze acts on.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub sessions: Vec<SessionFact>,
    pub api_keys: Vec<ApiKeyFact>,
    pub withdrawals: Vec<WithdrawalFact>,
    pub transfers: Vec<TransferFact>,
}

/// What the freeze will do, by id. Applying it is the store's job (set-based statements); the
/// use case checks the store touched exactly these rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FreezePlan {
    pub revoke_sessions: Vec<SessionId>,
    pub revoke_api_keys: Vec<ApiKeyId>,
    /// Not yet with the wallet: cancelled at once, funds back to the available balance.
    pub cancel_withdrawals: Vec<WithdrawalId>,
    /// With the wallet (`processing`): the wallet is asked to stop them.
    pub intercept_withdrawals: Vec<WithdrawalId>,
    pub cancel_transfers: Vec<TransferId>,
}

/// The freeze's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Frozen already: answer the first receipt, change nothing.
    AlreadyFrozen(Box<FreezeReceipt>),
    Freeze(FreezePlan),
}

/// Decides the freeze. `existing` is the receipt of the account's latest freeze, if any.
pub fn plan(status: AccountStatus, existing: Option<FreezeReceipt>, s: &Snapshot) -> Decision {
    match already_frozen(status, existing) {
        Some(r) => Decision::AlreadyFrozen(Box::new(r)),
        None => Decision::Freeze(plan_for(s)),
    }
}

/// The receipt a freeze answers without doing anything: the account is frozen and has one. A
/// frozen status without a receipt can only come from outside custos: that account is frozen
/// again, so it ends up with a receipt and nothing live.
pub fn already_frozen(status: AccountStatus, existing: Option<FreezeReceipt>) -> Option<FreezeReceipt> {
    existing.filter(|_| status == AccountStatus::Frozen)
}

/// What freezing an account holding `s` does: every session and key revoked, every withdrawal the
/// wallet has not got cancelled and every one it is processing asked back, every unsettled
/// transfer cancelled.
pub fn plan_for(s: &Snapshot) -> FreezePlan {
    let mut p = FreezePlan {
        revoke_sessions: s.sessions.iter().map(|x| x.id).collect(),
        revoke_api_keys: s.api_keys.iter().map(|k| k.id.clone()).collect(),
        ..FreezePlan::default()
    };
    for w in &s.withdrawals {
        if w.state.cancellable() {
            p.cancel_withdrawals.push(w.id);
        } else if w.state.interceptable() {
            p.intercept_withdrawals.push(w.id);
        }
    }
    p.cancel_transfers = s.transfers.iter().filter(|t| t.state.cancellable()).map(|t| t.id).collect();
    p.revoke_sessions.sort();
    p.revoke_api_keys.sort();
    p.cancel_withdrawals.sort();
    p.intercept_withdrawals.sort();
    p.cancel_transfers.sort();
    p
}

/// The wallet's answer to an interception request, as the receipt records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interception {
    pub withdrawal: WithdrawalId,
    pub stopped: bool,
    /// In words: `intercepted`, `too late: already broadcast as …`, `wallet unreachable: …`.
    pub outcome: String,
    /// Known when the wallet says it was already broadcast.
    pub txid: Option<String>,
}

// The receipt's lines declare their fields in key order: the audit chain's canonical encoding
// (`sorted_json`) then writes each line as it comes instead of sorting it — 50 sessions and 20
// withdrawals are the bulk of a freeze's one `AccountFrozen` record.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedSession {
    pub created_at: Timestamp,
    pub id: String,
    pub ip: Option<String>,
    pub user_agent: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedApiKey {
    pub id: String,
    pub label: String,
    pub scopes: Vec<String>,
}

/// One withdrawal on the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalLine {
    pub address: String,
    pub amount: String,
    pub asset: String,
    pub id: String,
    pub network: String,
    /// For interception requests: the wallet's answer in words.
    pub outcome: Option<String>,
    /// Its state when the freeze found it.
    pub state: String,
    pub txid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLine {
    pub amount: String,
    pub asset: String,
    pub id: String,
    pub to_uid: u64,
}

/// What a freeze did, for the holder, support and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeReceipt {
    pub uid: u64,
    pub frozen_at: Timestamp,
    pub channel: FreezeChannel,
    pub reason: String,
    pub sessions_revoked: Vec<RevokedSession>,
    pub api_keys_revoked: Vec<RevokedApiKey>,
    /// Cancelled before the wallet had them; the funds are back in the available balance.
    pub withdrawals_cancelled: Vec<WithdrawalLine>,
    /// The wallet stopped them while processing; the funds are back too.
    pub withdrawals_intercepted: Vec<WithdrawalLine>,
    /// The wallet had them and could not (or could not be asked to) stop them.
    pub withdrawals_not_stopped: Vec<WithdrawalLine>,
    /// Already on chain (recently broadcast or confirmed): final, listed with their TxIDs.
    pub withdrawals_beyond_reach: Vec<WithdrawalLine>,
    pub transfers_cancelled: Vec<TransferLine>,
}

impl FreezeReceipt {
    /// Whether anything might still leave: a withdrawal the wallet did not stop.
    pub fn anything_in_flight(&self) -> bool {
        !self.withdrawals_not_stopped.is_empty()
    }
}

/// Who, when, why: the receipt's header.
#[derive(Debug, Clone)]
pub struct ReceiptHeader {
    pub uid: u64,
    pub frozen_at: Timestamp,
    pub channel: FreezeChannel,
    pub reason: String,
}

fn line(w: &WithdrawalFact, outcome: Option<String>, txid: Option<String>) -> WithdrawalLine {
    WithdrawalLine {
        id: w.id.to_string(),
        state: w.state.as_str().to_owned(),
        asset: w.asset.clone(),
        network: w.network.clone(),
        amount: w.amount.clone(),
        address: w.address.clone(),
        txid: txid.or_else(|| w.txid.clone()),
        outcome,
    }
}

/// The receipt of an applied plan. `interceptions` answers each of `plan.intercept_withdrawals`
/// (one missing is recorded as not stopped, with no answer).
pub fn receipt(
    header: ReceiptHeader,
    snapshot: &Snapshot,
    plan: &FreezePlan,
    interceptions: &[Interception],
) -> FreezeReceipt {
    let lookback_start = header.frozen_at.minus(BEYOND_REACH_LOOKBACK);
    let mut r = FreezeReceipt {
        uid: header.uid,
        frozen_at: header.frozen_at,
        channel: header.channel,
        reason: header.reason,
        sessions_revoked: snapshot
            .sessions
            .iter()
            .filter(|s| plan.revoke_sessions.contains(&s.id))
            .map(|s| RevokedSession {
                id: s.id.to_string(),
                ip: s.ip.clone(),
                user_agent: s.user_agent.clone(),
                created_at: s.created_at,
            })
            .collect(),
        api_keys_revoked: snapshot
            .api_keys
            .iter()
            .filter(|k| plan.revoke_api_keys.contains(&k.id))
            .map(|k| RevokedApiKey { id: k.id.to_string(), label: k.label.clone(), scopes: k.scopes.clone() })
            .collect(),
        withdrawals_cancelled: Vec::new(),
        withdrawals_intercepted: Vec::new(),
        withdrawals_not_stopped: Vec::new(),
        withdrawals_beyond_reach: Vec::new(),
        transfers_cancelled: snapshot
            .transfers
            .iter()
            .filter(|t| plan.cancel_transfers.contains(&t.id))
            .map(|t| TransferLine {
                id: t.id.to_string(),
                asset: t.asset.clone(),
                amount: t.amount.clone(),
                to_uid: t.to_uid,
            })
            .collect(),
    };
    for w in &snapshot.withdrawals {
        if plan.cancel_withdrawals.contains(&w.id) {
            r.withdrawals_cancelled.push(line(w, None, None));
        } else if plan.intercept_withdrawals.contains(&w.id) {
            match interceptions.iter().find(|i| i.withdrawal == w.id) {
                Some(i) if i.stopped => {
                    r.withdrawals_intercepted.push(line(w, Some(i.outcome.clone()), None))
                }
                Some(i) => r.withdrawals_not_stopped.push(line(w, Some(i.outcome.clone()), i.txid.clone())),
                None => r.withdrawals_not_stopped.push(line(w, Some("not asked".into()), None)),
            }
        } else if matches!(w.state, WithdrawalState::Broadcast | WithdrawalState::Confirmed)
            && w.broadcast_at.is_none_or(|t| t >= lookback_start)
        {
            r.withdrawals_beyond_reach.push(line(w, None, None));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000_000_000;

    #[test]
    fn the_receipts_lines_are_declared_in_key_order() {
        // As declared (`serde_json`) equals as the audit chain encodes it (sorted keys): the
        // canonical encoding writes them straight through.
        fn declared_sorted<T: Serialize>(x: &T) {
            assert_eq!(serde_json::to_vec(x).unwrap(), crate::sorted_json::to_vec(x).unwrap());
        }
        let s = "x".to_owned();
        declared_sorted(&RevokedSession {
            created_at: Timestamp::from_micros(NOW),
            id: s.clone(),
            ip: Some(s.clone()),
            user_agent: s.clone(),
        });
        declared_sorted(&RevokedApiKey { id: s.clone(), label: s.clone(), scopes: vec![s.clone()] });
        declared_sorted(&WithdrawalLine {
            address: s.clone(),
            amount: s.clone(),
            asset: s.clone(),
            id: s.clone(),
            network: s.clone(),
            outcome: None,
            state: s.clone(),
            txid: Some(s.clone()),
        });
        declared_sorted(&TransferLine { amount: s.clone(), asset: s.clone(), id: s, to_uid: 1 });
    }

    fn withdrawal(state: WithdrawalState, broadcast_at: Option<i64>) -> WithdrawalFact {
        WithdrawalFact {
            id: WithdrawalId::new(),
            state,
            asset: "BTC".into(),
            network: "BTC".into(),
            amount: "0.1".into(),
            address: "bc1q…".into(),
            txid: broadcast_at.map(|_| "ab".repeat(32)),
            broadcast_at: broadcast_at.map(Timestamp::from_micros),
        }
    }

    fn header() -> ReceiptHeader {
        ReceiptHeader {
            uid: 42,
            frozen_at: Timestamp::from_micros(NOW),
            channel: FreezeChannel::EmailLink,
            reason: "not me".into(),
        }
    }

    fn snapshot(states: &[WithdrawalState]) -> Snapshot {
        Snapshot {
            sessions: (0..3)
                .map(|i| SessionFact {
                    id: SessionId::new(),
                    ip: Some(format!("203.0.113.{i}")),
                    user_agent: "curl".into(),
                    created_at: Timestamp::from_micros(NOW - 1),
                })
                .collect(),
            api_keys: vec![ApiKeyFact {
                id: ApiKeyId::generate(),
                label: "bot".into(),
                scopes: vec!["withdraw".into()],
            }],
            withdrawals: states.iter().map(|s| withdrawal(*s, s.is_final().then_some(NOW - 1))).collect(),
            transfers: [TransferState::Requested, TransferState::Held, TransferState::Settled]
                .into_iter()
                .map(|state| TransferFact {
                    id: TransferId::new(),
                    state,
                    asset: "BTC".into(),
                    amount: "1".into(),
                    to_uid: 7,
                })
                .collect(),
        }
    }

    #[test]
    fn a_freeze_revokes_everything_and_sorts_withdrawals_by_what_can_still_be_stopped() {
        use WithdrawalState as S;
        let s = snapshot(&[S::AwaitingConfirmation, S::Held, S::Queued, S::Processing, S::Confirmed]);
        let Decision::Freeze(p) = plan(AccountStatus::Active, None, &s) else { panic!("must freeze") };
        assert_eq!(p.revoke_sessions.len(), 3);
        assert_eq!(p.revoke_api_keys.len(), 1);
        assert_eq!(p.cancel_withdrawals.len(), 3);
        assert_eq!(p.intercept_withdrawals, vec![s.withdrawals[3].id]);
        assert_eq!(p.cancel_transfers.len(), 2, "the settled transfer is in another account already");

        let told = Interception {
            withdrawal: s.withdrawals[3].id,
            stopped: false,
            outcome: "too late".into(),
            txid: Some("cd".repeat(32)),
        };
        let r = receipt(header(), &s, &p, &[told]);
        assert_eq!(r.withdrawals_cancelled.len(), 3);
        assert_eq!(r.withdrawals_not_stopped[0].txid.as_deref(), Some("cd".repeat(32).as_str()));
        assert!(r.anything_in_flight());
        assert_eq!(r.withdrawals_beyond_reach.len(), 1);
        assert!(r.withdrawals_beyond_reach[0].txid.is_some(), "what left is listed with its TxID");
        assert_eq!(r.transfers_cancelled.len(), 2);
    }

    #[test]
    fn freezing_a_frozen_account_answers_the_first_receipt() {
        let s = snapshot(&[WithdrawalState::Queued]);
        let Decision::Freeze(p) = plan(AccountStatus::Active, None, &s) else { panic!() };
        let first = receipt(header(), &s, &p, &[]);
        match plan(AccountStatus::Frozen, Some(first.clone()), &s) {
            Decision::AlreadyFrozen(r) => assert_eq!(*r, first),
            other => panic!("{other:?}"),
        }
        // A recovering account that is frozen again gets a new freeze.
        assert!(matches!(plan(AccountStatus::Recovering, Some(first), &s), Decision::Freeze(_)));
    }

    #[test]
    fn old_withdrawals_on_chain_are_not_listed() {
        let old = NOW - i64::try_from(BEYOND_REACH_LOOKBACK.as_micros()).unwrap() - 1;
        let s = Snapshot {
            withdrawals: vec![withdrawal(WithdrawalState::Confirmed, Some(old))],
            ..Snapshot::default()
        };
        let Decision::Freeze(p) = plan(AccountStatus::Active, None, &s) else { panic!() };
        assert!(receipt(header(), &s, &p, &[]).withdrawals_beyond_reach.is_empty());
    }

    #[test]
    fn the_receipt_round_trips_through_json_and_channels_through_text() {
        let s = snapshot(&[WithdrawalState::Held]);
        let Decision::Freeze(p) = plan(AccountStatus::Active, None, &s) else { panic!() };
        let r = receipt(header(), &s, &p, &[]);
        let back: FreezeReceipt = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        for c in FreezeChannel::ALL {
            assert_eq!(FreezeChannel::parse(c.as_str()), Some(c));
        }
    }

    fn state() -> impl Strategy<Value = WithdrawalState> {
        prop::sample::select(WithdrawalState::ALL.to_vec())
    }

    proptest! {
        /// Whatever the account holds, the freeze leaves nothing that could still act or move
        /// value unaccounted for: every withdrawal not yet final or on chain is cancelled or put to
        /// the wallet, no final one is touched, and each appears on the receipt exactly once.
        #[test]
        fn nothing_escapes_the_plan(states in prop::collection::vec(state(), 0..30), stopped in any::<bool>()) {
            let s = snapshot(&states);
            let Decision::Freeze(p) = plan(AccountStatus::Active, None, &s) else { panic!() };
            prop_assert_eq!(p.revoke_sessions.len(), s.sessions.len());
            prop_assert_eq!(p.revoke_api_keys.len(), s.api_keys.len());
            for w in &s.withdrawals {
                let cancelled = p.cancel_withdrawals.contains(&w.id);
                let intercepted = p.intercept_withdrawals.contains(&w.id);
                prop_assert!(!(cancelled && intercepted));
                prop_assert_eq!(cancelled, w.state.cancellable());
                prop_assert_eq!(intercepted, w.state == WithdrawalState::Processing);
                if w.state.is_final() || w.state == WithdrawalState::Broadcast {
                    prop_assert!(!cancelled && !intercepted);
                }
            }
            let answers: Vec<Interception> = p.intercept_withdrawals.iter().map(|id| Interception {
                withdrawal: *id, stopped, outcome: "x".into(), txid: None,
            }).collect();
            let r = receipt(header(), &s, &p, &answers);
            let listed = r.withdrawals_cancelled.len() + r.withdrawals_intercepted.len()
                + r.withdrawals_not_stopped.len() + r.withdrawals_beyond_reach.len();
            let expected = s.withdrawals.iter().filter(|w| !matches!(w.state,
                WithdrawalState::Cancelled | WithdrawalState::Rejected | WithdrawalState::Failed)).count();
            prop_assert_eq!(listed, expected);
            prop_assert_eq!(r.anything_in_flight(), !stopped && !p.intercept_withdrawals.is_empty());
        }
    }
}
