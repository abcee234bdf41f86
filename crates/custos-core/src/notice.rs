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
        /// The sign-in's risk signals in words (country, network, impossible travel…).
        #[serde(default)]
        signals: Vec<String>,
    },
    /// A credential or binding changed (the credential-change matrix decides who is told).
    /// `change` is a sentence such as "Your password was changed."; `lock_until` is the end of the
    /// withdrawal lock the change set, if any.
    SecurityChange { change: String, at: Timestamp, ip: Option<String>, lock_until: Option<Timestamp> },
    /// A password-reset link. Holds a bearer link.
    PasswordReset { reset_url: String },
    /// A code that, with the password, steps a session up (accounts without a second factor).
    StepUpCode { code: String },
    /// Confirms a new email address before it replaces the old one. Holds a bearer link.
    ConfirmEmailChange { confirm_url: String },
    /// A withdrawal was requested: what, where, and the link that confirms it. Holds a bearer link.
    ConfirmWithdrawal { summary: WithdrawalSummary, confirm_url: String, expires_at: Timestamp },
    /// A withdrawal changed state (held, cancelled, sent…); `status` is a sentence.
    WithdrawalStatus { summary: WithdrawalSummary, status: String },
    /// An internal transfer was sent from (or arrived in) this account, or changed state.
    /// `status` is a sentence; `counterparty_uid` is the other account's public UID.
    TransferStatus { outgoing: bool, asset: String, amount: String, counterparty_uid: u64, status: String },
    /// An API key was created: what it may do, from where, until when. Never holds a secret.
    ApiKeyCreated {
        key_id: String,
        label: String,
        key_kind: String,
        scopes: Vec<String>,
        /// Empty: usable from any address.
        ip_allowlist: Vec<String>,
        valid_until: Timestamp,
        at: Timestamp,
        ip: Option<String>,
    },
    /// API keys were revoked by the account holder: `(key id, label)` of each.
    ApiKeysRevoked { keys: Vec<(String, String)>, at: Timestamp, ip: Option<String> },
    /// The account was frozen: when, from where (`channel` in words), and what the freeze did, one
    /// sentence per line of the receipt.
    AccountFrozen { at: Timestamp, channel: String, lines: Vec<String> },
    /// Support ended a freeze: the account is recovering, and this (support-verified) address got
    /// the only link that sets a new password. Holds a bearer link.
    RecoveryStarted { reset_url: String, lock_until: Timestamp },
    /// An address was asked for on the withdrawal allowlist: what, and the link that confirms it.
    /// `cooling` says in words how long after confirming it becomes usable. Holds a bearer link.
    ConfirmAllowlistEntry {
        entry: AllowlistEntrySummary,
        confirm_url: String,
        expires_at: Timestamp,
        cooling: String,
        /// Where the request came from.
        ip: Option<String>,
    },
    /// The withdrawal allowlist changed: `change` is a sentence that says what and, for anything
    /// that loosens it, from when ("usable from …", "turns off at …") and how to undo it.
    AllowlistChanged { change: String, at: Timestamp, ip: Option<String> },
    /// A case was opened about the account (a freeze, a report): the private link that reads and
    /// adds to it. Sent only to a contact that predates the last binding change. Holds a bearer link.
    CaseLink { uid: u64, opened_at: Timestamp, case_url: String },
    /// Support wrote on the holder's case. Carries no link (the address may be the attacker's):
    /// the holder reads the reply in the security center or through the case link they hold.
    CaseReply { uid: u64, staff_name: String, at: Timestamp },
}

/// What an allowlist email shows about an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowlistEntrySummary {
    pub label: String,
    pub asset: String,
    pub network: String,
    pub address: String,
    pub memo: Option<String>,
}

/// What a withdrawal email shows, formatted for people (decimal amounts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalSummary {
    pub asset: String,
    pub network: String,
    pub amount: String,
    pub fee: String,
    pub address: String,
    pub memo: Option<String>,
    pub txid: Option<String>,
    pub requested_at: Timestamp,
    pub ip: Option<String>,
}

impl Notice {
    /// Security notices carry the disable-account link (filled by the kill switch). The notice of
    /// a freeze and the start of a recovery do not: the account is frozen or recovering already.
    pub fn is_security(&self) -> bool {
        !matches!(
            self,
            Self::VerifyEmail { .. }
                | Self::AccountFrozen { .. }
                | Self::RecoveryStarted { .. }
                | Self::CaseLink { .. }
                | Self::CaseReply { .. }
        )
    }

