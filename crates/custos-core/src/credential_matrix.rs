//! The credential-change matrix (DESIGN principle 4): what every security event does to sessions,
//! API keys, the security stamp, withdrawal locks and notifications — as one table, tested as a
//! spec. Use cases look their event up here and apply the effects; none re-decides them.
//!
//! The reasoning behind the rows:
//! - *Tightening* (adding a factor, regenerating recovery codes, setting an anti-phishing code)
//!   revokes nothing and locks nothing: it must never be made costly to get safer. It is still
//!   announced, because an attacker with a session could add *their* factor.
//! - *Loosening or replacing* a credential (password, factor removal or reset, new email or phone)
//!   ends every other session and rotates the stamp (killing emailed access links), and locks
//!   withdrawals: 24 h when the holder proved the old credential (change, factor off), 48 h when
//!   the change went around it (reset by email, 2FA reset, contact changes).
//! - A reset revokes API keys too: whoever reset the password may not be whoever created them.
//! - Contact changes notify the *previous* contact as well as the current one, so a hijacked
//!   email or phone cannot silently take the account.
//!
//! Not rows here: withdrawal allowlist changes (`allowlist.rs`). They are not credentials — they
//! grant no access and leave sessions, keys and the stamp alone — and their loosening carries its
//! own delay (an added address cools down for 24 h; turning the list off takes 48 h, cancellable).
//! A withdrawal lock on top would only block the addresses the owner already trusts.

