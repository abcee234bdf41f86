//! The freeze's follow-up: what a freeze leaves for right after its commit. The freeze's own
//! transaction only mints the case link its receipt shows and queues this follow-up in the outbox
//! (topic `case`); [`open_after_freeze`] then opens the incident case in a transaction of its own
//! (see `usecases::incidents` and docs/incidents.md, "When a case opens").

use custos_core::Timestamp;
use custos_core::audit::{Actor, Chain};
use custos_core::crypto::{BearerToken, KeyPurpose, TokenHash};
use custos_core::ids::{AccountId, FreezeId};
use custos_core::incident::{self, IncidentOrigin};
use custos_core::notice::Notice;
use custos_store::{AccountRecord, FreezeRows, OutboxRecord, OutboxTopic, Tx};
use serde::{Deserialize, Serialize};

use super::incidents::{
    CaseLink, case_url, fill_facts, mask, move_to, open_case, store_case_link, trusted_email_of,
};
use super::notify::{self, Recipient};
use super::{audit, freeze};
use crate::error::ApiError;
use crate::state::AppState;

/// What a freeze leaves for the step after its commit: open the account's case (or attach the
/// freeze to its open one), make the link the receipt already shows valid, and email it to the
/// trusted address the freeze chose. Queued in the outbox (topic `case`, sealed, purged once done)
/// by the freeze's own transaction, so a crash between the two steps loses nothing.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CaseFollowUp {
    account: AccountId,
    /// The freeze whose receipt becomes the case's measures taken (read back from its row, so the
    /// follow-up stays small).
    freeze: FreezeId,
    /// The case link's token, as the receipt shows it.
    token: String,
    /// The trusted address at the time of the freeze, if any.
    email: Option<String>,
}

/// The outbox key of the follow-up whose link token is `hash`: the case page finds a follow-up
/// still pending from the link alone.
pub(super) fn follow_up_key(hash: &TokenHash) -> String {
    format!("case:{}", hex::encode(hash.as_bytes()))
}

/// Inside the freeze's transaction: the case link the receipt shows, where it will be emailed, and
/// the follow-up that opens the case once the freeze has committed ([`open_after_freeze`]). Opening
/// the case here would add its row, its link token and their indexes to the commit every victim
/// waits for. The freeze read the contact changes since `incidents::trusted_window_start` with everything
/// else (`rows`), so nothing here waits for a read. Returns the link and the follow-up's key.
pub(crate) async fn case_for_freeze(
    state: &AppState,
    tx: &mut dyn Tx,
    account: &AccountRecord,
    freeze: FreezeId,
    rows: &FreezeRows,
    now: Timestamp,
) -> Result<(CaseLink, String), ApiError> {
    let token = BearerToken::generate();
    let email = trusted_email_of(account, &rows.contact_changes);
    let link = CaseLink { url: case_url(state, &token), emailed_to: email.as_deref().map(mask) };
    let follow_up = CaseFollowUp { account: account.id, freeze, token: token.expose().to_owned(), email };
    let key = follow_up_key(&token.hash());
    let plaintext = serde_json::to_vec(&follow_up).map_err(|e| ApiError::Internal(e.to_string()))?;
    let sealed = state.config.keys.seal(KeyPurpose::OutboxPayload, key.as_bytes(), &plaintext);
    tx.enqueue(&OutboxRecord::new(
        OutboxTopic::Case,
        key.clone(),
        Some(account.id),
        "custos".into(),
        sealed,
        now,
    ))
    .await?;
    Ok((link, key))
}

/// Inside a freeze that found the account frozen already, before the first freeze's follow-up has
/// opened the case: the link that freeze's receipt shows, taken from the follow-up still queued.
/// The case page opens it at once (it runs a pending follow-up first). Not emailed again.
pub(crate) async fn pending_link(
    state: &AppState,
    tx: &mut dyn Tx,
    account: AccountId,
) -> Result<Option<CaseLink>, ApiError> {
    let pending = tx.pending_outbox_of(account, OutboxTopic::Case).await?;
    let Some(f) = pending.last().map(|m| queued_follow_up(state, m)).transpose()?.flatten() else {
        return Ok(None);
    };
    let token =
        BearerToken::parse(&f.token).ok_or_else(|| ApiError::Internal("case follow-up token".into()))?;
    Ok(Some(CaseLink { url: case_url(state, &token), emailed_to: None }))
}

