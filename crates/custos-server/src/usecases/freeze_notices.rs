//! What the holder is told about a freeze: the channel and the receipt in words (the email, the
//! receipt page, the case), and the notices a freeze queues in its own transaction — the email with
//! the anti-phishing code, an SMS to a verified number, the `account.frozen` webhook.

use custos_core::Timestamp;
use custos_core::freeze::{FreezeChannel, FreezeReceipt};
use custos_core::notice::{Notice, SmsText};
use custos_core::webhook::WebhookEvent;
use custos_store::{AccountRecord, Tx};

use super::notify::{self, Recipient};
use crate::error::ApiError;
use crate::state::AppState;

/// The channel in words, for the holder.
pub fn channel_words(c: FreezeChannel) -> &'static str {
    match c {
        FreezeChannel::SecurityCenter => "from the security center",
        FreezeChannel::EmailLink => "with the disable link in a security email",
        FreezeChannel::PanicCode => "with the account's panic code",
        FreezeChannel::Support => "by support",
        FreezeChannel::Policy => "by an automatic security policy",
    }
}

/// The receipt in sentences, for the email (and the page).
pub fn receipt_lines(r: &FreezeReceipt) -> Vec<String> {
    let mut lines = Vec::new();
    lines.push(format!(
        "Sessions ended: {}. API keys revoked: {}.",
        r.sessions_revoked.len(),
        r.api_keys_revoked.len()
    ));
    for w in &r.withdrawals_cancelled {
        lines.push(format!(
            "Cancelled: withdrawal of {} {} to {}; the funds are back in your balance.",
            w.amount, w.asset, w.address
        ));
    }
    for w in &r.withdrawals_intercepted {
        lines.push(format!(
            "Stopped by the wallet: withdrawal of {} {} to {}; the funds are back.",
            w.amount, w.asset, w.address
        ));
    }
    for w in &r.withdrawals_not_stopped {
        lines.push(format!(
            "Could not be stopped: withdrawal of {} {} to {} ({}).",
            w.amount,
            w.asset,
            w.address,
            w.outcome.as_deref().unwrap_or("no answer")
        ));
    }
    for w in &r.withdrawals_beyond_reach {
        lines.push(format!(
            "Already sent, beyond reach: {} {} to {}{}.",
            w.amount,
            w.asset,
            w.address,
            w.txid.as_ref().map(|t| format!(", transaction {t}")).unwrap_or_default()
        ));
    }
    for t in &r.transfers_cancelled {
        lines.push(format!("Cancelled: transfer of {} {} to UID {}.", t.amount, t.asset, t.to_uid));
    }
    lines
}

/// Email (and SMS to a verified number) to the holder, with the anti-phishing code; the
/// `account.frozen` webhook for the exchange.
pub(super) async fn tell(
    state: &AppState,
    tx: &mut dyn Tx,
    account: &AccountRecord,
    receipt: &FreezeReceipt,
    now: Timestamp,
) -> Result<(), ApiError> {
    let key = format!("account_frozen:{}:{}", account.id, now.as_micros());
    notify::email(
        tx,
        state,
        Recipient::holder(account),
        Notice::AccountFrozen {
            at: now,
            channel: channel_words(receipt.channel).to_owned(),
            lines: receipt_lines(receipt),
        },
        key.clone(),
        now,
    )
    .await?;
    if let (Some(phone), Some(_)) = (&account.phone, account.phone_verified_at) {
        notify::sms(tx, state, account, phone, SmsText::AccountFrozen, format!("sms:{key}"), now).await?;
    }
    #[derive(serde::Serialize)]
    struct Frozen<'a> {
        uid: u64,
        receipt: &'a FreezeReceipt,
    }
    let data = Frozen { uid: account.uid.get(), receipt };
    notify::webhook(tx, state, Some(account.id), WebhookEvent::AccountFrozen, data, key, now).await
}
