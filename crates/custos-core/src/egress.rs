//! The egress gate (DESIGN principle 2): one pure decision for every way value can leave an
//! account — on-chain withdrawal, internal transfer, API withdrawal. It answers allow, hold (with
//! an end time) or deny, always with every reason that applies.

use std::time::Duration;

use crate::login::AccountStatus;
use crate::money::Amount;
use crate::session::Aal;
use crate::{Reason, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outflow {
    Withdrawal,
    Transfer,
}

/// Who is asking: a session, or a signed API-key request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session {
        aal: Aal,
        stepped_up_at: Option<Timestamp>,
        /// When the session's device was first seen on this account.
        device_first_seen_at: Timestamp,
        /// The sign-in that opened the session carried high-risk signals ([`crate::risk::is_high_risk`]).
        risky_login: bool,
        /// This request came from another country or a listed network than the session's sign-in
        /// ([`crate::risk::session_moved`]).
        session_moved: bool,
    },
    ApiKey {
        /// The key carries the `withdraw` (or `transfer`) scope this outflow needs.
        has_scope: bool,
        /// The request came from an address on the key's IP allowlist (money scopes require one).
        ip_allowed: bool,
    },
}

/// The allowlist's say about the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowlist {
    Off,
    /// On, and the address is listed and usable.
    Listed,
    /// On, and the address is listed but still cooling down.
    Cooling {
        until: Timestamp,
    },
    /// On, and the address is not listed.
    NotListed,
}

#[derive(Debug, Clone)]
pub struct Facts {
    pub status: AccountStatus,
    pub withdrawal_lock_until: Option<Timestamp>,
    pub allowlist: Allowlist,
    pub available: Amount,
    /// Outflows of this asset in the last 24 hours (not counting this one).
    pub sent_last_24h: Amount,
    pub limit_24h: Amount,
    pub min_amount: Amount,
    /// This account has sent to this destination before (successfully or still pending).
    pub destination_used_before: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub outflow: Outflow,
    pub amount: Amount,
    pub fee: Amount,
    pub via: Via,
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Step-up must be this recent for a session to move money.
    pub step_up_window: Duration,
    /// How long a risk hold lasts.
    pub hold_for: Duration,
    /// A session on a device first seen less than this long ago is held.
    pub new_device_age: Duration,
    /// Amounts at or above this are held.
    pub large_amount: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Hold { until: Timestamp, reasons: Vec<Reason> },
    Deny { reasons: Vec<Reason> },
}

/// The caller-side reasons an outflow is refused whatever its amount and destination: the
/// account's status, a withdrawal lock, and the caller's standing (a session's recent aal2
/// step-up; an API key's scope and address). Shared by [`decide`] and [`authorize`].
pub fn caller_reasons(
    status: AccountStatus,
    withdrawal_lock_until: Option<Timestamp>,
    via: Via,
    step_up_window: Duration,
    now: Timestamp,
) -> Vec<Reason> {
    let mut deny = account_reasons(status);
    if let Some(until) = withdrawal_lock_until.filter(|u| *u > now) {
        deny.push(
            Reason::new("withdrawal-locked", "Withdrawals are paused after a recent security change.")
                .until(until),
        );
    }
    match via {
        Via::Session { aal, stepped_up_at, .. } => {
            let recent = stepped_up_at.is_some_and(|t| t <= now && now < t.plus(step_up_window));
            if aal != Aal::Aal2 {
                deny.push(Reason::new(
                    "second-factor-required",
                    "Moving money needs a second factor on the account.",
                ));
            } else if !recent {
                deny.push(Reason::new("step-up-required", "Confirm with your second factor first."));
            }
        }
        Via::ApiKey { has_scope, ip_allowed } => deny.extend(api_key_reasons(has_scope, ip_allowed)),
    }
    deny
}

fn account_reasons(status: AccountStatus) -> Vec<Reason> {
    match status {
        AccountStatus::Active => Vec::new(),
        AccountStatus::Frozen => {
            vec![Reason::new("account-frozen", "The account is frozen: nothing can leave it.")]
        }
        _ => vec![Reason::new("account-inactive", "The account is not active.")],
    }
}

fn api_key_reasons(has_scope: bool, ip_allowed: bool) -> Vec<Reason> {
    let mut deny = Vec::new();
    if !has_scope {
        deny.push(Reason::new("api-key-scope-missing", "This API key lacks the scope this needs."));
    }
    if !ip_allowed {
        deny.push(Reason::new(
            "api-key-ip-not-allowed",
            "This request did not come from the key's allowed addresses.",
        ));
    }
    deny
}