/// The follow-up a queued message carries (`None` once its payload was purged).
fn queued_follow_up(state: &AppState, m: &OutboxRecord) -> Result<Option<CaseFollowUp>, ApiError> {
    let Some(sealed) = m.payload.as_deref() else { return Ok(None) };
    let plaintext = state
        .config
        .keys
        .open(KeyPurpose::OutboxPayload, m.idempotency_key.as_bytes(), sealed)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    serde_json::from_slice(&plaintext).map(Some).map_err(|e| ApiError::Internal(e.to_string()))
}

/// What a freeze did, in sentences, for the case's measures taken.
fn measures_of(freeze: &custos_store::FreezeRecord) -> Vec<String> {
    let words = freeze::channel_words(freeze.channel);
    let mut measures = vec![format!("Account frozen {words} at {}.", freeze.frozen_at.rfc3339())];
    measures.extend(freeze::receipt_lines(&freeze.receipt));
    measures.truncate(incident::MAX_FACT_ITEMS);
    measures
}

/// The freeze's second step, in a transaction of its own: writes the key revocation into the key
/// rows; opens the account's case, or attaches the freeze to its open one; stores the case link;
/// emails it to the trusted address only. Run
/// at least once (the task the freeze starts, the outbox worker, the case page); a link already
/// stored means it ran.
pub(crate) async fn open_after_freeze(state: &AppState, f: &CaseFollowUp) -> Result<(), ApiError> {
    let token =
        BearerToken::parse(&f.token).ok_or_else(|| ApiError::Internal("case follow-up token".into()))?;
    // Committed with the follow-up, so always there.
    let frozen = state.store.freezes(f.account).await?.into_iter().find(|r| r.id == f.freeze);
    let frozen = frozen.ok_or_else(|| ApiError::Internal("case follow-up: its freeze is missing".into()))?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let Some(account) = tx.lock_account(f.account).await? else { return Ok(()) };
    if tx.link_token_by_hash(&token.hash()).await?.is_some() {
        return Ok(());
    }
    // The freeze revoked the keys with the account's cut; their rows now say so too.
    tx.settle_api_key_cut(account.id).await?;
    let open = tx.open_incident_of(account.id).await?;
    let case = match open {
        None => {
            let origin = IncidentOrigin::Freeze { channel: frozen.channel };
            open_case(&mut *tx, state, &account, origin, measures_of(&frozen), Actor::System, now).await?
        }
        Some(mut case) => {
            if let Some(to) = case.state.after_new_report() {
                let event = move_to(&mut case, to, now)?;
                audit(&mut *tx, Chain::Account(account.id), now, Actor::System, event).await?;
            }
            case.facts.measures_taken.extend(measures_of(&frozen));
            case.facts.measures_taken.truncate(incident::MAX_FACT_ITEMS);
            case.updated_at = now;
            tx.update_incident(&case).await?;
            case
        }
    };
    store_case_link(&mut *tx, &case, token.hash(), now).await?;
    if let Some(to) = &f.email {
        let recipient = Recipient {
            account: Some(account.id),
            email: to,
            anti_phishing_code: account.anti_phishing_code.as_deref(),
        };
        let notice = Notice::CaseLink {
            uid: account.uid.get(),
            opened_at: case.opened_at,
            case_url: case_url(state, &token),
        };
        let key = format!("case_link:{}:{}", case.id, frozen.frozen_at.as_micros());
        notify::email(&mut *tx, state, recipient, notice, key, now).await?;
    }
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(())
}

/// Runs the follow-up queued under `key` now if it is still pending, and marks it done. Answers
/// whether there is a follow-up under `key` at all: pending until now, or run already (by the
/// task its freeze started or by the outbox worker, perhaps while the caller was looking for the
/// link). Either way, once this answers `true` the link it stores exists.
pub(super) async fn open_pending(state: &AppState, key: &str) -> Result<bool, ApiError> {
    let Some(m) = state.store.outbox_by_key(key).await? else { return Ok(false) };
    if m.delivered_at.is_some() {
        return Ok(true);
    }
    let Some(f) = queued_follow_up(state, &m)? else { return Ok(false) };
    open_after_freeze(state, &f).await?;
    state.store.outbox_delivered(m.id, state.clock.now(), true).await?;
    Ok(true)
}