    /// Whether a stranger can cause this message to be sent (by registering or asking for a link).
    /// Those are throttled per recipient, so nobody can bomb an inbox through custos; messages that
    /// only follow the holder's own successful actions are never throttled away.
    pub fn stranger_triggerable(&self) -> bool {
        matches!(self, Self::VerifyEmail { .. } | Self::AlreadyRegistered { .. } | Self::PasswordReset { .. })
    }

    /// Whether the payload holds a bearer link (it is sealed at rest and purged after delivery).
    pub fn holds_bearer_link(&self) -> bool {
        matches!(
            self,
            Self::VerifyEmail { .. }
                | Self::PasswordReset { .. }
                | Self::StepUpCode { .. }
                | Self::ConfirmEmailChange { .. }
                | Self::ConfirmWithdrawal { .. }
                | Self::RecoveryStarted { .. }
                | Self::ConfirmAllowlistEntry { .. }
                | Self::CaseLink { .. }
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::AlreadyRegistered { .. } => "already_registered",
            Self::NewDeviceLogin { .. } => "new_device_login",
            Self::SecurityChange { .. } => "security_change",
            Self::PasswordReset { .. } => "password_reset",
            Self::StepUpCode { .. } => "step_up_code",
            Self::ConfirmEmailChange { .. } => "confirm_email_change",
            Self::ConfirmWithdrawal { .. } => "confirm_withdrawal",
            Self::WithdrawalStatus { .. } => "withdrawal_status",
            Self::TransferStatus { .. } => "transfer_status",
            Self::ApiKeyCreated { .. } => "api_key_created",
            Self::ApiKeysRevoked { .. } => "api_keys_revoked",
            Self::AccountFrozen { .. } => "account_frozen",
            Self::RecoveryStarted { .. } => "recovery_started",
            Self::ConfirmAllowlistEntry { .. } => "confirm_allowlist_entry",
            Self::AllowlistChanged { .. } => "allowlist_changed",
            Self::CaseLink { .. } => "case_link",
            Self::CaseReply { .. } => "case_reply",
        }
    }
}

/// A text message: short, with the anti-phishing code when the account has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsMessage {
    pub to: String,
    pub anti_phishing_code: Option<String>,
    pub text: SmsText,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SmsText {
    /// A one-time code; `purpose` says what it is for ("sign-in", "confirming a change", …).
    Code { code: String, purpose: String },
    /// A security change, sent to a previous number the account no longer uses.
    SecurityChange { change: String },
    /// The account was frozen (sent to the bound number as well as by email).
    AccountFrozen,
}

impl SmsMessage {
    /// The body as sent: code first (phones show it in the notification), what it is for, the
    /// anti-phishing code, and the warning never to share it.
    pub fn body(&self) -> String {
        let apc = self
            .anti_phishing_code
            .as_deref()
            .map(|c| format!(" Anti-phishing code: {c}."))
            .unwrap_or_default();
        match &self.text {
            SmsText::Code { code, purpose } => {
                format!(
                    "{code} is your custos code for {purpose}. It expires in 10 minutes.{apc} Never share it."
                )
            }
            SmsText::SecurityChange { change } => {
                format!("custos: {change}{apc} Not you? Disable your account.")
            }
            SmsText::AccountFrozen => format!(
                "custos: your account was frozen. Nothing can leave it and every session and API key was ended.{apc} \
                 Not you? Contact support through the official website."
            ),
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

/// How long to wait before delivery attempt `attempts + 1`: 5 s doubling per attempt, at most an
/// hour. Delivery is retried until it succeeds (at-least-once); receivers deduplicate on the
/// idempotency key.
pub fn delivery_backoff(attempts: i32) -> std::time::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
    std::time::Duration::from_secs(5u64.saturating_mul(1u64 << doublings))
        .min(std::time::Duration::from_secs(3_600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn delivery_backs_off_exponentially_to_an_hour() {
        assert_eq!(delivery_backoff(1), Duration::from_secs(5));
        assert_eq!(delivery_backoff(2), Duration::from_secs(10));
        assert_eq!(delivery_backoff(5), Duration::from_secs(80));
        assert_eq!(delivery_backoff(50), Duration::from_secs(3_600));
        assert_eq!(delivery_backoff(0), Duration::from_secs(5));
    }

    #[test]
    fn only_messages_a_stranger_can_cause_are_throttled() {
        assert!(Notice::VerifyEmail { verify_url: String::new() }.stranger_triggerable());
        assert!(Notice::AlreadyRegistered { login_url: String::new() }.stranger_triggerable());
        let login = Notice::NewDeviceLogin {
            at: crate::Timestamp::from_micros(0),
            ip: String::new(),
            user_agent: String::new(),
            signals: Vec::new(),
        };
        assert!(!login.stranger_triggerable());
        assert!(login.is_security());
    }
}
