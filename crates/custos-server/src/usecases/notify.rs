//! Writing notices to the outbox, inside the command's transaction.

use std::time::Duration;

use custos_core::Timestamp;
use custos_core::crypto::KeyPurpose;
use custos_core::ids::AccountId;
use custos_core::notice::{EmailMessage, Notice};
use custos_store::{OutboxRecord, OutboxTopic, Tx};

use crate::error::ApiError;
use crate::state::AppState;

/// Idempotency-key prefixes of the notices [`Notice::stranger_triggerable`] names.
const STRANGER_TRIGGERABLE_KEYS: [&str; 3] = ["verify_email:", "already_registered:", "password_reset:"];

/// Who gets the mail, and the account's personal slots.
pub struct Recipient<'a> {
    pub account: Option<AccountId>,
    pub email: &'a str,
    pub anti_phishing_code: Option<&'a str>,
}

/// Queues an email. The recipient is snapshotted now; the payload is sealed at rest (it may hold
/// a bearer link), bound to its idempotency key. Stranger-triggerable notices are dropped beyond
/// the per-recipient hourly limit; returns whether the message was queued.
pub async fn email(
    tx: &mut dyn Tx,
    state: &AppState,
    to: Recipient<'_>,
    notice: Notice,
    idempotency_key: String,
    now: Timestamp,
) -> Result<bool, ApiError> {
    if notice.stranger_triggerable() {
        // Only what a stranger can cause counts: a busy account's own notices must never crowd
        // out the reset link its owner asked for.
        let sent = tx
            .outbox_count_since(to.email, now.minus(Duration::from_secs(3_600)), &STRANGER_TRIGGERABLE_KEYS)
            .await?;
        if sent >= state.config.mail_per_recipient_per_hour {
            tracing::warn!(kind = notice.kind(), "per-recipient mail limit reached; message dropped");
            return Ok(false);
        }
    }
    let message = EmailMessage {
        to: to.email.to_owned(),
        anti_phishing_code: to.anti_phishing_code.map(str::to_owned),
        disable_url: None,
        notice,
    };
    let plaintext = serde_json::to_vec(&message).map_err(|e| ApiError::Internal(e.to_string()))?;
    let sealed = state.config.keys.seal(KeyPurpose::OutboxPayload, idempotency_key.as_bytes(), &plaintext);
    let row =
        OutboxRecord::new(OutboxTopic::Email, idempotency_key, to.account, message.to.clone(), sealed, now);
    tx.enqueue(&row).await?;
    Ok(true)
}

/// Queues a text message to `phone`, with the account's anti-phishing code. Texts carry codes, so
/// the payload is sealed like any bearer link and purged once sent.
pub async fn sms(
    tx: &mut dyn Tx,
    state: &AppState,
    account: &custos_store::AccountRecord,
    phone: &str,
    text: custos_core::notice::SmsText,
    idempotency_key: String,
    now: Timestamp,
) -> Result<(), ApiError> {
    let message = custos_core::notice::SmsMessage {
        to: phone.to_owned(),
        anti_phishing_code: account.anti_phishing_code.clone(),
        text,
    };
    let plaintext = serde_json::to_vec(&message).map_err(|e| ApiError::Internal(e.to_string()))?;
    let sealed = state.config.keys.seal(KeyPurpose::OutboxPayload, idempotency_key.as_bytes(), &plaintext);
    let row =
        OutboxRecord::new(OutboxTopic::Sms, idempotency_key, Some(account.id), phone.to_owned(), sealed, now);
    tx.enqueue(&row).await?;
    Ok(())
}