/// What the exchange's order gateway asks about (`POST /api/v1/integration/authorize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Trade,
    Withdraw,
    Transfer,
}

impl Action {
    pub fn moves_money(self) -> bool {
        matches!(self, Self::Withdraw | Self::Transfer)
    }
}

/// May this caller do `action` now? Reading and trading need an active account (and an API key's
/// scope and address); moving money needs everything [`caller_reasons`] checks. Amount,
/// destination and balance are judged by [`decide`] when the outflow itself is requested.
pub fn authorize(
    action: Action,
    status: AccountStatus,
    withdrawal_lock_until: Option<Timestamp>,
    via: Via,
    step_up_window: Duration,
    now: Timestamp,
) -> Result<(), Vec<Reason>> {
    let deny = if action.moves_money() {
        caller_reasons(status, withdrawal_lock_until, via, step_up_window, now)
    } else {
        let mut deny = account_reasons(status);
        if let Via::ApiKey { has_scope, ip_allowed } = via {
            deny.extend(api_key_reasons(has_scope, ip_allowed));
        }
        deny
    };
    if deny.is_empty() { Ok(()) } else { Err(deny) }
}

/// What the allowlist's fact says against a destination at `now` (nothing when it allows it).
pub fn allowlist_reasons(fact: Allowlist, now: Timestamp) -> Vec<Reason> {
    match fact {
        Allowlist::Off | Allowlist::Listed => Vec::new(),
        Allowlist::NotListed => vec![Reason::new(
            "address-not-allowlisted",
            "The withdrawal allowlist is on and this address is not on it.",
        )],
        Allowlist::Cooling { until } if until > now => vec![
            Reason::new(
                "allowlist-entry-cooling",
                "This allowlisted address is still in its cooling period.",
            )
            .until(until),
        ],
        Allowlist::Cooling { .. } => Vec::new(),
    }
}

