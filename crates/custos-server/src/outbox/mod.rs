//! Outbox delivery: claim due messages, deliver, record the outcome. At-least-once: a crash
//! between sending and recording re-sends with the same Message-ID, which receivers deduplicate.

pub mod mail;
pub mod sms;
pub mod webhook;

use std::time::Duration;

use custos_core::crypto::KeyPurpose;
use custos_core::notice::{EmailMessage, SmsMessage, delivery_backoff};
use custos_store::{OutboxRecord, OutboxTopic};
use tokio::sync::watch;

use crate::state::AppState;
use mail::Mailer;
use sms::SmsSender;
use webhook::WebhookSender;

const LEASE: Duration = Duration::from_secs(60);
const BATCH: u32 = 20;

/// Where messages go: email, text and webhooks.
pub struct Channels {
    pub mail: Mailer,
    pub sms: SmsSender,
    pub webhooks: WebhookSender,
}

/// Runs until `shutdown` changes: delivers whatever is due, then sleeps until woken or polled.
pub async fn run(state: AppState, channels: Channels, mut shutdown: watch::Receiver<bool>) {
    loop {
        let delivered = match deliver_due(&state, &channels).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "outbox: claiming messages failed");
                0
            }
        };
        if delivered == 0 {
            tokio::select! {
                _ = state.outbox_wake.notified() => {}
                _ = tokio::time::sleep(state.config.outbox_poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// One pass: claims up to a batch of due messages and tries each once. Returns how many were claimed.
pub async fn deliver_due(state: &AppState, channels: &Channels) -> Result<usize, custos_store::StoreError> {
    let now = state.clock.now();
    let batch = state.store.claim_outbox(now, LEASE, BATCH).await?;
    for message in &batch {
        let outcome = deliver(state, channels, message).await;
        let now = state.clock.now();
        match outcome {
            Ok(purge) => state.store.outbox_delivered(message.id, now, purge).await?,
            Err(error) => {
                tracing::warn!(id = %message.id, attempts = message.attempts, %error, "outbox: delivery failed");
                let next = now.plus(delivery_backoff(message.attempts));
                state.store.outbox_failed(message.id, next, &error).await?;
            }
        }
    }
    Ok(batch.len())
}

/// Delivers one message; `Ok(purge)` says whether its payload should now be erased.
async fn deliver(state: &AppState, channels: &Channels, m: &OutboxRecord) -> Result<bool, String> {
    let sealed = m.payload.as_deref().ok_or("payload already purged")?;
    let plaintext = state
        .config
        .keys
        .open(KeyPurpose::OutboxPayload, m.idempotency_key.as_bytes(), sealed)
        .map_err(|e| e.to_string())?;
    match m.topic {
        OutboxTopic::Email => {
            let message: EmailMessage = serde_json::from_slice(&plaintext).map_err(|e| e.to_string())?;
            let rendered = mail::render(&message);
            let message_id = mail::message_id(&m.idempotency_key, &state.config.public_url);
            channels.mail.send(state, &message_id, &message.to, &rendered).await?;
            Ok(message.notice.holds_bearer_link())
        }
        OutboxTopic::Sms => {
            let message: SmsMessage = serde_json::from_slice(&plaintext).map_err(|e| e.to_string())?;
            let message_id = mail::message_id(&m.idempotency_key, &state.config.public_url);
            channels.sms.send(state, &message_id, &message).await?;
            // Texts carry one-time codes: never keep them once sent.
            Ok(true)
        }
        OutboxTopic::Webhook => {
            // The recipient is the endpoint's URL; its secret is read now, so a rotated secret
            // signs messages still waiting. An endpoint removed from the configuration leaves
            // its messages pending (and visible to operators) rather than silently dropped.
            let endpoint = state
                .config
                .webhooks
                .iter()
                .find(|e| e.url.as_str() == m.recipient)
                .ok_or("webhook endpoint no longer configured")?;
            let sent_at = state.clock.now().as_micros().div_euclid(1_000_000);
            let msg_id = webhook::message_id(&m.idempotency_key);
            channels.webhooks.send(endpoint, &msg_id, sent_at, plaintext).await?;
            // Kept after delivery: webhook bodies describe events and hold no bearer secret (no
            // link, code or key), stay sealed at rest, and let an operator show a receiver what
            // it was sent.
            Ok(false)
        }
        OutboxTopic::Case => {
            // Not a message: the second step of a freeze, usually done already by the task the
            // freeze started (then this finds its link stored and does nothing). Its payload holds
            // the case link's token, so it is purged.
            let follow_up = serde_json::from_slice(&plaintext).map_err(|e| e.to_string())?;
            crate::usecases::case_followup::open_after_freeze(state, &follow_up)
                .await
                .map_err(|e| e.to_string())?;
            Ok(true)
        }
    }
}
