//! What custos tells people, as typed messages. A notice is written to the outbox in the same
//! transaction as the change it reports; the delivery worker renders and sends it.
//!
//! Every message has a slot for the account's anti-phishing code, and every security message a
//! slot for the "Not you? Disable account" link (filled by the kill switch).

use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// Confirms the address of a new registration. Holds a bearer link.
    VerifyEmail { verify_url: String },
    /// Someone tried to register with an address that already has an account. Sent instead of a
    /// verification link, so the registration endpoint answers identically in both cases.
    AlreadyRegistered { login_url: String },
    /// A sign-in from a device this account has not used before.
    NewDeviceLogin {
        at: Timestamp,
        ip: String,
        user_agent: String,
    },
}

impl Notice {
    /// Security notices carry the disable-account link and are never throttled away.
    pub fn is_security(&self) -> bool {
        matches!(self, Self::NewDeviceLogin { .. } | Self::AlreadyRegistered { .. })
    }

    /// Whether the payload holds a bearer link (it is sealed at rest and purged after delivery).
    pub fn holds_bearer_link(&self) -> bool {
        matches!(self, Self::VerifyEmail { .. })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::AlreadyRegistered { .. } => "already_registered",
            Self::NewDeviceLogin { .. } => "new_device_login",
        }
    }
}

/// A notice addressed and dressed: the recipient snapshotted when it was written (so the *old*
/// address gets the notice of an email change), and the account's personal slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailMessage {
    pub to: String,
    pub anti_phishing_code: Option<String>,
    pub disable_url: Option<String>,
    pub notice: Notice,
}