pub fn decide(req: &Request, f: &Facts, policy: &Policy, now: Timestamp) -> Decision {
    let mut deny = caller_reasons(f.status, f.withdrawal_lock_until, req.via, policy.step_up_window, now);
    deny.extend(allowlist_reasons(f.allowlist, now));
    if req.amount < f.min_amount || req.amount.is_zero() {
        deny.push(Reason::new("amount-below-minimum", "The amount is below this network's minimum."));
    }
    match req.amount.checked_add(req.fee) {
        Some(total) if total <= f.available => {}
        _ => deny.push(Reason::new(
            "insufficient-balance",
            "The available balance does not cover the amount and fee.",
        )),
    }
    match f.sent_last_24h.checked_add(req.amount) {
        Some(total) if total <= f.limit_24h => {}
        _ => {
            deny.push(Reason::new("daily-limit-exceeded", "This would exceed the 24-hour withdrawal limit."))
        }
    }
    if !deny.is_empty() {
        return Decision::Deny { reasons: deny };
    }

    let mut hold = Vec::new();
    if req.outflow == Outflow::Withdrawal && !f.destination_used_before {
        hold.push(Reason::new("first-use-of-address", "First withdrawal to this address."));
    }
    if let Via::Session { device_first_seen_at, .. } = req.via
        && now < device_first_seen_at.plus(policy.new_device_age)
    {
        hold.push(Reason::new("new-device", "Requested from a device first seen less than 24 hours ago."));
    }
    if let Via::Session { session_moved: true, .. } = req.via {
        hold.push(Reason::new(
            "session-moved",
            "This session signed in from one place and now asks from another country or a VPN, hosting or Tor \
             network: a stolen session is used like this.",
        ));
    }
    if let Via::Session { risky_login: true, .. } = req.via {
        hold.push(Reason::new(
            "risky-login",
            "The sign-in that opened this session looked risky: travel nobody can make, or a new device \
             behind a VPN, hosting or Tor network.",
        ));
    }
    if req.amount >= policy.large_amount {
        hold.push(Reason::new("large-amount", "A large amount is held for review time."));
    }
    if hold.is_empty() {
        Decision::Allow
    } else {
        let until = now.plus(policy.hold_for);
        Decision::Hold { until, reasons: hold.into_iter().map(|r| r.until(until)).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: u64 = 3_600;

    fn at(h: i64) -> Timestamp {
        Timestamp::from_micros(1_800_000_000_000_000 + h * 3_600_000_000)
    }

    fn policy() -> Policy {
        Policy {
            step_up_window: Duration::from_secs(600),
            hold_for: Duration::from_secs(24 * H),
            new_device_age: Duration::from_secs(24 * H),
            large_amount: Amount::from_atomic(1_000_000),
        }
    }

    fn facts() -> Facts {
        Facts {
            status: AccountStatus::Active,
            withdrawal_lock_until: None,
            allowlist: Allowlist::Off,
            available: Amount::from_atomic(10_000_000),
            sent_last_24h: Amount::ZERO,
            limit_24h: Amount::from_atomic(5_000_000),
            min_amount: Amount::from_atomic(100),
            destination_used_before: true,
        }
    }

    fn session() -> Via {
        Via::Session {
            aal: Aal::Aal2,
            stepped_up_at: Some(at(100)),
            device_first_seen_at: at(0),
            risky_login: false,
            session_moved: false,
        }
    }

    fn req(amount: u128) -> Request {
        Request {
            outflow: Outflow::Withdrawal,
            amount: Amount::from_atomic(amount),
            fee: Amount::from_atomic(10),
            via: session(),
        }
    }

    fn codes(d: &Decision) -> Vec<&'static str> {
        match d {
            Decision::Allow => vec![],
            Decision::Hold { reasons, .. } | Decision::Deny { reasons } => {
                reasons.iter().map(|r| r.code.0).collect()
            }
        }
    }

    #[test]
    fn authorize_lets_a_frozen_account_do_nothing_and_needs_step_up_only_for_money() {
        let plain = Via::Session {
            aal: Aal::Aal1,
            stepped_up_at: None,
            device_first_seen_at: at(0),
            risky_login: false,
            session_moved: false,
        };
        let w = Duration::from_secs(600);
        assert_eq!(authorize(Action::Trade, AccountStatus::Active, None, plain, w, at(1)), Ok(()));
        assert_eq!(authorize(Action::Read, AccountStatus::Active, Some(at(5)), plain, w, at(1)), Ok(()));
        let money =
            authorize(Action::Withdraw, AccountStatus::Active, Some(at(5)), plain, w, at(1)).unwrap_err();
        let codes: Vec<_> = money.iter().map(|r| r.code.0).collect();
        assert_eq!(codes, ["withdrawal-locked", "second-factor-required"]);
        for action in [Action::Read, Action::Trade, Action::Withdraw, Action::Transfer] {
            let r = authorize(action, AccountStatus::Frozen, None, session(), w, at(100)).unwrap_err();
            assert_eq!(r[0].code.0, "account-frozen", "{action:?}");
        }
        let key = Via::ApiKey { has_scope: false, ip_allowed: true };
        let r = authorize(Action::Trade, AccountStatus::Active, None, key, w, at(1)).unwrap_err();
        assert_eq!(r.iter().map(|r| r.code.0).collect::<Vec<_>>(), ["api-key-scope-missing"]);
    }

    #[test]
    fn a_stepped_up_session_to_a_known_address_is_allowed() {
        assert_eq!(decide(&req(1_000), &facts(), &policy(), at(100)), Decision::Allow);
    }

    #[test]
    fn every_deny_reason_is_listed_at_once() {
        let f = Facts {
            status: AccountStatus::Frozen,
            withdrawal_lock_until: Some(at(148)),
            allowlist: Allowlist::NotListed,
            available: Amount::from_atomic(5),
            ..facts()
        };
        let r = Request {
            via: Via::Session {
                aal: Aal::Aal1,
                stepped_up_at: None,
                device_first_seen_at: at(0),
                risky_login: false,
                session_moved: false,
            },
            ..req(50)
        };
        let d = decide(&r, &f, &policy(), at(100));
        assert_eq!(
            codes(&d),
            [
                "account-frozen",
                "withdrawal-locked",
                "second-factor-required",
                "address-not-allowlisted",
                "amount-below-minimum",
                "insufficient-balance"
            ]
        );
    }

    #[test]
    fn api_keys_need_the_scope_and_an_allowed_address() {
        let r = Request { via: Via::ApiKey { has_scope: false, ip_allowed: false }, ..req(1_000) };
        assert_eq!(
            codes(&decide(&r, &facts(), &policy(), at(100))),
            ["api-key-scope-missing", "api-key-ip-not-allowed"]
        );
        let ok = Request { via: Via::ApiKey { has_scope: true, ip_allowed: true }, ..req(1_000) };
        assert_eq!(decide(&ok, &facts(), &policy(), at(100)), Decision::Allow);
    }

    #[test]
    fn a_lapsed_step_up_or_a_cooling_entry_denies() {
        assert_eq!(codes(&decide(&req(1_000), &facts(), &policy(), at(101))), ["step-up-required"]);
        let f = Facts { allowlist: Allowlist::Cooling { until: at(110) }, ..facts() };
        assert_eq!(codes(&decide(&req(1_000), &f, &policy(), at(100))), ["allowlist-entry-cooling"]);
        let cooled = Facts { allowlist: Allowlist::Cooling { until: at(99) }, ..facts() };
        assert_eq!(decide(&req(1_000), &cooled, &policy(), at(100)), Decision::Allow);
    }

    #[test]
    fn risk_signals_hold_instead_of_deny() {
        let f = Facts { destination_used_before: false, ..facts() };
        let r = Request {
            via: Via::Session {
                aal: Aal::Aal2,
                stepped_up_at: Some(at(100)),
                device_first_seen_at: at(90),
                risky_login: false,
                session_moved: false,
            },
            ..req(2_000_000)
        };
        match decide(&r, &f, &policy(), at(100)) {
            Decision::Hold { until, reasons } => {
                assert_eq!(until, at(124));
                assert_eq!(
                    reasons.iter().map(|r| r.code.0).collect::<Vec<_>>(),
                    ["first-use-of-address", "new-device", "large-amount"]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_session_from_a_risky_login_is_held_with_its_reason_and_never_allowed_outright() {
        let risky = Via::Session {
            aal: Aal::Aal2,
            stepped_up_at: Some(at(100)),
            device_first_seen_at: at(0),
            risky_login: true,
            session_moved: false,
        };
        match decide(&Request { via: risky, ..req(1_000) }, &facts(), &policy(), at(100)) {
            Decision::Hold { reasons, .. } => {
                assert_eq!(reasons.iter().map(|r| r.code.0).collect::<Vec<_>>(), ["risky-login"])
            }
            other => panic!("{other:?}"),
        }
        // Signals only tighten: a risky login never turns a deny into a hold.
        let f = Facts { status: AccountStatus::Frozen, ..facts() };
        assert!(matches!(
            decide(&Request { via: risky, ..req(1_000) }, &f, &policy(), at(100)),
            Decision::Deny { .. }
        ));
    }

    #[test]
    fn a_session_used_from_elsewhere_is_held_as_moved() {
        let moved = Via::Session {
            aal: Aal::Aal2,
            stepped_up_at: Some(at(100)),
            device_first_seen_at: at(0),
            risky_login: false,
            session_moved: true,
        };
        assert_eq!(
            codes(&decide(&Request { via: moved, ..req(1_000) }, &facts(), &policy(), at(100))),
            ["session-moved"]
        );
    }

    #[test]
    fn the_daily_limit_counts_what_already_left() {
        let f = Facts { sent_last_24h: Amount::from_atomic(4_999_500), ..facts() };
        assert_eq!(codes(&decide(&req(1_000), &f, &policy(), at(100))), ["daily-limit-exceeded"]);
    }

    proptest! {
        /// A frozen account, an active lock or a missing second factor always denies, whatever else holds.
        #[test]
        fn nothing_leaves_a_frozen_or_locked_account(amount in 0u128..u128::MAX / 4, available in 0u128..u128::MAX / 4,
                                                     frozen in any::<bool>(), locked in any::<bool>()) {
            prop_assume!(frozen || locked);
            let f = Facts {
                status: if frozen { AccountStatus::Frozen } else { AccountStatus::Active },
                withdrawal_lock_until: locked.then(|| at(200)),
                available: Amount::from_atomic(available),
                limit_24h: Amount::from_atomic(u128::MAX / 2),
                ..facts()
            };
            let denied = matches!(decide(&req(amount), &f, &policy(), at(100)), Decision::Deny { .. });
            prop_assert!(denied);
        }

        /// An allowed outflow never exceeds the available balance.
        #[test]
        fn an_allowed_outflow_is_always_covered(amount in 0u128..20_000_000, available in 0u128..20_000_000) {
            let f = Facts { available: Amount::from_atomic(available), limit_24h: Amount::from_atomic(u128::MAX), ..facts() };
            if let Decision::Allow | Decision::Hold { .. } = decide(&req(amount), &f, &policy(), at(100)) {
                prop_assert!(amount + 10 <= available);
            }
        }
    }
}
