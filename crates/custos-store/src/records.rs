//! Rows as the application sees them: core types, not database types.

use std::net::IpAddr;

use custos_core::Timestamp;
use custos_core::audit::RevokeReason;
use custos_core::challenge::ChallengePurpose;
use custos_core::crypto::TokenHash;
use custos_core::ids::{
    AccountId, CeremonyId, ChallengeId, DeviceId, LinkTokenId, LoginEventId, OutboxId, PasskeyId, SessionId,
    Uid,
};
use custos_core::link_token::LinkPurpose;
use custos_core::login::{AccountStatus, LoginOutcome};
use custos_core::passkey::CeremonyPurpose;
use custos_core::session::Aal;

#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: AccountId,
    pub uid: Uid,
    pub email: String,
    pub email_key: String,
    pub email_verified_at: Option<Timestamp>,
    pub phone: Option<String>,
    pub status: AccountStatus,
    pub password_hash: String,
    pub security_stamp: Vec<u8>,
    pub anti_phishing_code: Option<String>,
    pub created_at: Timestamp,
    /// Withdrawals stay locked until then (credential-change matrix); only ever extended.
    pub withdrawal_lock_until: Option<Timestamp>,
    pub withdrawal_lock_reason: Option<String>,
    /// When `phone` was proved by a texted code (a number given at registration is unproven).
    pub phone_verified_at: Option<Timestamp>,
    /// SMS codes are a second factor from then on (needs a verified phone).
    pub sms_enabled_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub account_id: AccountId,
    pub key_hash: TokenHash,
    pub user_agent: String,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub last_ip: Option<IpAddr>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: SessionId,
    pub account_id: AccountId,
    pub token_hash: TokenHash,
    pub device_id: DeviceId,
    pub ip: Option<IpAddr>,
    pub user_agent: String,
    pub aal: Aal,
    pub authenticated_at: Timestamp,
    pub stepped_up_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub stamp_at_issue: Vec<u8>,
    pub revoked_at: Option<Timestamp>,
    pub revoke_reason: Option<RevokeReason>,
}

impl SessionRecord {
    /// Whether the session still stands: not revoked, and issued under the account's current
    /// security stamp. Rotating the stamp (a freeze, a credential change) ends every session issued
    /// under the old one at once; a freeze writes no session row (see `freeze_sql!`).
    pub fn stands(&self, account_stamp: &[u8]) -> bool {
        self.revoked_at.is_none() && custos_core::crypto::ct_eq(&self.stamp_at_issue, account_stamp)
    }

    /// Why it ended, if it did: its own revocation, or the account's stamp moving on.
    pub fn ended_because(&self, account_stamp: &[u8]) -> Option<RevokeReason> {
        match self.revoked_at {
            Some(_) => self.revoke_reason,
            None => (!custos_core::crypto::ct_eq(&self.stamp_at_issue, account_stamp))
                .then_some(RevokeReason::SecurityStampRotated),
        }
    }
}

/// A session together with what its account says now: everything one request needs, in one read.
#[derive(Debug, Clone)]
pub struct SessionWithAccount {
    pub session: SessionRecord,
    pub account_stamp: Vec<u8>,
    pub account_status: AccountStatus,
    pub account_uid: Uid,
    /// The account's withdrawal lock, for callers that decide on money (integration authorize).
    pub account_withdrawal_lock_until: Option<Timestamp>,
}

/// A session with everything the account overview (`/me`) shows, read in one statement.
#[derive(Debug, Clone)]
pub struct SessionOverview {
    pub session: SessionRecord,
    pub account: AccountRecord,
    pub factors: SecondFactors,
}

/// Where successful sign-ins came from, and the latest time, as risk signals see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorSignIn {
    pub at: Timestamp,
    pub ip: Option<IpAddr>,
    pub country: Option<String>,
    pub asn: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct LoginEventRecord {
    pub id: LoginEventId,
    pub account_id: Option<AccountId>,
    pub at: Timestamp,
    pub outcome: LoginOutcome,
    pub ip: Option<IpAddr>,
    pub country: Option<String>,
    pub asn: Option<i64>,
    pub device_id: Option<DeviceId>,
    pub user_agent: String,
    /// Risk signals with their evidence, stored as a JSON array of `{code, detail}`.
    pub signals: Vec<custos_core::risk::Signal>,
    /// The session a successful sign-in opened.
    pub session_id: Option<SessionId>,
}