use std::time::Duration;

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialEvent {
    PasswordChanged,
    PasswordReset,
    TotpEnabled,
    TotpDisabled,
    TotpReset,
    PasskeyAdded,
    PasskeyRemoved,
    SmsEnabled,
    SmsDisabled,
    EmailChanged,
    /// A first phone number was verified (nothing was replaced).
    PhoneVerified,
    PhoneChanged,
    AntiPhishingCodeChanged,
    RecoveryCodesRegenerated,
    /// An API key that can move money (withdraw or transfer scope) was created.
    MoneyApiKeyCreated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    Keep,
    /// End every session but the one that made the change (which gets a fresh token).
    RevokeOthers,
    /// End every session, the acting one too (the change was made without one, e.g. a reset).
    RevokeAll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    /// The contact the account has after the change.
    Current,
    /// The contact it had before (email or phone changes).
    Previous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effects {
    pub sessions: Sessions,
    pub revoke_api_keys: bool,
    pub rotate_stamp: bool,
    pub withdrawal_lock: Option<Duration>,
    pub notify: &'static [Contact],
}

const H24: Option<Duration> = Some(Duration::from_secs(24 * 3_600));
const H48: Option<Duration> = Some(Duration::from_secs(48 * 3_600));
const CURRENT: &[Contact] = &[Contact::Current];
const BOTH: &[Contact] = &[Contact::Current, Contact::Previous];

const fn announce() -> Effects {
    Effects {
        sessions: Sessions::Keep,
        revoke_api_keys: false,
        rotate_stamp: false,
        withdrawal_lock: None,
        notify: CURRENT,
    }
}

const fn loosen(lock: Option<Duration>, notify: &'static [Contact]) -> Effects {
    Effects {
        sessions: Sessions::RevokeOthers,
        revoke_api_keys: false,
        rotate_stamp: true,
        withdrawal_lock: lock,
        notify,
    }
}

/// The matrix.
pub fn effects(event: CredentialEvent) -> Effects {
    use CredentialEvent::*;
    match event {
        PasswordChanged => loosen(H24, CURRENT),
        PasswordReset => Effects {
            sessions: Sessions::RevokeAll,
            revoke_api_keys: true,
            rotate_stamp: true,
            withdrawal_lock: H48,
            notify: CURRENT,
        },
        TotpEnabled
        | PasskeyAdded
        | SmsEnabled
        | PhoneVerified
        | AntiPhishingCodeChanged
        | RecoveryCodesRegenerated
        | MoneyApiKeyCreated => announce(),
        TotpDisabled | PasskeyRemoved | SmsDisabled => loosen(H24, CURRENT),
        TotpReset => loosen(H48, CURRENT),
        EmailChanged | PhoneChanged => loosen(H48, BOTH),
    }
}

/// A lock only ever extends: the later of the current end and `now + duration`.
pub fn extend_lock(
    current: Option<Timestamp>,
    now: Timestamp,
    duration: Option<Duration>,
) -> Option<Timestamp> {
    match (current, duration.map(|d| now.plus(d))) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::CredentialEvent::*;
    use super::*;

    /// One row of the spec: (event, sessions, revoke API keys, rotate stamp, lock hours, notify previous).
    type Row = (CredentialEvent, Sessions, bool, bool, Option<u64>, bool);

    const SPEC: &[Row] = &[
        (PasswordChanged, Sessions::RevokeOthers, false, true, Some(24), false),
        (PasswordReset, Sessions::RevokeAll, true, true, Some(48), false),
        (TotpEnabled, Sessions::Keep, false, false, None, false),
        (TotpDisabled, Sessions::RevokeOthers, false, true, Some(24), false),
        (TotpReset, Sessions::RevokeOthers, false, true, Some(48), false),
        (PasskeyAdded, Sessions::Keep, false, false, None, false),
        (PasskeyRemoved, Sessions::RevokeOthers, false, true, Some(24), false),
        (SmsEnabled, Sessions::Keep, false, false, None, false),
        (SmsDisabled, Sessions::RevokeOthers, false, true, Some(24), false),
        (EmailChanged, Sessions::RevokeOthers, false, true, Some(48), true),
        (PhoneVerified, Sessions::Keep, false, false, None, false),
        (PhoneChanged, Sessions::RevokeOthers, false, true, Some(48), true),
        (AntiPhishingCodeChanged, Sessions::Keep, false, false, None, false),
        (RecoveryCodesRegenerated, Sessions::Keep, false, false, None, false),
        (MoneyApiKeyCreated, Sessions::Keep, false, false, None, false),
    ];

    #[test]
    fn every_event_does_what_the_spec_says() {
        for &(event, sessions, keys, stamp, lock_h, previous) in SPEC {
            let e = effects(event);
            assert_eq!(e.sessions, sessions, "{event:?} sessions");
            assert_eq!(e.revoke_api_keys, keys, "{event:?} api keys");
            assert_eq!(e.rotate_stamp, stamp, "{event:?} stamp");
            assert_eq!(e.withdrawal_lock, lock_h.map(|h| Duration::from_secs(h * 3_600)), "{event:?} lock");
            assert!(e.notify.contains(&Contact::Current), "{event:?} always tells the current contact");
            assert_eq!(e.notify.contains(&Contact::Previous), previous, "{event:?} previous contact");
        }
        assert_eq!(SPEC.len(), 15, "every event has a row");
    }

    #[test]
    fn whatever_ends_other_sessions_also_rotates_the_stamp() {
        for &(event, ..) in SPEC {
            let e = effects(event);
            assert_eq!(e.sessions != Sessions::Keep, e.rotate_stamp, "{event:?}");
        }
    }

    #[test]
    fn locks_only_extend() {
        let now = Timestamp::from_micros(0);
        let later = now.plus(Duration::from_secs(72 * 3_600));
        assert_eq!(extend_lock(Some(later), now, H24), Some(later), "a 24 h lock never shortens a 72 h one");
        assert_eq!(extend_lock(None, now, H48), Some(now.plus(Duration::from_secs(48 * 3_600))));
        assert_eq!(extend_lock(Some(now), now, H24), Some(now.plus(Duration::from_secs(24 * 3_600))));
        assert_eq!(extend_lock(Some(later), now, None), Some(later));
        assert_eq!(extend_lock(None, now, None), None);
    }
}
