//! Login outcomes, as recorded in login events and shown in the activity list.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginOutcome {
    Succeeded,
    WrongCredentials,
    EmailNotVerified,
    Throttled,
    AccountInactive,
    SecondFactorFailed,
    /// A passkey sign-in (no password) whose answer was refused.
    PasskeyRefused,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::WrongCredentials => "wrong_credentials",
            Self::EmailNotVerified => "email_not_verified",
            Self::Throttled => "throttled",
            Self::AccountInactive => "account_inactive",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::PasskeyRefused => "passkey_refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Succeeded,
            Self::WrongCredentials,
            Self::EmailNotVerified,
            Self::Throttled,
            Self::AccountInactive,
            Self::SecondFactorFailed,
            Self::PasskeyRefused,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// Account status (DESIGN "Domain model").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Frozen,
    Recovering,
    Closed,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Frozen => "frozen",
            Self::Recovering => "recovering",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Frozen, Self::Recovering, Self::Closed].into_iter().find(|o| o.as_str() == s)
    }
}
