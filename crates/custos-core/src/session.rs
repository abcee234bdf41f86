//! Session validity: one pure decision, used on every authenticated request.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::crypto::ct_eq;

/// Authentication assurance level (NIST SP 800-63B): `aal1` = one factor, `aal2` = two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aal {
    Aal1,
    Aal2,
}

impl Aal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "aal1" => Some(Self::Aal1),
            "aal2" => Some(Self::Aal2),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ends a session nobody has used for this long (default 30 min).
    pub idle: Duration,
    /// Ends every session this long after sign-in, used or not (default 12 h).
    pub absolute: Duration,
    /// `last_seen_at` is written at most this often, so reads stay reads (default 60 s).
    pub touch_every: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3_600),
            touch_every: Duration::from_secs(60),
        }
    }
}

/// What a session row and its account say at the moment of a request.
#[derive(Debug, Clone)]
pub struct SessionFacts<'a> {
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub revoked: bool,
    pub stamp_at_issue: &'a [u8],
    pub account_stamp: &'a [u8],
    pub account_active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionVerdict {
    /// Valid; `touch` says whether to record the request time now.
    Live {
        touch: bool,
    },
    Revoked,
    StampRotated,
    IdleExpired,
    AbsoluteExpired,
    AccountInactive,
}

impl SessionPolicy {
    pub fn evaluate(&self, s: &SessionFacts<'_>, now: Timestamp) -> SessionVerdict {
        if s.revoked {
            SessionVerdict::Revoked
        } else if !ct_eq(s.stamp_at_issue, s.account_stamp) {
            SessionVerdict::StampRotated
        } else if !s.account_active {
            SessionVerdict::AccountInactive
        } else if now >= s.created_at.plus(self.absolute) {
            SessionVerdict::AbsoluteExpired
        } else if now >= s.last_seen_at.plus(self.idle) {
            SessionVerdict::IdleExpired
        } else {
            SessionVerdict::Live { touch: now.since(s.last_seen_at) >= self.touch_every }
        }
    }

    pub fn expires_at(&self, created_at: Timestamp, last_seen_at: Timestamp) -> Timestamp {
        created_at.plus(self.absolute).min(last_seen_at.plus(self.idle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts(created: i64, seen: i64) -> SessionFacts<'static> {
        SessionFacts {
            created_at: Timestamp::from_micros(created),
            last_seen_at: Timestamp::from_micros(seen),
            revoked: false,
            stamp_at_issue: b"stamp-1",
            account_stamp: b"stamp-1",
            account_active: true,
        }
    }

    const MIN: i64 = 60_000_000;

    #[test]
    fn a_fresh_session_is_live() {
        let p = SessionPolicy::default();
        assert_eq!(
            p.evaluate(&facts(0, 0), Timestamp::from_micros(10)),
            SessionVerdict::Live { touch: false }
        );
        assert_eq!(
            p.evaluate(&facts(0, 0), Timestamp::from_micros(2 * MIN)),
            SessionVerdict::Live { touch: true }
        );
    }

    #[test]
    fn idle_and_absolute_limits_end_a_session() {
        let p = SessionPolicy::default();
        assert_eq!(p.evaluate(&facts(0, 0), Timestamp::from_micros(30 * MIN)), SessionVerdict::IdleExpired);
        let busy = facts(0, 12 * 60 * MIN - MIN);
        assert_eq!(p.evaluate(&busy, Timestamp::from_micros(12 * 60 * MIN)), SessionVerdict::AbsoluteExpired);
    }

    #[test]
    fn a_rotated_stamp_ends_every_session() {
        let mut f = facts(0, 0);
        f.account_stamp = b"stamp-2";
        assert_eq!(
            SessionPolicy::default().evaluate(&f, Timestamp::from_micros(1)),
            SessionVerdict::StampRotated
        );
    }

    proptest! {
        #[test]
        fn no_session_outlives_its_absolute_limit(created in 0i64..1_000_000_000_000, seen_off in 0i64..100_000_000_000, now_off in 0i64..100_000_000_000) {
            let p = SessionPolicy::default();
            let f = facts(created, created + seen_off);
            let now = Timestamp::from_micros(created + now_off);
            if let SessionVerdict::Live { .. } = p.evaluate(&f, now) {
                prop_assert!(now < Timestamp::from_micros(created).plus(p.absolute));
            }
        }
    }
}
