//! Typed identifiers, so one kind of id cannot be passed where another is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub const fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// An account's internal id. Never shown to users; they see the [`Uid`].
    AccountId
);
uuid_id!(SessionId);
uuid_id!(DeviceId);
uuid_id!(LoginEventId);
uuid_id!(OutboxId);
uuid_id!(LinkTokenId);
uuid_id!(ChallengeId);
uuid_id!(PasskeyId);
uuid_id!(WithdrawalId);
uuid_id!(ServiceTokenId);
uuid_id!(TransferId);
uuid_id!(FreezeId);
uuid_id!(
    /// An incident case (opened by a freeze or a user's report).
    IncidentId
);
uuid_id!(IncidentMessageId);
uuid_id!(
    /// An in-flight WebAuthn ceremony (registration or authentication state between two requests).
    CeremonyId
);
uuid_id!(
    /// An entry of an account's withdrawal address allowlist.
    AllowlistEntryId
);

/// The public numeric account number users quote to support. Random (not derived from sign-up
/// order) so it reveals nothing about the size or age of the platform or the account.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Uid(u64);

impl Uid {
    pub const MIN: u64 = 100_000_000;
    pub const MAX: u64 = 999_999_999;

    /// A random nine-digit UID. Uniqueness is the store's job (it retries on collision).
    pub fn random() -> Self {
        Self(rand::random_range(Self::MIN..=Self::MAX))
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = s.parse().ok()?;
        (Self::MIN..=Self::MAX).contains(&n).then_some(Self(n))
    }

    /// A UID in the valid range, or `None`.
    pub fn from_u64(n: u64) -> Option<Self> {
        (Self::MIN..=Self::MAX).contains(&n).then_some(Self(n))
    }

    pub const fn from_u64_unchecked(n: u64) -> Self {
        Self(n)
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uid({})", self.0)
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_nine_digits_and_parse_back() {
        for _ in 0..1000 {
            let u = Uid::random();
            assert_eq!(u.to_string().len(), 9);
            assert_eq!(Uid::parse(&u.to_string()), Some(u));
        }
        assert_eq!(Uid::parse("12345"), None);
        assert_eq!(Uid::parse("-12345678"), None);
        assert_eq!(Uid::parse("１２３４５６７８９"), None);
    }
}
