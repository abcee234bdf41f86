//! Writing notices to the outbox, inside the command's transaction.

use std::time::Duration;

use custos_core::Timestamp;
use custos_core::crypto::{BearerToken, KeyPurpose};
use custos_core::ids::{AccountId, LinkTokenId};
use custos_core::link_token::LinkPurpose;
use custos_core::notice::{EmailMessage, Notice};
use custos_core::webhook::{WebhookEvent, WebhookPayload};
use custos_store::{LinkTokenRecord, OutboxRecord, OutboxTopic, Tx};

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

impl<'a> Recipient<'a> {
    /// The account's holder, at its current address, with its anti-phishing code.
    pub fn holder(account: &'a custos_store::AccountRecord) -> Self {
        Self {
            account: Some(account.id),
            email: &account.email,
            anti_phishing_code: account.anti_phishing_code.as_deref(),
        }
    }
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
    let disable_url = match to.account {
        Some(account) if notice.is_security() => Some(disable_link(tx, state, account, now).await?),
        _ => None,
    };
    let message = EmailMessage {
        to: to.email.to_owned(),
        anti_phishing_code: to.anti_phishing_code.map(str::to_owned),
        disable_url,
        notice,
    };
    let plaintext = serde_json::to_vec(&message).map_err(|e| ApiError::Internal(e.to_string()))?;
    let sealed = state.config.keys.seal(KeyPurpose::OutboxPayload, idempotency_key.as_bytes(), &plaintext);
    let row =
        OutboxRecord::new(OutboxTopic::Email, idempotency_key, to.account, message.to.clone(), sealed, now);
    tx.enqueue(&row).await?;
    Ok(true)
}

/// Mints a "Not you? Disable account" link in the transaction that writes the notice carrying
/// it. It only freezes, so it survives the security stamp (an attacker who changes the password
/// must not disarm the victim's old emails), is not spent by use, and lives
/// `CUSTOS_DISABLE_LINK_TTL` (default 30 days). The stamp at issue is not recorded: nothing checks it.
async fn disable_link(
    tx: &mut dyn Tx,
    state: &AppState,
    account: AccountId,
    now: Timestamp,
) -> Result<String, ApiError> {
    let token = BearerToken::generate();
    tx.insert_link_token(&LinkTokenRecord {
        id: LinkTokenId::new(),
        token_hash: token.hash(),
        purpose: LinkPurpose::DisableAccount,
        account_id: account,
        subject: None,
        stamp_at_issue: Vec::new(),
        created_at: now,
        expires_at: now.plus(state.config.disable_link_ttl),
        used_at: None,
    })
    .await?;
    Ok(state.config.link(&format!("/disable/{}", token.expose())))
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

/// Queues `event` for every configured webhook endpoint (none configured: nothing is queued), in
/// the command's transaction. `data` is the event's object; `now` is when the event happened and
/// becomes the body's `timestamp`. Each endpoint's row is keyed `{idempotency_key}:{endpoint
/// index}`, so queuing the same event twice sends it once, and its recipient is the endpoint URL.
/// The body is sealed at rest like every outbox payload; it is signed only when sent.
pub async fn webhook(
    tx: &mut dyn Tx,
    state: &AppState,
    account: Option<AccountId>,
    event: WebhookEvent,
    data: impl serde::Serialize + Send,
    idempotency_key: String,
    now: Timestamp,
) -> Result<(), ApiError> {
    if state.config.webhooks.is_empty() {
        return Ok(());
    }
    let body = serde_json::to_vec(&WebhookPayload::<_>::new(event, now, data))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    for (index, endpoint) in state.config.webhooks.iter().enumerate() {
        let key = format!("{idempotency_key}:{index}");
        let sealed = state.config.keys.seal(KeyPurpose::OutboxPayload, key.as_bytes(), &body);
        let row =
            OutboxRecord::new(OutboxTopic::Webhook, key, account, endpoint.url.to_string(), sealed, now);
        tx.enqueue(&row).await?;
    }
    Ok(())
}