#[derive(Debug, Clone)]
pub struct LinkTokenRecord {
    pub id: LinkTokenId,
    pub token_hash: TokenHash,
    pub purpose: LinkPurpose,
    pub account_id: AccountId,
    /// What the link acts on, when it is not the account itself (a withdrawal id, a case id…).
    pub subject: Option<String>,
    pub stamp_at_issue: Vec<u8>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxTopic {
    Email,
    Sms,
    /// A Standard Webhooks message; the recipient is the endpoint URL.
    Webhook,
    /// Work custos itself does once the command that queued it has committed: opening the incident
    /// case a freeze asked for (`usecases::incidents::CaseFollowUp`). The recipient is `custos`.
    Case,
}

impl OutboxTopic {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Webhook => "webhook",
            Self::Case => "case",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Email, Self::Sms, Self::Webhook, Self::Case].into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct OutboxRecord {
    pub id: OutboxId,
    pub topic: OutboxTopic,
    /// Stable across retries; receivers deduplicate on it (email: the Message-ID derives from it).
    pub idempotency_key: String,
    pub account_id: Option<AccountId>,
    /// Snapshotted when the row is written.
    pub recipient: String,
    /// Sealed (XChaCha20-Poly1305) message; `None` once purged after delivery.
    pub payload: Option<Vec<u8>>,
    pub created_at: Timestamp,
    pub attempts: i32,
    pub next_attempt_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

impl OutboxRecord {
    pub fn new(
        topic: OutboxTopic,
        idempotency_key: String,
        account_id: Option<AccountId>,
        recipient: String,
        payload: Vec<u8>,
        now: Timestamp,
    ) -> Self {
        Self {
            id: OutboxId::new(),
            topic,
            idempotency_key,
            account_id,
            recipient,
            payload: Some(payload),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            delivered_at: None,
            last_error: None,
        }
    }
}

/// What a password login needs to know before it hashes, read in one statement: the account (if
/// the address has one), whether the presented device has signed in to it before, its second
/// factors, its earlier sign-ins (for the risk signals), and the two login throttles.
#[derive(Debug, Clone)]
pub struct LoginLookup {
    pub account: Option<AccountRecord>,
    pub known_device: bool,
    pub factors: SecondFactors,
    pub ip_throttle: Option<ThrottleState>,
    pub account_throttle: Option<ThrottleState>,
    /// The account's earlier successful sign-ins, newest first (empty without an account).
    pub prior_sign_ins: Vec<PriorSignIn>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: u32,
    pub window_start: Timestamp,
    pub last_failure_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct DevMail {
    pub message_id: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub received_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct TotpRecord {
    pub account_id: AccountId,
    pub seed_sealed: Vec<u8>,
    pub created_at: Timestamp,
    /// `None` while the enrolment awaits its first code.
    pub confirmed_at: Option<Timestamp>,
    /// The step of the last accepted code (replay guard).
    pub last_step: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ChallengeRecord {
    pub id: ChallengeId,
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub purpose: ChallengePurpose,
    /// SHA-256 of an emailed code, when the challenge carries one.
    pub code_hash: Option<TokenHash>,
    /// The session a step-up challenge belongs to.
    pub session_id: Option<SessionId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub attempts: i32,
    pub used_at: Option<Timestamp>,
    /// When a code was last texted for this challenge (resend throttle).
    pub code_sent_at: Option<Timestamp>,
    /// What the challenge is about, e.g. the new phone number being verified.
    pub subject: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PasswordHistoryRecord {
    pub password_hash: String,
    /// HMAC of the password's skeleton under a key derived from the root key.
    pub skeleton_mac: Vec<u8>,
    pub created_at: Timestamp,
}

/// The confirmed second factors of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondFactors {
    pub totp: bool,
    pub recovery_codes: u32,
    pub sms: bool,
    /// Registered passkeys.
    pub passkeys: u32,
}

impl SecondFactors {
    /// Recovery codes are a fallback for a factor, not a factor of their own.
    pub fn any(&self) -> bool {
        self.totp || self.sms || self.passkeys > 0
    }
}

/// The new state of a session that continues under a new token.
#[derive(Debug, Clone)]
pub struct Reissue {
    pub token_hash: TokenHash,
    pub aal: Aal,
    pub stepped_up_at: Option<Timestamp>,
    pub stamp: Vec<u8>,
    /// The stamp the session must still carry: the account's, as the reissuing transaction locked
    /// it (before any rotation of its own). A session the stamp has moved past — a freeze ends
    /// sessions that way, without writing them — is not brought back.
    pub issued_under: Vec<u8>,
}

/// A registered passkey.
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub id: PasskeyId,
    pub account_id: AccountId,
    /// The WebAuthn credential id (unique across all accounts).
    pub credential_id: Vec<u8>,
    /// The webauthn-rs `Passkey` as JSON: public key, signature counter, backup flags. The store
    /// keeps it opaque; the server (de)serialises it.
    pub passkey: String,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A WebAuthn ceremony in flight: the options went out, the authenticator's answer has not come.
#[derive(Debug, Clone)]
pub struct CeremonyRecord {
    pub id: CeremonyId,
    /// SHA-256 of the handle the client sends back with its answer.
    pub token_hash: TokenHash,
    pub purpose: CeremonyPurpose,
    /// The account it is for; `None` for a passkey sign-in, where the credential names it.
    pub account_id: Option<AccountId>,
    /// The session it belongs to (registration, step-up).
    pub session_id: Option<SessionId>,
    /// The login challenge it answers (second factor at sign-in).
    pub challenge_id: Option<ChallengeId>,
    /// webauthn-rs ceremony state as JSON (`danger-allow-state-serialisation`).
    pub state: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}