/// After a freeze commits: opens its case ([`open_after_freeze`]) and fills the case's facts, in a
/// task of its own. A failure is logged; the outbox worker retries the first, the next read of the
/// case the second.
pub(crate) fn open_in_background(state: &AppState, account: AccountId, follow_up: String) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = open_pending(&state, &follow_up).await {
            tracing::warn!(error = %e, "opening a frozen account's case failed; the outbox retries");
            return;
        }
        if let Err(e) = fill_facts(&state, account).await {
            tracing::warn!(error = %e, "filling an incident's facts failed; the next read retries");
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use custos_core::clock::SystemClock;
    use custos_core::password::{Password, PasswordHasher};
    use custos_store::Store;
    use custos_store::testing::{TempDir, fresh_sqlite};

    use super::*;
    use crate::config::RawConfig;
    use crate::hashing::HashPool;
    use crate::outbox;
    use crate::usecases::accounts::Registration;
    use crate::usecases::freeze::{FreezeBy, freeze_locked};
    use crate::usecases::incidents::case_by_link;
    use crate::{Config, Overrides};

    /// The app's state without its workers: nothing runs after a commit unless the test runs it.
    fn state(store: Store, dir: &TempDir) -> AppState {
        let raw = RawConfig { data_dir: Some(dir.path().display().to_string()), ..Default::default() };
        let config =
            Config::from_raw(raw, Overrides { listen: Some("127.0.0.1:0".into()), ..Default::default() })
                .unwrap();
        let hashes = HashPool::new(PasswordHasher::new(config.hash_cost).unwrap(), 1, 4);
        AppState::new(store, Arc::new(SystemClock), config, hashes)
    }

    /// A verified account, made as `custos user create` makes one.
    async fn account(state: &AppState, email: &str) -> AccountId {
        let password = Password::new("correct horse battery staple 42".into());
        let reg = Registration { email: email.into(), password, phone: None };
        let uid = crate::usecases::operator::create_account(state, reg, "test").await.unwrap();
        state.store.account_by_uid(uid).await.unwrap().unwrap().id
    }

    /// Freezes and commits, then stops — as a process that dies right after the commit would,
    /// before the follow-up that opens the case ran. Returns the case link's token.
    async fn freeze_and_stop(state: &AppState, account: AccountId) -> (String, Option<String>) {
        let frozen = freeze_committed(state, account, "test").await;
        let case = frozen.case.expect("a first freeze shows a case link");
        (case.url.rsplit('/').next().unwrap().to_owned(), case.emailed_to)
    }

    /// An account frozen by a process that stopped right after the commit ([`freeze_and_stop`]).
    struct Stopped {
        store: Store,
        dir: TempDir,
        state: AppState,
        id: AccountId,
        /// The case link's token, as the receipt shows it.
        token: String,
        emailed_to: Option<String>,
    }

    async fn frozen_and_stopped(email: &str) -> Stopped {
        let (store, dir) = fresh_sqlite().await.unwrap();
        let state = state(store.clone(), &dir);
        let id = account(&state, email).await;
        let (token, emailed_to) = freeze_and_stop(&state, id).await;
        Stopped { store, dir, state, id, token, emailed_to }
    }

    /// Freezes by policy `name` and commits, running nothing after the commit.
    async fn freeze_committed(state: &AppState, account: AccountId, name: &str) -> freeze::Frozen {
        let mut tx = state.store.begin().await.unwrap();
        let locked = tx.lock_account(account).await.unwrap().unwrap();
        let by = FreezeBy::Policy { name: name.into() };
        let frozen = freeze_locked(state, &mut *tx, &locked, &by, name).await.unwrap();
        tx.commit().await.unwrap();
        frozen
    }

    #[tokio::test]
    async fn a_receipts_case_link_opens_the_case_its_freeze_left_pending_and_only_once() {
        let Stopped { store, state, id, token, emailed_to, dir: _dir } =
            frozen_and_stopped("victim@example.com").await;
        assert_eq!(emailed_to.as_deref(), Some("v***@example.com"));
        assert!(store.incidents_of(id).await.unwrap().is_empty(), "the freeze's commit holds no case");

        // The link works at once: the page runs the pending follow-up first.
        let view = case_by_link(&state, &token).await.unwrap();
        let cases = store.incidents_of(id).await.unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(view.incident.id, cases[0].id.to_string());
        assert_eq!(cases[0].origin.as_string(), "freeze:policy");
        assert!(
            cases[0].facts.measures_taken[0].starts_with("Account frozen by an automatic security policy")
        );
        let key = follow_up_key(&BearerToken::parse(&token).unwrap().hash());
        let done = store.outbox_by_key(&key).await.unwrap().unwrap();
        assert!(done.delivered_at.is_some() && done.payload.is_none(), "done, and its token purged");

        // Run again (the outbox worker's lease ran out, say): nothing more is written.
        let freeze = store.freezes(id).await.unwrap()[0].id;
        let follow_up = CaseFollowUp {
            account: id,
            freeze,
            token: token.clone(),
            email: Some("victim@example.com".into()),
        };
        open_after_freeze(&state, &follow_up).await.unwrap();
        let again = store.incidents_of(id).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].facts.measures_taken, cases[0].facts.measures_taken);
        let case_mails = store.outbox_pending(100).await.unwrap();
        let case_mails = case_mails.iter().filter(|m| m.idempotency_key.starts_with("case_link:")).count();
        assert_eq!(case_mails, 1, "the case link is emailed once, to the address from before any change");
    }

    #[tokio::test]
    async fn a_follow_up_that_ran_while_the_page_looked_for_its_link_still_lets_the_page_open_it() {
        let Stopped { store, state, id, token, dir: _dir, .. } =
            frozen_and_stopped("racer@example.com").await;
        let key = follow_up_key(&BearerToken::parse(&token).unwrap().hash());
        // The page found no link yet; meanwhile the freeze's own task ran the follow-up to the end.
        assert!(open_pending(&state, &key).await.unwrap(), "it ran now");
        assert!(store.outbox_by_key(&key).await.unwrap().unwrap().delivered_at.is_some());
        // The page asks next: the follow-up is done, so the link it stored is there to open.
        assert!(open_pending(&state, &key).await.unwrap(), "it ran before: the link exists");
        assert_eq!(store.incidents_of(id).await.unwrap().len(), 1, "and it did not run twice");
        case_by_link(&state, &token).await.unwrap();
        // A key no freeze queued has no follow-up.
        let forged = follow_up_key(&BearerToken::generate().hash());
        assert!(!open_pending(&state, &forged).await.unwrap());
    }

    #[tokio::test]
    async fn a_second_freeze_before_the_case_opened_shows_the_first_freezes_case_link() {
        let Stopped { store, state, id, token, dir: _dir, .. } =
            frozen_and_stopped("twice@example.com").await;
        // Frozen again (another channel) while the first freeze's follow-up is still queued.
        let again = freeze_committed(&state, id, "again").await;
        assert!(again.already_frozen);
        let case = again.case.expect("the first freeze's case link");
        assert!(case.url.ends_with(&format!("/case/{token}")), "{}", case.url);
        assert_eq!(case.emailed_to, None, "not emailed again");
        // It opens the case at once.
        case_by_link(&state, &token).await.unwrap();
        assert_eq!(store.incidents_of(id).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_outbox_worker_opens_the_case_of_a_freeze_whose_process_stopped() {
        let Stopped { store, state, id, token, dir: _dir, .. } =
            frozen_and_stopped("owner@example.com").await;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let channels = outbox::Channels {
            mail: outbox::mail::Mailer::from_config(None, "custos@example.com").unwrap(),
            sms: outbox::sms::SmsSender::from_config(None, "custos").unwrap(),
            webhooks: outbox::webhook::WebhookSender::new(false).unwrap(),
        };
        while outbox::deliver_due(&state, &channels).await.unwrap() > 0 {}
        assert_eq!(store.incidents_of(id).await.unwrap().len(), 1);
        assert!(store.outbox_pending(100).await.unwrap().is_empty(), "the case email went too");
        let mail = store.dev_mail(100).await.unwrap();
        assert!(mail.iter().any(|m| m.text_body.contains(&format!("/case/{token}"))), "{mail:?}");
        // The link opens the case the worker opened.
        case_by_link(&state, &token).await.unwrap();
    }
}
