//! The audit vocabulary: every event custos records, in the past tense, with typed fields.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::RevokeReason;
use crate::Timestamp;
use crate::ids::{DeviceId, SessionId};

/// Everything custos records, in the past tense, with typed fields.
///
/// The foundation emits the account, login and session events; the credential, money and freeze
/// variants are named now so every later feature records into the same vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditEvent {
    // Accounts
    AccountRegistered {
        uid: u64,
        email_domain: String,
    },
    RegistrationAttemptedForExistingEmail,
    EmailVerified,
    VerificationLinkSent,
    // Logins and sessions
    LoginSucceeded {
        session: SessionId,
        device: DeviceId,
        ip: Option<IpAddr>,
        new_device: bool,
    },
    LoginFailed {
        ip: Option<IpAddr>,
        reason: String,
    },
    LoginThrottled {
        ip: Option<IpAddr>,
        retry_after_secs: u64,
    },
    SessionRevoked {
        session: SessionId,
        reason: RevokeReason,
    },
    OtherSessionsRevoked {
        kept: SessionId,
        count: u32,
    },
    SecurityStampRotated {
        reason: RevokeReason,
        sessions_revoked: u32,
    },
    DeviceFirstSeen {
        device: DeviceId,
    },
    // Credentials (credentials issue)
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    TotpEnabled,
    TotpDisabled,
    TotpReset,
    PasskeyAdded {
        name: String,
    },
    PasskeyRemoved {
        name: String,
    },
    PasskeyRenamed {
        from: String,
        to: String,
    },
    SmsFactorEnabled,
    SmsFactorDisabled,
    RecoveryCodesGenerated,
    RecoveryCodeUsed,
    EmailChanged {
        old_domain: String,
        new_domain: String,
    },
    PhoneChanged,
    AntiPhishingCodeSet,
    SteppedUp {
        method: String,
    },
    // Money out (money-out issue)
    ApiKeyCreated {
        key_id: String,
        scopes: Vec<String>,
        ip_allowlist: Vec<String>,
        valid_until: Timestamp,
    },
    ApiKeyRevoked {
        key_id: String,
    },
    WithdrawalRequested {
        withdrawal: String,
        asset: String,
        amount: String,
    },
    WithdrawalConfirmed {
        withdrawal: String,
    },
    WithdrawalHeld {
        withdrawal: String,
        reasons: Vec<String>,
    },
    WithdrawalCancelled {
        withdrawal: String,
        by: String,
    },
    WithdrawalIntercepted {
        withdrawal: String,
        outcome: String,
    },
    WithdrawalQueued {
        withdrawal: String,
    },
    WithdrawalBroadcast {
        withdrawal: String,
        txid: String,
    },
    WithdrawalFailed {
        withdrawal: String,
        reason: String,
    },
    TransferRequested {
        transfer: String,
        amount: String,
    },
    TransferCancelled {
        transfer: String,
        by: String,
    },
    /// An entry was asked for; it is usable only once confirmed by email and cooled down.
    AllowlistEntryAdded {
        entry: String,
        asset: String,
        network: String,
        address: String,
        memo: Option<String>,
    },
    /// The emailed link was followed: the cooling period runs until `usable_from`.
    AllowlistEntryConfirmed {
        entry: String,
        usable_from: Timestamp,
    },
    AllowlistEntryRemoved {
        entry: String,
    },
    /// On (`enabled`, effective at once) or a turn-off scheduled for `effective_at`.
    AllowlistModeChanged {
        enabled: bool,
        effective_at: Timestamp,
    },
    /// A pending turn-off was cancelled (by turning the allowlist on again) before `was_due`.
    AllowlistTurnOffCancelled {
        was_due: Timestamp,
    },
    WithdrawalLockSet {
        until: Timestamp,
        reason: String,
    },
    // Freeze and recovery (kill-switch issue)
    PanicCodeGenerated,
    /// The receipt is the whole of what the freeze did, hashed into the chain with it.
    AccountFrozen {
        channel: String,
        reason: String,
        receipt: Box<crate::freeze::FreezeReceipt>,
    },
    /// Two different operators: the one who acted (the record's actor) and the one who approved.
    /// The account is `recovering` afterwards, and only `contact_domain`'s address got the reset link.
    AccountUnfrozen {
        approved_by: String,
        reason: String,
        contact_domain: String,
    },
    /// The holder of a recovering account set a new password and enrolled a new second factor.
    RecoveryCompleted,
    // Incidents (the case id; message bodies and facts stay in the case, not in the chain)
    IncidentOpened {
        incident: crate::ids::IncidentId,
        origin: String,
    },
    /// `author` is `user`, `staff` or `system`; `staff_id` names the member of staff.
    IncidentMessageAdded {
        incident: crate::ids::IncidentId,
        author: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staff_id: Option<String>,
    },
    IncidentStateChanged {
        incident: crate::ids::IncidentId,
        from: String,
        to: String,
    },
    /// `fields` names what changed (`detected_at`, `unauthorised_actions`, `measures_taken`).
    IncidentFactsEdited {
        incident: crate::ids::IncidentId,
        fields: Vec<String>,
    },
    /// A member of staff assigned the case (`assignee` is a staff ID, `None`: unassigned).
    IncidentAssigned {
        incident: crate::ids::IncidentId,
        assignee: Option<String>,
    },
    /// An internal note (its body stays in the case; notes are never shown to the holder).
    IncidentNoteAdded {
        incident: crate::ids::IncidentId,
    },
    /// Why a member of staff acted: written with every console action, in its transaction.
    /// `action` is the [`crate::staff::StaffAction`] name, `subject` what it acted on.
    StaffActed {
        action: String,
        subject: String,
        reason: String,
    },
    // Operations
    OperatorCreatedAccount {
        uid: u64,
    },
    ServiceTokenCreated {
        name: String,
    },
    StaffViewedAccount {
        staff: String,
    },
    // Staff (issue 6): on the system chain, except reads of an account, which go to its chain.
    StaffCreated {
        staff_id: String,
        role: String,
        email_domain: String,
    },
    /// A new setup link replaced an unused or expired one.
    StaffSetupLinkIssued {
        staff_id: String,
    },
    /// The setup link was completed: a password set and an authenticator app enrolled.
    StaffEnrolled {
        staff_id: String,
    },
    StaffSignedIn {
        staff_id: String,
        ip: Option<IpAddr>,
    },
    StaffSignInFailed {
        ip: Option<IpAddr>,
    },
    StaffSignedOut {
        staff_id: String,
    },
    StaffDisabled {
        staff_id: String,
        sessions_revoked: u32,
    },
    /// A staff member read an account's data; `what` names the view (e.g. `account_summary`).
    StaffReadAccount {
        what: String,
    },
    OfficialChannelAdded {
        kind: String,
        value: String,
    },
    OfficialChannelRemoved {
        kind: String,
        value: String,
    },
}
