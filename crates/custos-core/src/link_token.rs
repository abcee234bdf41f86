//! Capability links: one table for every emailed or shown link (DESIGN "Link tokens").
//!
//! The security stamp kills links that *grant access* (verify email, reset password, confirm a
//! withdrawal…). Links that only tighten (disable account) or only read and add to one case
//! survive it: an attacker who changes the password must not disarm the victim's old emails.

use std::time::Duration;

use crate::Timestamp;
use crate::crypto::ct_eq;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkPurpose {
    VerifyEmail,
    ResetPassword,
    ConfirmEmailChange,
    ConfirmWithdrawal,
    ConfirmAllowlistEntry,
    DisableAccount,
    CaseAccess,
}

impl LinkPurpose {
    pub const ALL: [LinkPurpose; 7] = [
        Self::VerifyEmail,
        Self::ResetPassword,
        Self::ConfirmEmailChange,
        Self::ConfirmWithdrawal,
        Self::ConfirmAllowlistEntry,
        Self::DisableAccount,
        Self::CaseAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::ConfirmEmailChange => "confirm_email_change",
            Self::ConfirmWithdrawal => "confirm_withdrawal",
            Self::ConfirmAllowlistEntry => "confirm_allowlist_entry",
            Self::DisableAccount => "disable_account",
            Self::CaseAccess => "case_access",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether rotating the security stamp invalidates the link.
    pub fn killed_by_stamp(self) -> bool {
        !matches!(self, Self::DisableAccount | Self::CaseAccess)
    }

    /// Whether the link is spent by its first use.
    pub fn single_use(self) -> bool {
        !matches!(self, Self::DisableAccount | Self::CaseAccess)
    }

    pub fn default_ttl(self) -> Duration {
        const MIN: u64 = 60;
        Duration::from_secs(match self {
            Self::VerifyEmail => 24 * 60 * MIN,
            Self::ResetPassword => 30 * MIN,
            Self::ConfirmEmailChange => 60 * MIN,
            Self::ConfirmWithdrawal => 10 * MIN,
            Self::ConfirmAllowlistEntry => 60 * MIN,
            Self::DisableAccount => 30 * 24 * 60 * MIN,
            Self::CaseAccess => 90 * 24 * 60 * MIN,
        })
    }
}

#[derive(Debug, Clone)]
pub struct LinkFacts<'a> {
    pub purpose: LinkPurpose,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub stamp_at_issue: &'a [u8],
    pub account_stamp: &'a [u8],
}

/// Why a link is refused. The user sees one message for all of them ("this link is no longer
/// valid"); the reason is for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    #[error("link is for another purpose")]
    WrongPurpose,
    #[error("link expired")]
    Expired,
    #[error("link already used")]
    AlreadyUsed,
    #[error("link was issued before a security change")]
    StampRotated,
}

pub fn check_link(facts: &LinkFacts<'_>, expected: LinkPurpose, now: Timestamp) -> Result<(), LinkRefusal> {
    if facts.purpose != expected {
        return Err(LinkRefusal::WrongPurpose);
    }
    if now >= facts.expires_at {
        return Err(LinkRefusal::Expired);
    }
    if facts.purpose.single_use() && facts.used_at.is_some() {
        return Err(LinkRefusal::AlreadyUsed);
    }
    if facts.purpose.killed_by_stamp() && !ct_eq(facts.stamp_at_issue, facts.account_stamp) {
        return Err(LinkRefusal::StampRotated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(purpose: LinkPurpose, account_stamp: &'static [u8]) -> LinkFacts<'static> {
        LinkFacts {
            purpose,
            expires_at: Timestamp::from_micros(100),
            used_at: None,
            stamp_at_issue: b"s1",
            account_stamp,
        }
    }

    #[test]
    fn freeze_only_and_case_links_survive_a_stamp_rotation_and_nothing_else_does() {
        for p in LinkPurpose::ALL {
            let r = check_link(&facts(p, b"s2"), p, Timestamp::from_micros(1));
            match p {
                LinkPurpose::DisableAccount | LinkPurpose::CaseAccess => assert_eq!(r, Ok(())),
                _ => assert_eq!(r, Err(LinkRefusal::StampRotated), "{p:?}"),
            }
        }
    }

    #[test]
    fn expired_used_and_misdirected_links_are_refused() {
        let f = facts(LinkPurpose::VerifyEmail, b"s1");
        assert_eq!(
            check_link(&f, LinkPurpose::VerifyEmail, Timestamp::from_micros(100)),
            Err(LinkRefusal::Expired)
        );
        assert_eq!(
            check_link(&f, LinkPurpose::ResetPassword, Timestamp::from_micros(1)),
            Err(LinkRefusal::WrongPurpose)
        );
        let used = LinkFacts { used_at: Some(Timestamp::from_micros(1)), ..f };
        assert_eq!(
            check_link(&used, LinkPurpose::VerifyEmail, Timestamp::from_micros(2)),
            Err(LinkRefusal::AlreadyUsed)
        );
    }

    #[test]
    fn purposes_round_trip() {
        for p in LinkPurpose::ALL {
            assert_eq!(LinkPurpose::parse(p.as_str()), Some(p));
        }
    }
}
