//! One storage conformance suite, run against SQLite and PostgreSQL. A test here is a sentence
//! about the store's contract; each runs on a fresh database.

use std::time::Duration;

use custos_core::Timestamp;
use custos_core::api_key::{ApiKeyId, IpAllowlist, KeyKind, Scopes};
use custos_core::audit::{Actor, AuditEvent, Chain, RevokeReason, verify_chain};
use custos_core::crypto::BearerToken;
use custos_core::ids::*;
use custos_core::link_token::LinkPurpose;
use custos_core::login::{AccountStatus, LoginOutcome};
use custos_core::risk::{Signal, SignalCode};
use custos_core::session::Aal;
use custos_store::testing::{fresh_postgres, fresh_sqlite, postgres_url};

use custos_store::*;

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _dir) = fresh_sqlite().await.expect("sqlite store");
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(url) = postgres_url(concat!("storage conformance: ", stringify!($name))) else { return };
                    let store = fresh_postgres(&url).await.expect("postgres store");
                    super::$name(store.clone()).await;
                    store.close().await;
                }
            )*
        }
    };
}

conformance!(
    a_login_reads_account_device_factors_and_throttles_in_one_lookup,
    accounts_are_unique_by_email_key_and_uid,
    a_dropped_transaction_leaves_nothing_behind,
    sessions_are_found_by_token_hash_with_their_account,
    revoking_others_keeps_the_current_session,
    a_single_use_link_is_spent_exactly_once,
    audit_chains_link_and_verify_after_a_round_trip,
    concurrent_commands_on_one_account_serialise,
    audit_records_cannot_be_updated_or_deleted,
    the_outbox_is_idempotent_and_claims_each_message_once,
    failed_deliveries_come_back_after_their_backoff,
    an_accounts_pending_messages_of_a_topic_are_listed_oldest_first,
    every_outbox_topic_round_trips,
    throttles_count_failures_in_a_window,
    login_events_and_devices_are_listed_newest_first,
    prices_are_kept_exactly_once_per_asset_and_instant,
    the_dev_mailbox_keeps_one_copy_per_message_id,
    a_totp_step_is_accepted_once_and_enrolment_needs_confirmation,
    recovery_codes_are_single_use_and_a_new_set_replaces_the_old,
    challenges_count_attempts_and_are_spent_once,
    account_settings_round_trip_and_emails_stay_unique,
    sessions_are_reissued_with_a_new_token,
    passkeys_are_unique_by_credential_id_and_belong_to_their_account,
    passkey_ceremonies_are_spent_once_and_purged_after_expiry,
    balances_hold_any_u128_and_every_change_has_a_ledger_entry,
    ledger_entries_cannot_be_updated_or_deleted,
    integration_events_are_recorded_once_with_their_digest,
    withdrawals_round_trip_and_idempotency_keys_are_unique_per_account,
    service_tokens_are_found_by_hash,
    transfers_are_listed_for_both_sides_and_held_ones_come_due,
    api_keys_round_trip_belong_to_their_account_and_are_revoked_once,
    a_reused_nonce_is_refused_without_aborting_the_transaction,
    allowlist_entries_are_confirmed_and_removed_once_and_belong_to_their_account,
    allowlist_modes_default_to_off_and_round_trip,
    staff_are_unique_by_email_and_staff_id_and_activate_once,
    staff_sessions_are_found_by_hash_and_die_with_a_disable,
    official_channels_are_unique_per_kind_and_removed_once,
);

#[path = "conformance/freeze.rs"]
mod freeze;
#[path = "conformance/incidents.rs"]
mod incidents;

fn t(s: i64) -> Timestamp {
    Timestamp::from_micros(1_800_000_000_000_000 + s * 1_000_000)
}

fn account(email: &str) -> AccountRecord {
    AccountRecord {
        id: AccountId::new(),
        uid: Uid::random(),
        email: email.to_owned(),
        email_key: email.to_ascii_lowercase(),
        email_verified_at: None,
        phone: None,
        status: AccountStatus::Active,
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        security_stamp: vec![1; 16],
        anti_phishing_code: None,
        created_at: t(0),
        withdrawal_lock_until: None,
        withdrawal_lock_reason: None,
        phone_verified_at: None,
        sms_enabled_at: None,
    }
}

async fn create_account(store: &Store, email: &str) -> AccountRecord {
    let a = account(email);
    let mut tx = store.begin().await.unwrap();
    tx.insert_account(&a).await.unwrap();
    tx.commit().await.unwrap();
    a
}

async fn create_session(store: &Store, a: &AccountRecord, at: Timestamp) -> (SessionRecord, BearerToken) {
    let token = BearerToken::generate();
    let device = DeviceRecord {
        id: DeviceId::new(),
        account_id: a.id,
        key_hash: BearerToken::generate().hash(),
        user_agent: "test".into(),
        first_seen_at: at,
        last_seen_at: at,
        last_ip: Some("203.0.113.9".parse().unwrap()),
    };
    let s = SessionRecord {
        id: SessionId::new(),
        account_id: a.id,
        token_hash: token.hash(),
        device_id: device.id,
        ip: device.last_ip,
        user_agent: "test".into(),
        aal: Aal::Aal1,
        authenticated_at: at,
        stepped_up_at: None,
        created_at: at,
        last_seen_at: at,
        stamp_at_issue: a.security_stamp.clone(),
        revoked_at: None,
        revoke_reason: None,
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_device(&device).await.unwrap();
    tx.insert_session(&s).await.unwrap();
    tx.commit().await.unwrap();
    (s, token)
}

async fn accounts_are_unique_by_email_key_and_uid(store: Store) {
    let a = create_account(&store, "Alice@example.com").await;
    let mut tx = store.begin().await.unwrap();
    let clash = AccountRecord { id: AccountId::new(), uid: Uid::random(), ..a.clone() };
    assert!(matches!(tx.insert_account(&clash).await, Err(StoreError::Conflict("email"))));
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    let same_uid = AccountRecord { id: AccountId::new(), email_key: "bob@example.com".into(), ..a.clone() };
    assert!(matches!(tx.insert_account(&same_uid).await, Err(StoreError::Conflict("uid"))));
    drop(tx);

    let found = store.account_by_email_key("alice@example.com").await.unwrap().unwrap();
    assert_eq!((found.id, found.uid, found.email.as_str()), (a.id, a.uid, "Alice@example.com"));
    assert_eq!(store.account_by_uid(a.uid).await.unwrap().unwrap().id, a.id);
    assert!(store.account_by_email_key("nobody@example.com").await.unwrap().is_none());

    let mut tx = store.begin().await.unwrap();
    tx.set_email_verified(a.id, t(5)).await.unwrap();
    tx.set_email_verified(a.id, t(9)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.account(a.id).await.unwrap().unwrap().email_verified_at, Some(t(5)));
}

async fn a_dropped_transaction_leaves_nothing_behind(store: Store) {
    let a = account("carol@example.com");
    let mut tx = store.begin().await.unwrap();
    tx.insert_account(&a).await.unwrap();
    tx.append_audit(Chain::Account(a.id), t(0), Actor::System, AuditEvent::EmailVerified).await.unwrap();
    drop(tx);
    assert!(store.account(a.id).await.unwrap().is_none());
    assert!(store.audit_chains().await.unwrap().is_empty());
    // The next transaction starts clean: the dropped one was rolled back before it got a
    // connection (on SQLite, the one writer connection).
    let mut tx = store.begin().await.unwrap();
    tx.insert_account(&a).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.account(a.id).await.unwrap().is_some());
    // A transaction that only queued writes, dropped, leaves nothing either.
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(Chain::Account(a.id), t(1), Actor::System, AuditEvent::EmailVerified).await.unwrap();
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    tx.lock_account(a.id).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(store.audit_chains().await.unwrap().is_empty());
}

async fn sessions_are_found_by_token_hash_with_their_account(store: Store) {
    let a = create_account(&store, "dave@example.com").await;
    let (s, token) = create_session(&store, &a, t(1)).await;
    let found = store.session_with_account(&token.hash()).await.unwrap().unwrap();
    assert_eq!(found.session.id, s.id);
    assert_eq!(found.session.ip, s.ip);
    assert_eq!(found.account_stamp, a.security_stamp);
    assert_eq!(found.account_status, AccountStatus::Active);
    assert!(store.session_with_account(&BearerToken::generate().hash()).await.unwrap().is_none());

    store.touch_session(s.id, t(100)).await.unwrap();
    store.touch_session(s.id, t(50)).await.unwrap(); // never moves backwards
    let found = store.session_with_account(&token.hash()).await.unwrap().unwrap();
    assert_eq!(found.session.last_seen_at, t(100));
}

async fn revoking_others_keeps_the_current_session(store: Store) {
    let a = create_account(&store, "erin@example.com").await;
    let (keep, _) = create_session(&store, &a, t(1)).await;
    let (other1, _) = create_session(&store, &a, t(2)).await;
    let (_other2, _) = create_session(&store, &a, t(3)).await;
    let mut tx = store.begin().await.unwrap();
    assert!(tx.revoke_session(a.id, other1.id, t(4), RevokeReason::RevokedByUser).await.unwrap());
    assert!(!tx.revoke_session(a.id, other1.id, t(4), RevokeReason::RevokedByUser).await.unwrap());
    assert_eq!(
        tx.revoke_sessions(a.id, Some(keep.id), t(5), RevokeReason::OthersRevokedByUser).await.unwrap(),
        1
    );
    tx.commit().await.unwrap();
    let sessions = store.sessions(a.id, 10).await.unwrap();
    let live: Vec<_> = sessions.iter().filter(|s| s.revoked_at.is_none()).map(|s| s.id).collect();
    assert_eq!(live, vec![keep.id]);
    let r1 = sessions.iter().find(|s| s.id == other1.id).unwrap();
    assert_eq!((r1.revoked_at, r1.revoke_reason), (Some(t(4)), Some(RevokeReason::RevokedByUser)));

    let stranger = create_account(&store, "mallory@example.com").await;
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.revoke_session(stranger.id, keep.id, t(6), RevokeReason::RevokedByUser).await.unwrap());
}

async fn a_single_use_link_is_spent_exactly_once(store: Store) {
    let a = create_account(&store, "frank@example.com").await;
    let token = BearerToken::generate();
    let link = LinkTokenRecord {
        id: LinkTokenId::new(),
        token_hash: token.hash(),
        purpose: LinkPurpose::VerifyEmail,
        account_id: a.id,
        subject: None,
        stamp_at_issue: a.security_stamp.clone(),
        created_at: t(0),
        expires_at: t(600),
        used_at: None,
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_link_token(&link).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let found = tx.link_token_by_hash(&token.hash()).await.unwrap().unwrap();
    assert_eq!((found.purpose, found.expires_at, found.used_at), (LinkPurpose::VerifyEmail, t(600), None));
    assert!(tx.mark_link_token_used(found.id, t(10)).await.unwrap());
    assert_eq!(tx.spend_links(a.id, LinkPurpose::VerifyEmail, t(10)).await.unwrap(), 0, "already spent");
    assert!(!tx.mark_link_token_used(found.id, t(11)).await.unwrap());
    tx.commit().await.unwrap();
}

async fn audit_chains_link_and_verify_after_a_round_trip(store: Store) {
    let a = create_account(&store, "grace@example.com").await;
    for i in 0..5 {
        let mut tx = store.begin().await.unwrap();
        let at = Timestamp::from_micros(t(i).as_micros() + 123_457); // sub-second precision survives
        tx.append_audit(
            Chain::Account(a.id),
            at,
            Actor::Anonymous { ip: Some("2001:db8::1".parse().unwrap()) },
            AuditEvent::LoginFailed { ip: None, reason: "wrong_credentials".into() },
        )
        .await
        .unwrap();
        tx.append_audit(
            Chain::System,
            at,
            Actor::Operator { name: "ops".into() },
            AuditEvent::VerificationLinkSent,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let chains = store.audit_chains().await.unwrap();
    assert_eq!(chains, vec![Chain::Account(a.id).key(), "system".to_owned()]);
    for chain in chains {
        let records = store.audit_records(&chain, 0, 100).await.unwrap();
        assert_eq!(verify_chain(&records), Ok(5));
        assert_eq!(store.audit_records(&chain, 3, 100).await.unwrap().len(), 2);
    }
}

async fn concurrent_commands_on_one_account_serialise(store: Store) {
    let a = create_account(&store, "heidi@example.com").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.lock_account(a.id).await.unwrap().unwrap();
            tx.append_audit(Chain::Account(a.id), t(i), Actor::System, AuditEvent::EmailVerified)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let records = store.audit_records(&Chain::Account(a.id).key(), 0, 100).await.unwrap();
    assert_eq!(verify_chain(&records), Ok(16));
}

async fn audit_records_cannot_be_updated_or_deleted(store: Store) {
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(Chain::System, t(0), Actor::System, AuditEvent::VerificationLinkSent).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.execute_unchecked_for_tests("UPDATE audit_records SET at = 0").await.is_err());
    assert!(store.execute_unchecked_for_tests("DELETE FROM audit_records").await.is_err());
    assert_eq!(verify_chain(&store.audit_records("system", 0, 10).await.unwrap()), Ok(1));
}

fn outbox(key: &str, at: Timestamp) -> OutboxRecord {
    OutboxRecord::new(OutboxTopic::Email, key.into(), None, "ivan@example.com".into(), b"sealed".to_vec(), at)
}

async fn the_outbox_is_idempotent_and_claims_each_message_once(store: Store) {
    let mut tx = store.begin().await.unwrap();
    tx.enqueue(&outbox("k1", t(0))).await.unwrap();
    tx.enqueue(&outbox("k1", t(0))).await.unwrap();
    tx.enqueue(&outbox("k2", t(0))).await.unwrap();
    tx.enqueue(&outbox("later", t(100))).await.unwrap();
    assert_eq!(tx.outbox_count_since("ivan@example.com", t(0), &["k", "later"]).await.unwrap(), 3);
    assert_eq!(tx.outbox_count_since("ivan@example.com", t(0), &["k1", "later"]).await.unwrap(), 2);
    assert_eq!(tx.outbox_count_since("ivan@example.com", t(50), &["k", "later"]).await.unwrap(), 1);
    tx.commit().await.unwrap();

    let lease = Duration::from_secs(60);
    let (a, b) = tokio::join!(store.claim_outbox(t(1), lease, 10), store.claim_outbox(t(1), lease, 10));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut keys: Vec<_> = a.iter().chain(b.iter()).map(|m| m.idempotency_key.clone()).collect();
    keys.sort();
    assert_eq!(keys, ["k1", "k2"], "each due message is claimed by exactly one worker");
    assert!(a.iter().chain(b.iter()).all(|m| m.attempts == 1));
    assert!(store.claim_outbox(t(2), lease, 10).await.unwrap().is_empty(), "leased rows are not reclaimed");

    let k1 = a.iter().chain(b.iter()).find(|m| m.idempotency_key == "k1").unwrap();
    store.outbox_delivered(k1.id, t(3), true).await.unwrap();
    let stored = store.outbox_message(k1.id).await.unwrap().unwrap();
    assert_eq!((stored.delivered_at, stored.payload), (Some(t(3)), None));
    // After the lease runs out, only the undelivered message comes back.
    let again = store.claim_outbox(t(62), lease, 10).await.unwrap();
    assert_eq!(again.iter().map(|m| m.idempotency_key.as_str()).collect::<Vec<_>>(), ["k2"]);
    assert_eq!(again[0].attempts, 2);
}

async fn every_outbox_topic_round_trips(store: Store) {
    let topics = [OutboxTopic::Email, OutboxTopic::Sms, OutboxTopic::Webhook];
    let mut tx = store.begin().await.unwrap();
    for topic in topics {
        let mut m = outbox(topic.as_str(), t(0));
        m.topic = topic;
        tx.enqueue(&m).await.unwrap();
    }
    tx.commit().await.unwrap();
    let pending = store.outbox_pending(10).await.unwrap();
    for topic in topics {
        let m = pending.iter().find(|m| m.idempotency_key == topic.as_str()).unwrap();
        assert_eq!(m.topic, topic);
    }
}

async fn failed_deliveries_come_back_after_their_backoff(store: Store) {
    let mut tx = store.begin().await.unwrap();
    tx.enqueue(&outbox("retry", t(0))).await.unwrap();
    tx.commit().await.unwrap();
    let m = store.claim_outbox(t(0), Duration::from_secs(60), 10).await.unwrap().remove(0);
    store.outbox_failed(m.id, t(30), "451 try later").await.unwrap();
    assert!(store.claim_outbox(t(29), Duration::from_secs(60), 10).await.unwrap().is_empty());
    let back = store.claim_outbox(t(30), Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].last_error.as_deref(), Some("451 try later"));
}

async fn an_accounts_pending_messages_of_a_topic_are_listed_oldest_first(store: Store) {
    let a = create_account(&store, "pending@example.com").await;
    let b = create_account(&store, "other@example.com").await;
    let queued = |key: &str, account: AccountId, topic: OutboxTopic, at: Timestamp| {
        OutboxRecord::new(topic, key.into(), Some(account), "custos".into(), b"sealed".to_vec(), at)
    };
    let mut tx = store.begin().await.unwrap();
    tx.enqueue(&queued("case:2", a.id, OutboxTopic::Case, t(2))).await.unwrap();
    tx.enqueue(&queued("case:1", a.id, OutboxTopic::Case, t(1))).await.unwrap();
    tx.enqueue(&queued("case:done", a.id, OutboxTopic::Case, t(0))).await.unwrap();
    tx.enqueue(&queued("mail:a", a.id, OutboxTopic::Email, t(1))).await.unwrap();
    tx.enqueue(&queued("case:b", b.id, OutboxTopic::Case, t(1))).await.unwrap();
    tx.commit().await.unwrap();
    let done = store.outbox_by_key("case:done").await.unwrap().unwrap();
    store.outbox_delivered(done.id, t(5), true).await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let pending = tx.pending_outbox_of(a.id, OutboxTopic::Case).await.unwrap();
    let keys: Vec<&str> = pending.iter().map(|m| m.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["case:1", "case:2"], "undelivered, this account's, this topic's, oldest first");
    assert!(tx.pending_outbox_of(a.id, OutboxTopic::Sms).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
}

async fn a_login_reads_account_device_factors_and_throttles_in_one_lookup(store: Store) {
    let nobody = store.login_lookup("nobody@example.com", None, "ip:1", "acct:nobody", 10).await.unwrap();
    assert!(nobody.account.is_none() && !nobody.known_device && !nobody.factors.any());
    assert!(nobody.ip_throttle.is_none() && nobody.account_throttle.is_none());
    assert!(nobody.prior_sign_ins.is_empty());

    let a = create_account(&store, "lookup@example.com").await;
    let key = BearerToken::generate().hash();
    let mut tx = store.begin().await.unwrap();
    tx.insert_device(&DeviceRecord {
        id: DeviceId::new(),
        account_id: a.id,
        key_hash: key,
        user_agent: "test".into(),
        first_seen_at: t(1),
        last_seen_at: t(1),
        last_ip: None,
    })
    .await
    .unwrap();
    tx.record_failure("ip:1", t(2), Duration::from_secs(60)).await.unwrap();
    tx.record_failure("ip:1", t(3), Duration::from_secs(60)).await.unwrap();
    for (at, outcome) in
        [(4, LoginOutcome::Succeeded), (5, LoginOutcome::WrongCredentials), (6, LoginOutcome::Succeeded)]
    {
        tx.insert_login_event(&LoginEventRecord {
            id: LoginEventId::new(),
            account_id: Some(a.id),
            at: t(at),
            outcome,
            ip: Some("203.0.113.7".parse().unwrap()),
            country: Some("NL".into()),
            asn: Some(64_500),
            device_id: None,
            user_agent: "test".into(),
            signals: vec![],
            session_id: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    let found = store.login_lookup(&a.email_key, Some(&key), "ip:1", "acct:lookup", 10).await.unwrap();
    assert_eq!(found.account.as_ref().map(|x| x.id), Some(a.id));
    assert!(found.known_device, "the device signed in here before");
    assert_eq!(found.factors, store.second_factors(a.id).await.unwrap());
    assert_eq!(found.ip_throttle, store.throttle_state("ip:1").await.unwrap());
    assert_eq!(found.ip_throttle.map(|s| s.failures), Some(2));
    assert!(found.account_throttle.is_none());
    let prior: Vec<Timestamp> = found.prior_sign_ins.iter().map(|p| p.at).collect();
    assert_eq!(prior, [t(6)], "successful ones, one per place, with the latest time");
    let read = store.prior_sign_ins(a.id, 10).await.unwrap();
    assert_eq!(
        read.iter().map(|p| (p.at, p.ip, p.asn)).collect::<Vec<_>>(),
        found.prior_sign_ins.iter().map(|p| (p.at, p.ip, p.asn)).collect::<Vec<_>>()
    );
    let stranger = BearerToken::generate().hash();
    assert!(!store.login_lookup(&a.email_key, Some(&stranger), "ip:2", "x", 10).await.unwrap().known_device);
    assert!(!store.login_lookup(&a.email_key, None, "ip:2", "x", 10).await.unwrap().known_device);
}

async fn throttles_count_failures_in_a_window(store: Store) {
    let window = Duration::from_secs(60);
    assert!(store.throttle_state("login:ip:1").await.unwrap().is_none());
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.record_failure("login:ip:1", t(0), window).await.unwrap().failures, 1);
    assert_eq!(tx.record_failure("login:ip:1", t(10), window).await.unwrap().failures, 2);
    let s = tx.record_failure("login:ip:1", t(20), window).await.unwrap();
    assert_eq!((s.failures, s.window_start, s.last_failure_at), (3, t(0), t(20)));
    let fresh = tx.record_failure("login:ip:1", t(61), window).await.unwrap();
    assert_eq!((fresh.failures, fresh.window_start), (1, t(61)), "a new window starts over");
    tx.clear_throttle("login:ip:1").await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.throttle_state("login:ip:1").await.unwrap().is_none());
}

async fn login_events_and_devices_are_listed_newest_first(store: Store) {
    let a = create_account(&store, "judy@example.com").await;
    let (s1, _) = create_session(&store, &a, t(1)).await;
    let mut tx = store.begin().await.unwrap();
    for (i, outcome) in [LoginOutcome::WrongCredentials, LoginOutcome::Succeeded].into_iter().enumerate() {
        tx.insert_login_event(&LoginEventRecord {
            id: LoginEventId::new(),
            account_id: Some(a.id),
            at: t(10 + i as i64),
            outcome,
            ip: Some("198.51.100.4".parse().unwrap()),
            country: Some("DE".into()),
            asn: Some(64_500),
            device_id: Some(s1.device_id),
            user_agent: "Firefox".into(),
            signals: vec![Signal {
                code: SignalCode::NewDevice,
                detail: "First sign-in from this device.".into(),
            }],
            session_id: (outcome == LoginOutcome::Succeeded).then_some(s1.id),
        })
        .await
        .unwrap();
    }
    tx.touch_device(s1.device_id, t(20), Some("198.51.100.5".parse().unwrap()), "Firefox 2").await.unwrap();
    tx.commit().await.unwrap();
    let events = store.login_events(a.id, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.outcome).collect::<Vec<_>>(),
        [LoginOutcome::Succeeded, LoginOutcome::WrongCredentials]
    );
    assert_eq!(events[0].signals.iter().map(|s| s.code).collect::<Vec<_>>(), [SignalCode::NewDevice]);
    assert_eq!(events[0].session_id, Some(s1.id));
    assert_eq!(events[1].session_id, None);
    let prior = store.prior_sign_ins(a.id, 10).await.unwrap();
    assert_eq!(
        prior,
        [PriorSignIn {
            at: t(11),
            ip: Some("198.51.100.4".parse().unwrap()),
            country: Some("DE".into()),
            asn: Some(64_500),
        }],
        "only successful sign-ins, only where and when"
    );
    let opened = store.login_event_of_session(s1.id).await.unwrap().unwrap();
    assert_eq!(
        (opened.id, opened.signals[0].detail.as_str()),
        (events[0].id, "First sign-in from this device.")
    );
    assert!(store.login_event_of_session(SessionId::new()).await.unwrap().is_none());
    assert_eq!((events[0].country.as_deref(), events[0].asn), (Some("DE"), Some(64_500)));
    let devices = store.devices(a.id).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!((devices[0].last_seen_at, devices[0].user_agent.as_str()), (t(20), "Firefox 2"));
    assert_eq!(devices[0].first_seen_at, t(1));
}

async fn the_dev_mailbox_keeps_one_copy_per_message_id(store: Store) {
    let m = DevMail {
        message_id: "<abc@custos>".into(),
        recipient: "kim@example.com".into(),
        subject: "Verify".into(),
        text_body: "text".into(),
        html_body: "<p>html</p>".into(),
        received_at: t(0),
    };
    store.store_dev_mail(&m).await.unwrap();
    store.store_dev_mail(&m).await.unwrap();
    let all = store.dev_mail(10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].subject, "Verify");
}

async fn a_totp_step_is_accepted_once_and_enrolment_needs_confirmation(store: Store) {
    let a = create_account(&store, "totp@example.com").await;
    let mut tx = store.begin().await.unwrap();
    tx.begin_totp_enrolment(a.id, b"sealed-1", t(0)).await.unwrap();
    tx.begin_totp_enrolment(a.id, b"sealed-2", t(1)).await.unwrap(); // restarts an unconfirmed one
    let f = tx.totp_factor(a.id).await.unwrap().unwrap();
    assert_eq!((f.seed_sealed.as_slice(), f.confirmed_at), (&b"sealed-2"[..], None));
    assert!(!tx.accept_totp_step(a.id, 10).await.unwrap(), "no codes before confirmation");
    tx.confirm_totp(a.id, t(2), 10).await.unwrap();
    assert!(!tx.accept_totp_step(a.id, 10).await.unwrap(), "the confirming step is spent");
    assert!(tx.accept_totp_step(a.id, 11).await.unwrap());
    assert!(!tx.accept_totp_step(a.id, 11).await.unwrap());
    assert!(matches!(tx.begin_totp_enrolment(a.id, b"x", t(3)).await, Err(StoreError::Conflict("totp"))));
    tx.commit().await.unwrap();
    assert!(store.second_factors(a.id).await.unwrap().totp);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_totp(a.id).await.unwrap());
    tx.commit().await.unwrap();
    assert!(!store.second_factors(a.id).await.unwrap().totp);
}

async fn recovery_codes_are_single_use_and_a_new_set_replaces_the_old(store: Store) {
    let a = create_account(&store, "codes@example.com").await;
    let old: Vec<_> = (0..10).map(|_| BearerToken::generate().hash()).collect();
    let new: Vec<_> = (0..10).map(|_| BearerToken::generate().hash()).collect();
    let mut tx = store.begin().await.unwrap();
    tx.replace_recovery_codes(a.id, &old, t(0)).await.unwrap();
    assert!(tx.use_recovery_code(a.id, &old[0], t(1)).await.unwrap());
    assert!(!tx.use_recovery_code(a.id, &old[0], t(2)).await.unwrap());
    assert_eq!(tx.unused_recovery_codes(a.id).await.unwrap(), 9);
    tx.replace_recovery_codes(a.id, &new, t(3)).await.unwrap();
    assert!(!tx.use_recovery_code(a.id, &old[1], t(4)).await.unwrap(), "the old set is gone");
    assert!(tx.use_recovery_code(a.id, &new[1], t(4)).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(store.second_factors(a.id).await.unwrap().recovery_codes, 9);
}

async fn challenges_count_attempts_and_are_spent_once(store: Store) {
    let a = create_account(&store, "challenge@example.com").await;
    let token = BearerToken::generate();
    let c = ChallengeRecord {
        id: ChallengeId::new(),
        token_hash: token.hash(),
        account_id: a.id,
        purpose: custos_core::challenge::ChallengePurpose::StepUpEmail,
        code_hash: Some(BearerToken::generate().hash()),
        session_id: Some(SessionId::new()),
        created_at: t(0),
        expires_at: t(600),
        attempts: 0,
        used_at: None,
        code_sent_at: None,
        subject: None,
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_challenge(&c).await.unwrap();
    tx.count_challenge_attempt(c.id).await.unwrap();
    let texted = BearerToken::generate().hash();
    tx.set_challenge_code(c.id, &texted, t(7)).await.unwrap();
    let found = tx.challenge_by_hash(&token.hash()).await.unwrap().unwrap();
    assert_eq!((found.code_hash, found.code_sent_at), (Some(texted), Some(t(7))));
    let c = ChallengeRecord { code_hash: Some(texted), ..c };
    assert_eq!((found.attempts, found.code_hash, found.session_id), (1, c.code_hash, c.session_id));
    assert!(tx.use_challenge(c.id, t(5)).await.unwrap());
    assert!(!tx.use_challenge(c.id, t(6)).await.unwrap());
    tx.commit().await.unwrap();
}

async fn account_settings_round_trip_and_emails_stay_unique(store: Store) {
    let a = create_account(&store, "settings@example.com").await;
    create_account(&store, "taken@example.com").await;
    let mut tx = store.begin().await.unwrap();
    tx.set_withdrawal_lock(a.id, Some(t(86_400)), Some("password_changed")).await.unwrap();
    tx.set_anti_phishing_code(a.id, Some("blue-otter")).await.unwrap();
    tx.set_phone(a.id, Some("+4915112345678")).await.unwrap();
    assert!(!store.second_factors(a.id).await.unwrap().sms);
    tx.set_email(a.id, "New@example.com", "new@example.com", t(5)).await.unwrap();
    for (i, pw) in ["h1", "h2", "h3"].into_iter().enumerate() {
        let e = PasswordHistoryRecord {
            password_hash: pw.into(),
            skeleton_mac: vec![i as u8],
            created_at: t(i as i64),
        };
        tx.insert_password_history(a.id, &e).await.unwrap();
    }
    tx.commit().await.unwrap();
    let history: Vec<_> =
        store.password_history(a.id, 2).await.unwrap().into_iter().map(|h| h.password_hash).collect();
    assert_eq!(history, ["h3", "h2"]);
    let got = store.account(a.id).await.unwrap().unwrap();
    assert_eq!((got.phone_verified_at, got.sms_enabled_at), (None, None));
    let mut tx = store.begin().await.unwrap();
    tx.set_verified_phone(a.id, "+4915199999999", t(8)).await.unwrap();
    tx.set_sms_enabled(a.id, Some(t(9))).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.second_factors(a.id).await.unwrap().sms);
    let got = store.account(a.id).await.unwrap().unwrap();
    assert_eq!(
        (got.phone.as_deref(), got.phone_verified_at, got.sms_enabled_at),
        (Some("+4915199999999"), Some(t(8)), Some(t(9)))
    );
    assert_eq!(got.withdrawal_lock_until, Some(t(86_400)));
    assert_eq!(got.withdrawal_lock_reason.as_deref(), Some("password_changed"));
    assert_eq!(got.anti_phishing_code.as_deref(), Some("blue-otter"));
    assert_eq!((got.email.as_str(), got.email_key.as_str()), ("New@example.com", "new@example.com"));
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.set_email(a.id, "taken@example.com", "taken@example.com", t(6)).await,
        Err(StoreError::Conflict("email"))
    ));
}

async fn sessions_are_reissued_with_a_new_token(store: Store) {
    let a = create_account(&store, "reissue@example.com").await;
    let (s, old) = create_session(&store, &a, t(1)).await;
    let new = BearerToken::generate();
    let mut tx = store.begin().await.unwrap();
    let under = |stamp: Vec<u8>| Reissue {
        token_hash: new.hash(),
        aal: Aal::Aal2,
        stepped_up_at: Some(t(2)),
        stamp: vec![9; 16],
        issued_under: stamp,
    };
    // A session the stamp has moved past (a freeze ends sessions so) is not brought back.
    assert!(!tx.reissue_session(s.id, &under(vec![7; 16])).await.unwrap());
    assert!(tx.reissue_session(s.id, &under(a.security_stamp.clone())).await.unwrap());
    tx.commit().await.unwrap();
    assert!(store.session_with_account(&old.hash()).await.unwrap().is_none());
    let found = store.session_with_account(&new.hash()).await.unwrap().unwrap();
    assert_eq!(
        (found.session.id, found.session.aal, found.session.stepped_up_at),
        (s.id, Aal::Aal2, Some(t(2)))
    );
    assert_eq!(found.session.stamp_at_issue, vec![9; 16]);
}

fn passkey(a: &AccountRecord, credential: &[u8], at: Timestamp) -> PasskeyRecord {
    PasskeyRecord {
        id: PasskeyId::new(),
        account_id: a.id,
        credential_id: credential.to_vec(),
        passkey: r#"{"cred":{"counter":0}}"#.into(),
        name: "Laptop".into(),
        created_at: at,
        last_used_at: None,
    }
}

async fn passkeys_are_unique_by_credential_id_and_belong_to_their_account(store: Store) {
    let a = create_account(&store, "passkeys@example.com").await;
    let b = create_account(&store, "other-passkeys@example.com").await;
    let first = passkey(&a, b"cred-1", t(1));
    let second = passkey(&a, b"cred-2", t(2));
    let mut tx = store.begin().await.unwrap();
    tx.insert_passkey(&first).await.unwrap();
    tx.insert_passkey(&second).await.unwrap();
    // The same credential cannot be registered twice, not even to another account; the
    // transaction stays usable after the refusal (PostgreSQL aborts on a failed statement).
    assert!(matches!(
        tx.insert_passkey(&passkey(&b, b"cred-1", t(3))).await,
        Err(StoreError::Conflict("passkey"))
    ));
    assert_eq!(tx.passkeys_of(a.id).await.unwrap().len(), 2);
    tx.commit().await.unwrap();
    let f = store.second_factors(a.id).await.unwrap();
    assert_eq!(f.passkeys, 2);
    assert!(f.any(), "a passkey is a second factor");
    // The one-read overview agrees with the separate reads.
    let (s, token) = create_session(&store, &a, t(4)).await;
    let o = store.session_overview(&token.hash()).await.unwrap().unwrap();
    assert_eq!((o.session.id, o.session.account_id, o.session.created_at), (s.id, a.id, s.created_at));
    assert_eq!((o.account.id, o.account.email.as_str()), (a.id, a.email.as_str()));
    assert_eq!(o.account.security_stamp, a.security_stamp);
    assert_eq!(o.factors, f);
    assert!(store.session_overview(&BearerToken::generate().hash()).await.unwrap().is_none());
    assert!(!store.second_factors(b.id).await.unwrap().any());

    let mut tx = store.begin().await.unwrap();
    let found = tx.passkey_by_credential_id(b"cred-2").await.unwrap().unwrap();
    assert_eq!((found.id, found.account_id, found.name.as_str()), (second.id, a.id, "Laptop"));
    assert!(tx.passkey_by_credential_id(b"unknown").await.unwrap().is_none());
    tx.record_passkey_use(found.id, r#"{"cred":{"counter":7}}"#, t(10)).await.unwrap();
    assert!(tx.rename_passkey(a.id, first.id, "Phone").await.unwrap());
    assert!(!tx.rename_passkey(b.id, first.id, "Stolen").await.unwrap(), "only the owner renames");
    assert!(!tx.delete_passkey(b.id, second.id).await.unwrap(), "only the owner removes");
    tx.commit().await.unwrap();

    let listed = store.passkeys(a.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["Phone", "Laptop"],
        "oldest first"
    );
    assert_eq!(
        (listed[1].passkey.as_str(), listed[1].last_used_at),
        (r#"{"cred":{"counter":7}}"#, Some(t(10)))
    );
    assert_eq!(listed[1].credential_id, b"cred-2");

    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_passkey(a.id, first.id).await.unwrap());
    assert!(!tx.delete_passkey(a.id, first.id).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(store.second_factors(a.id).await.unwrap().passkeys, 1);
}

async fn passkey_ceremonies_are_spent_once_and_purged_after_expiry(store: Store) {
    let a = create_account(&store, "ceremony@example.com").await;
    let bound = BearerToken::generate();
    let anonymous = BearerToken::generate();
    let c = CeremonyRecord {
        id: CeremonyId::new(),
        token_hash: bound.hash(),
        purpose: custos_core::passkey::CeremonyPurpose::StepUp,
        account_id: Some(a.id),
        session_id: Some(SessionId::new()),
        challenge_id: Some(ChallengeId::new()),
        state: r#"{"ast":{}}"#.into(),
        created_at: t(0),
        expires_at: t(300),
        used_at: None,
    };
    let sign_in = CeremonyRecord {
        id: CeremonyId::new(),
        token_hash: anonymous.hash(),
        purpose: custos_core::passkey::CeremonyPurpose::SignIn,
        account_id: None,
        session_id: None,
        challenge_id: None,
        expires_at: t(1_000),
        ..c.clone()
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_ceremony(&c).await.unwrap();
    tx.insert_ceremony(&sign_in).await.unwrap();
    let found = tx.ceremony_by_hash(&bound.hash()).await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.purpose, found.account_id, found.session_id, found.challenge_id),
        (c.id, c.purpose, c.account_id, c.session_id, c.challenge_id)
    );
    assert_eq!((found.state.as_str(), found.expires_at, found.used_at), (r#"{"ast":{}}"#, t(300), None));
    let anon = tx.ceremony_by_hash(&anonymous.hash()).await.unwrap().unwrap();
    assert_eq!((anon.account_id, anon.session_id, anon.challenge_id), (None, None, None));
    assert!(tx.use_ceremony(c.id, t(5)).await.unwrap());
    assert!(!tx.use_ceremony(c.id, t(6)).await.unwrap(), "a ceremony is answered once");
    assert_eq!(tx.ceremony_by_hash(&bound.hash()).await.unwrap().unwrap().used_at, Some(t(5)));
    assert_eq!(tx.purge_ceremonies(t(301)).await.unwrap(), 1, "only the expired one goes");
    assert!(tx.ceremony_by_hash(&bound.hash()).await.unwrap().is_none());
    assert!(tx.ceremony_by_hash(&anonymous.hash()).await.unwrap().is_some());
    tx.commit().await.unwrap();
}

// ---- money ----

use custos_core::ledger::{Balance, EntryKind, Move};
use custos_core::money::Amount;
use custos_core::withdrawal::WithdrawalState;

fn entry(kind: EntryKind, m: Move, reference: Option<&str>) -> NewEntry<'_> {
    NewEntry { kind, delta: m.delta(), reference }
}

async fn balances_hold_any_u128_and_every_change_has_a_ledger_entry(store: Store) {
    let a = create_account(&store, "ledger@example.com").await;
    let huge = Amount::from_atomic(u128::MAX / 2 + 12_345); // far beyond i64 and f64 precision
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.lock_balance(a.id, "ETH", t(1)).await.unwrap(), Balance::default());
    let after = Balance::default().apply(Move::Credit(huge)).unwrap();
    tx.write_balance(a.id, "ETH", after, entry(EntryKind::Deposit, Move::Credit(huge), Some("ev-1")), t(1))
        .await
        .unwrap();
    let reserve = Move::Reserve(Amount::from_atomic(7));
    let after2 = after.apply(reserve).unwrap();
    tx.write_balance(a.id, "ETH", after2, entry(EntryKind::WithdrawalReserved, reserve, None), t(2))
        .await
        .unwrap();
    // Queued on SQLite, the second write still reads the first's balance back.
    assert_eq!(tx.lock_balance(a.id, "ETH", t(2)).await.unwrap(), after2);
    tx.commit().await.unwrap();

    assert_eq!(store.balances(a.id).await.unwrap(), vec![("ETH".to_owned(), after2)]);
    let entries = store.ledger_entries(a.id, 10).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[0].seq > entries[1].seq, "newest first, in the order written");
    assert_eq!(entries[0].kind, EntryKind::WithdrawalReserved);
    assert_eq!(entries[0].delta, reserve.delta());
    assert_eq!(entries[1].delta, Move::Credit(huge).delta());
    assert_eq!(entries[1].reference.as_deref(), Some("ev-1"));
    // Locking again reads back exactly what was written.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.lock_balance(a.id, "ETH", t(3)).await.unwrap(), after2);
    tx.rollback().await.unwrap();
}

async fn ledger_entries_cannot_be_updated_or_deleted(store: Store) {
    let a = create_account(&store, "append@example.com").await;
    let mut tx = store.begin().await.unwrap();
    tx.lock_balance(a.id, "BTC", t(1)).await.unwrap();
    let m = Move::Credit(Amount::from_atomic(5));
    tx.write_balance(
        a.id,
        "BTC",
        Balance::default().apply(m).unwrap(),
        entry(EntryKind::Deposit, m, None),
        t(1),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(store.execute_unchecked_for_tests("UPDATE ledger_entries SET kind = 'fee'").await.is_err());
    assert!(store.execute_unchecked_for_tests("DELETE FROM ledger_entries").await.is_err());
    assert_eq!(store.ledger_entries(a.id, 10).await.unwrap().len(), 1);
}

async fn integration_events_are_recorded_once_with_their_digest(store: Store) {
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.record_ledger_event("ev-1", b"digest-a", t(1)).await.unwrap(), None);
    assert_eq!(tx.record_ledger_event("ev-1", b"digest-b", t(2)).await.unwrap(), Some(b"digest-a".to_vec()));
    tx.commit().await.unwrap();
}

fn withdrawal(a: &AccountRecord, key: Option<&str>, at: Timestamp) -> WithdrawalRecord {
    WithdrawalRecord {
        id: WithdrawalId::new(),
        account_id: a.id,
        asset: "BTC".into(),
        network: "bitcoin".into(),
        address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
        memo: None,
        amount: Amount::from_atomic(150_000),
        fee: Amount::from_atomic(2_000),
        state: WithdrawalState::AwaitingConfirmation,
        hold_until: None,
        hold_reasons: None,
        txid: None,
        requested_via: RequestedVia::Session,
        session_id: Some(SessionId::new()),
        api_key_id: None,
        device_id: Some(DeviceId::new()),
        ip: Some("203.0.113.9".parse().unwrap()),
        idempotency_key: key.map(str::to_owned),
        created_at: at,
        confirmed_at: None,
        queued_at: None,
        processing_at: None,
        broadcast_at: None,
        completed_at: None,
        cancelled_at: None,
        cancelled_by: None,
        intercept: None,
        failure: None,
        updated_at: at,
    }
}

async fn withdrawals_round_trip_and_idempotency_keys_are_unique_per_account(store: Store) {
    let a = create_account(&store, "withdraw@example.com").await;
    let b = create_account(&store, "other-withdraw@example.com").await;
    let mut w = withdrawal(&a, Some("key-1"), t(1));
    let mut tx = store.begin().await.unwrap();
    tx.insert_withdrawal(&w).await.unwrap();
    assert!(matches!(
        tx.insert_withdrawal(&withdrawal(&a, Some("key-1"), t(2))).await,
        Err(StoreError::Conflict("withdrawal"))
    ));
    tx.insert_withdrawal(&withdrawal(&b, Some("key-1"), t(2))).await.unwrap(); // another account's key
    tx.insert_withdrawal(&withdrawal(&a, None, t(3))).await.unwrap();
    tx.insert_withdrawal(&withdrawal(&a, None, t(4))).await.unwrap(); // no key: never a conflict
    assert_eq!(tx.withdrawal_by_idempotency_key(a.id, "key-1").await.unwrap().unwrap().id, w.id);
    assert_eq!(tx.withdrawn_since(a.id, "BTC", t(0)).await.unwrap().len(), 3);
    assert!(!tx.address_used_before(a.id, "BTC", "bitcoin", &w.address).await.unwrap());
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let mut locked = tx.lock_withdrawal(w.id).await.unwrap().unwrap();
    locked.state = WithdrawalState::Held;
    locked.hold_until = Some(t(100));
    locked.hold_reasons = Some(r#"[{"code":"first-use-of-address"}]"#.into());
    locked.confirmed_at = Some(t(5));
    locked.updated_at = t(5);
    tx.update_withdrawal(&locked).await.unwrap();
    tx.commit().await.unwrap();
    w = store.withdrawal(w.id).await.unwrap().unwrap();
    assert_eq!((w.state, w.hold_until, w.confirmed_at), (WithdrawalState::Held, Some(t(100)), Some(t(5))));
    assert_eq!(w.amount, Amount::from_atomic(150_000));
    assert_eq!(w.ip, Some("203.0.113.9".parse().unwrap()));
    // Due only once the hold has run out.
    assert!(store.withdrawals_due(WithdrawalState::Held, t(99), 10).await.unwrap().is_empty());
    assert_eq!(store.withdrawals_due(WithdrawalState::Held, t(100), 10).await.unwrap(), vec![w.id]);
    assert_eq!(
        store.withdrawals_due(WithdrawalState::AwaitingConfirmation, t(10), 10).await.unwrap().len(),
        3
    );

    let mut tx = store.begin().await.unwrap();
    let mut sent = tx.lock_withdrawal(w.id).await.unwrap().unwrap();
    sent.state = WithdrawalState::Broadcast;
    sent.txid = Some("ab".repeat(32));
    tx.update_withdrawal(&sent).await.unwrap();
    assert!(tx.address_used_before(a.id, "BTC", "bitcoin", &w.address).await.unwrap());
    assert!(!tx.address_used_before(b.id, "BTC", "bitcoin", &w.address).await.unwrap());
    tx.commit().await.unwrap();
    let listed = store.withdrawals(a.id, 10).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed.last().unwrap().id, w.id, "newest first");
}

async fn service_tokens_are_found_by_hash(store: Store) {
    let token = BearerToken::generate();
    let record = ServiceTokenRecord {
        id: ServiceTokenId::new(),
        name: "ledger-feed".into(),
        token_hash: token.hash(),
        created_at: t(1),
        revoked_at: None,
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_service_token(&record).await.unwrap();
    tx.commit().await.unwrap();
    let found = store.service_token_by_hash(&token.hash()).await.unwrap().unwrap();
    assert_eq!((found.id, found.name.as_str()), (record.id, "ledger-feed"));
    assert!(store.service_token_by_hash(&BearerToken::generate().hash()).await.unwrap().is_none());
}

fn api_key(a: &AccountRecord, kind: KeyKind, scopes: &[&str], ips: &[&str], at: Timestamp) -> ApiKeyRecord {
    let (public_key, secret_sealed) = match kind {
        KeyKind::Ed25519 => (Some(vec![7; 32]), None),
        KeyKind::HmacSha256 => (None, Some(vec![9; 60])),
    };
    ApiKeyRecord {
        id: ApiKeyId::generate(),
        account_id: a.id,
        label: "trading bot".into(),
        kind,
        public_key,
        secret_sealed,
        scopes: Scopes::parse(scopes).unwrap(),
        ip_allowlist: IpAllowlist::parse(ips).unwrap(),
        created_at: at,
        valid_until: at.plus(Duration::from_secs(86_400)),
        revoked_at: None,
        revoke_reason: None,
        last_used_at: None,
        last_used_ip: None,
        created_by_session: Some(SessionId::new()),
        created_ip: Some("198.51.100.4".parse().unwrap()),
    }
}

async fn api_keys_round_trip_belong_to_their_account_and_are_revoked_once(store: Store) {
    let a = create_account(&store, "keys@example.com").await;
    let b = create_account(&store, "other@example.com").await;
    let ed = api_key(&a, KeyKind::Ed25519, &["read", "withdraw"], &["203.0.113.7", "2001:db8::/48"], t(1));
    let hmac = api_key(&a, KeyKind::HmacSha256, &["read"], &[], t(2));
    let theirs = api_key(&b, KeyKind::HmacSha256, &["trade"], &[], t(3));
    let mut tx = store.begin().await.unwrap();
    for k in [&ed, &hmac, &theirs] {
        tx.insert_api_key(k).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(tx.insert_api_key(&ed).await, Err(StoreError::Conflict("api key"))));
    drop(tx);

    let found = store.api_key(&ed.id).await.unwrap().unwrap();
    assert_eq!((found.account_id, found.kind, found.label.as_str()), (a.id, KeyKind::Ed25519, "trading bot"));
    assert_eq!(found.public_key, ed.public_key);
    assert_eq!(found.secret_sealed, None);
    assert_eq!(found.scopes, ed.scopes);
    assert_eq!(found.ip_allowlist, ed.ip_allowlist);
    assert_eq!((found.created_at, found.valid_until), (ed.created_at, ed.valid_until));
    assert_eq!((found.created_by_session, found.created_ip), (ed.created_by_session, ed.created_ip));
    let found = store.api_key(&hmac.id).await.unwrap().unwrap();
    assert_eq!((found.public_key, found.secret_sealed), (None, hmac.secret_sealed.clone()));
    assert!(found.ip_allowlist.is_empty());
    assert!(store.api_key(&ApiKeyId::generate()).await.unwrap().is_none());

    let listed: Vec<_> = store.api_keys(a.id).await.unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(listed, [hmac.id.clone(), ed.id.clone()], "newest first, only the account's own");

    let mut tx = store.begin().await.unwrap();
    assert!(tx.api_key_of(b.id, &ed.id).await.unwrap().is_none(), "not another account's key");
    assert!(!tx.revoke_api_key(b.id, &ed.id, t(5), RevokeReason::RevokedByUser).await.unwrap());
    assert!(tx.revoke_api_key(a.id, &ed.id, t(5), RevokeReason::RevokedByUser).await.unwrap());
    assert!(!tx.revoke_api_key(a.id, &ed.id, t(6), RevokeReason::RevokedByUser).await.unwrap(), "once");
    let all = tx.revoke_api_keys(a.id, t(7), RevokeReason::CredentialChanged).await.unwrap();
    assert_eq!(all, std::slice::from_ref(&hmac.id), "only keys still live");
    tx.commit().await.unwrap();
    let ed_now = store.api_key(&ed.id).await.unwrap().unwrap();
    assert_eq!((ed_now.revoked_at, ed_now.revoke_reason.as_deref()), (Some(t(5)), Some("revoked_by_user")));
    assert!(!ed_now.is_live(t(5)));
    let hmac_now = store.api_key(&hmac.id).await.unwrap().unwrap();
    assert_eq!(hmac_now.revoke_reason.as_deref(), Some("credential_changed"));
    assert!(store.api_key(&theirs.id).await.unwrap().unwrap().is_live(t(7)), "the other account's key lives");
}

async fn a_reused_nonce_is_refused_without_aborting_the_transaction(store: Store) {
    let a = create_account(&store, "nonces@example.com").await;
    let key = api_key(&a, KeyKind::Ed25519, &["read"], &[], t(0));
    let other = api_key(&a, KeyKind::Ed25519, &["read"], &[], t(0));
    let mut tx = store.begin().await.unwrap();
    tx.insert_api_key(&key).await.unwrap();
    tx.insert_api_key(&other).await.unwrap();
    let nonce = "n0nce-0123456789abcdef";
    assert!(tx.record_api_nonce(&key.id, nonce, t(31), t(1)).await.unwrap());
    assert!(!tx.record_api_nonce(&key.id, nonce, t(32), t(2)).await.unwrap(), "a replay");
    assert!(tx.record_api_nonce(&other.id, nonce, t(32), t(2)).await.unwrap(), "nonces are per key");
    // The transaction is still usable after the refused insert (no unique violation on PostgreSQL).
    let ip = "203.0.113.7".parse().unwrap();
    tx.touch_api_key(&key.id, t(2), Some(ip)).await.unwrap();
    tx.commit().await.unwrap();
    let used = store.api_key(&key.id).await.unwrap().unwrap();
    assert_eq!((used.last_used_at, used.last_used_ip), (Some(t(2)), Some(ip)));

    let mut tx = store.begin().await.unwrap();
    assert!(!tx.record_api_nonce(&key.id, nonce, t(40), t(30)).await.unwrap(), "kept until it expires");
    assert!(tx.record_api_nonce(&key.id, nonce, t(62), t(31)).await.unwrap(), "forgotten once expired");
    tx.commit().await.unwrap();
}

async fn transfers_are_listed_for_both_sides_and_held_ones_come_due(store: Store) {
    use custos_core::transfer::TransferState;
    let a = create_account(&store, "sender@example.com").await;
    let b = create_account(&store, "receiver@example.com").await;
    let t1 = TransferRecord {
        id: TransferId::new(),
        from_account: a.id,
        to_account: b.id,
        asset: "ETH".into(),
        amount: Amount::from_atomic(u128::from(u64::MAX) * 1000),
        state: TransferState::Held,
        hold_until: Some(t(100)),
        hold_reasons: Some(r#"[{"code":"large-amount","detail":"x"}]"#.into()),
        requested_via: RequestedVia::Session,
        session_id: Some(SessionId::new()),
        api_key_id: None,
        device_id: None,
        ip: None,
        idempotency_key: Some("t-1".into()),
        created_at: t(1),
        settled_at: None,
        cancelled_at: None,
        cancelled_by: None,
        updated_at: t(1),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_transfer(&t1).await.unwrap();
    let dup = TransferRecord { id: TransferId::new(), ..t1.clone() };
    assert!(matches!(tx.insert_transfer(&dup).await, Err(StoreError::Conflict("transfer"))));
    assert_eq!(tx.transfer_by_idempotency_key(a.id, "t-1").await.unwrap().unwrap().id, t1.id);
    assert_eq!(tx.transferred_since(a.id, "ETH", t(0)).await.unwrap(), vec![t1.amount]);
    assert!(tx.transferred_since(b.id, "ETH", t(0)).await.unwrap().is_empty(), "only what was sent counts");
    tx.commit().await.unwrap();

    assert!(store.transfers_due(t(99), 10).await.unwrap().is_empty());
    assert_eq!(store.transfers_due(t(100), 10).await.unwrap(), vec![t1.id]);
    assert_eq!(store.transfers(b.id, 10).await.unwrap().len(), 1, "the receiver sees it too");

    let mut tx = store.begin().await.unwrap();
    let mut locked = tx.lock_transfer(t1.id).await.unwrap().unwrap();
    assert_eq!((locked.amount, locked.state), (t1.amount, TransferState::Held));
    locked.state = TransferState::Settled;
    locked.settled_at = Some(t(100));
    tx.update_transfer(&locked).await.unwrap();
    tx.commit().await.unwrap();
    let read = store.transfer(t1.id).await.unwrap().unwrap();
    assert_eq!((read.state, read.settled_at), (TransferState::Settled, Some(t(100))));
    assert!(store.transfers_due(t(200), 10).await.unwrap().is_empty());
}

fn allowlist_entry(
    a: &AccountRecord,
    address: &str,
    memo: Option<&str>,
    at: Timestamp,
) -> AllowlistEntryRecord {
    AllowlistEntryRecord {
        id: AllowlistEntryId::new(),
        account_id: a.id,
        asset: "USDT".into(),
        network: "TRX".into(),
        address: address.into(),
        memo: memo.map(str::to_owned),
        label: "exchange deposit address ✓".into(),
        created_at: at,
        confirm_by: at.plus(Duration::from_secs(3_600)),
        confirmed_at: None,
        usable_from: None,
        removed_at: None,
    }
}

async fn allowlist_entries_are_confirmed_and_removed_once_and_belong_to_their_account(store: Store) {
    let a = create_account(&store, "list@example.com").await;
    let b = create_account(&store, "other@example.com").await;
    let first = allowlist_entry(&a, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", None, t(1));
    let second = allowlist_entry(&a, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", Some("memo 42"), t(2));
    let theirs = allowlist_entry(&b, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", None, t(3));
    let mut tx = store.begin().await.unwrap();
    for e in [&first, &second, &theirs] {
        tx.insert_allowlist_entry(e).await.unwrap();
    }
    tx.commit().await.unwrap();

    // Newest first for pages, oldest first inside a command; each account sees only its own.
    let listed = store.allowlist_entries(a.id).await.unwrap();
    assert_eq!(listed, vec![second.clone(), first.clone()], "round-trips every field");
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.allowlist_entries_of(a.id).await.unwrap(), vec![first.clone(), second.clone()]);
    assert_eq!(tx.allowlist_entry_of(b.id, first.id).await.unwrap(), None, "not another account's");

    assert!(tx.confirm_allowlist_entry(first.id, t(10), t(10 + 86_400)).await.unwrap());
    assert!(!tx.confirm_allowlist_entry(first.id, t(11), t(11)).await.unwrap(), "confirmed once");
    assert!(!tx.remove_allowlist_entry(b.id, second.id, t(12)).await.unwrap(), "not another account's");
    assert!(tx.remove_allowlist_entry(a.id, second.id, t(12)).await.unwrap());
    assert!(!tx.remove_allowlist_entry(a.id, second.id, t(13)).await.unwrap(), "removed once");
    assert!(
        !tx.confirm_allowlist_entry(second.id, t(14), t(14)).await.unwrap(),
        "a removed entry stays removed"
    );
    tx.commit().await.unwrap();

    let listed = store.allowlist_entries(a.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].confirmed_at, listed[0].usable_from), (Some(t(10)), Some(t(10 + 86_400))));
    let mut tx = store.begin().await.unwrap();
    let removed = tx.allowlist_entry_of(a.id, second.id).await.unwrap().unwrap();
    assert_eq!(removed.removed_at, Some(t(12)), "removed entries are kept for the record");
    drop(tx);
    assert_eq!(store.allowlist_entries(b.id).await.unwrap(), vec![theirs]);
}

async fn allowlist_modes_default_to_off_and_round_trip(store: Store) {
    let a = create_account(&store, "mode@example.com").await;
    assert_eq!(store.allowlist_mode(a.id).await.unwrap(), AllowlistModeRecord::default());
    assert_eq!(store.allowlist_mode(a.id).await.unwrap().mode(), custos_core::allowlist::Mode::Off);
    let on = AllowlistModeRecord { enabled_at: Some(t(1)), off_at: None };
    let leaving = AllowlistModeRecord { enabled_at: Some(t(1)), off_at: Some(t(1 + 48 * 3_600)) };
    for (m, at) in [(on, t(1)), (leaving, t(2)), (on, t(3))] {
        let mut tx = store.begin().await.unwrap();
        tx.set_allowlist_mode(a.id, m, at).await.unwrap();
        assert_eq!(tx.allowlist_mode_of(a.id).await.unwrap(), m);
        tx.commit().await.unwrap();
        assert_eq!(store.allowlist_mode(a.id).await.unwrap(), m);
    }
    // The database refuses a turn-off time for a list that is off.
    let mut tx = store.begin().await.unwrap();
    let bad = AllowlistModeRecord { enabled_at: None, off_at: Some(t(5)) };
    assert!(tx.set_allowlist_mode(a.id, bad, t(5)).await.is_err());
}

async fn prices_are_kept_exactly_once_per_asset_and_instant(store: Store) {
    use custos_core::money::Amount;
    // 39 digits: the largest quote NUMERIC(39,0) holds round-trips exactly on both backends.
    let big = Amount::from_atomic(u128::MAX / 10);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_price("BTC", t(10), Amount::from_atomic(40_000_000_000)).await.unwrap());
    assert!(!tx.insert_price("BTC", t(10), Amount::from_atomic(1)).await.unwrap(), "a repeat is ignored");
    assert!(tx.insert_price("ETH", t(10), big).await.unwrap());
    assert!(tx.insert_price("BTC", t(20), Amount::from_atomic(30_000_000_000)).await.unwrap());
    tx.commit().await.unwrap();
    let all = store.prices_between(t(0), t(30), 10).await.unwrap();
    let seen: Vec<_> = all.iter().map(|p| (p.asset.as_str(), p.at, p.price)).collect();
    assert_eq!(
        seen,
        [
            ("BTC", t(10), Amount::from_atomic(40_000_000_000)),
            ("ETH", t(10), big),
            ("BTC", t(20), Amount::from_atomic(30_000_000_000))
        ]
    );
    assert_eq!(store.prices_between(t(11), t(30), 10).await.unwrap().len(), 1);
    assert_eq!(store.prices_between(t(0), t(30), 1).await.unwrap().len(), 1);
}

fn staff_member(email: &str, code: &str, token: &BearerToken, at: Timestamp) -> custos_store::StaffRecord {
    use custos_core::staff::*;
    custos_store::StaffRecord {
        id: StaffId::new(),
        code: StaffCode::parse(code).unwrap(),
        email: email.into(),
        email_key: email.to_lowercase(),
        name: "Dana Reyes".into(),
        role: StaffRole::Analyst,
        status: StaffStatus::Pending,
        password_hash: None,
        totp_seed_sealed: None,
        totp_last_step: None,
        security_stamp: vec![1; 16],
        setup_token_hash: Some(token.hash()),
        setup_expires_at: Some(at.plus(Duration::from_secs(3600))),
        created_at: at,
        created_by: "ops".into(),
        enrolled_at: None,
        disabled_at: None,
    }
}

async fn staff_are_unique_by_email_and_staff_id_and_activate_once(store: Store) {
    use custos_core::staff::StaffStatus;
    let setup = BearerToken::generate();
    let dana = staff_member("dana@custos.example", "CS-100001", &setup, t(1));
    let mut tx = store.begin().await.unwrap();
    tx.insert_staff(&dana).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let same_email = staff_member("dana@custos.example", "CS-100002", &BearerToken::generate(), t(1));
    assert!(matches!(tx.insert_staff(&same_email).await, Err(StoreError::Conflict("email"))));
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    let same_code = staff_member("eve@custos.example", "CS-100001", &BearerToken::generate(), t(1));
    assert!(matches!(tx.insert_staff(&same_code).await, Err(StoreError::Conflict("staff_code"))));
    drop(tx);

    // A new link replaces the old one.
    let old = setup.clone();
    let setup = BearerToken::generate();
    let mut tx = store.begin().await.unwrap();
    tx.set_staff_setup_token(dana.id, &setup.hash(), t(9)).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.staff_by_setup_hash(&old.hash()).await.unwrap().is_none());
    let found = store.staff_by_setup_hash(&setup.hash()).await.unwrap().unwrap();
    assert_eq!((found.id, found.status, found.setup_expires_at), (dana.id, StaffStatus::Pending, Some(t(9))));
    let mut tx = store.begin().await.unwrap();
    let locked = tx.lock_staff_by_setup_hash(&setup.hash()).await.unwrap().unwrap();
    tx.set_staff_setup_credentials(locked.id, "$argon2id$fake", b"sealed-seed").await.unwrap();
    tx.activate_staff(locked.id, 42, t(2)).await.unwrap();
    tx.commit().await.unwrap();

    let active = store.staff_by_code(&dana.code).await.unwrap().unwrap();
    assert_eq!(active.status, StaffStatus::Active);
    assert_eq!(active.password_hash.as_deref(), Some("$argon2id$fake"));
    assert_eq!(active.totp_seed_sealed.as_deref(), Some(&b"sealed-seed"[..]));
    assert_eq!((active.totp_last_step, active.enrolled_at), (Some(42), Some(t(2))));
    assert!(active.setup_token_hash.is_none(), "the setup link is spent");
    assert!(store.staff_by_setup_hash(&setup.hash()).await.unwrap().is_none());

    let mut tx = store.begin().await.unwrap();
    assert!(!tx.accept_staff_totp_step(dana.id, 42).await.unwrap(), "a replayed step is refused");
    assert!(tx.accept_staff_totp_step(dana.id, 43).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        store.staff_by_email_key("dana@custos.example").await.unwrap().unwrap().totp_last_step,
        Some(43)
    );
    assert_eq!(store.staff_list().await.unwrap().len(), 1);
}

async fn staff_sessions_are_found_by_hash_and_die_with_a_disable(store: Store) {
    use custos_core::staff::*;
    let dana = staff_member("dana@custos.example", "CS-100001", &BearerToken::generate(), t(1));
    let mut tx = store.begin().await.unwrap();
    tx.insert_staff(&dana).await.unwrap();
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let token = BearerToken::generate();
        tx.insert_staff_session(&StaffSessionRecord {
            id: StaffSessionId::new(),
            staff_id: dana.id,
            token_hash: token.hash(),
            ip: Some("203.0.113.7".parse().unwrap()),
            user_agent: "test".into(),
            created_at: t(2),
            last_seen_at: t(2),
            stamp_at_issue: dana.security_stamp.clone(),
            revoked_at: None,
            revoke_reason: None,
        })
        .await
        .unwrap();
        tokens.push(token);
    }
    tx.commit().await.unwrap();

    let (s, staff) = store.staff_session_by_hash(&tokens[0].hash()).await.unwrap().unwrap();
    assert_eq!((s.staff_id, staff.id, s.ip), (dana.id, dana.id, Some("203.0.113.7".parse().unwrap())));
    store.touch_staff_session(s.id, t(5)).await.unwrap();
    assert_eq!(store.staff_session_by_hash(&tokens[0].hash()).await.unwrap().unwrap().0.last_seen_at, t(5));
    assert!(store.staff_session_by_hash(&BearerToken::generate().hash()).await.unwrap().is_none());

    let mut tx = store.begin().await.unwrap();
    assert!(tx.revoke_staff_session(s.id, t(6), RevokeReason::Logout).await.unwrap());
    assert!(!tx.revoke_staff_session(s.id, t(6), RevokeReason::Logout).await.unwrap());
    tx.disable_staff(dana.id, &[9; 16], t(7)).await.unwrap();
    assert_eq!(tx.revoke_staff_sessions(dana.id, t(7), RevokeReason::AccountFrozen).await.unwrap(), 1);
    tx.commit().await.unwrap();
    let (s2, staff) = store.staff_session_by_hash(&tokens[1].hash()).await.unwrap().unwrap();
    assert_eq!(s2.revoked_at, Some(t(7)));
    assert_eq!(
        (staff.status, staff.security_stamp, staff.disabled_at),
        (StaffStatus::Disabled, vec![9; 16], Some(t(7)))
    );
}

async fn official_channels_are_unique_per_kind_and_removed_once(store: Store) {
    use custos_core::official_channel::ChannelKind;
    let channel = |kind, value: &str| OfficialChannelRecord {
        id: uuid::Uuid::now_v7(),
        kind,
        value: value.into(),
        note: Some("main site".into()),
        created_at: t(1),
        created_by: "ops".into(),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_official_channel(&channel(ChannelKind::Domain, "custos.example")).await.unwrap();
    tx.insert_official_channel(&channel(ChannelKind::Email, "support@custos.example")).await.unwrap();
    tx.insert_official_channel(&channel(ChannelKind::Social, "x:custoshelp")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.insert_official_channel(&channel(ChannelKind::Domain, "custos.example")).await,
        Err(StoreError::Conflict("official_channel"))
    ));
    drop(tx);
    let all = store.official_channels(None).await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.value.as_str()).collect::<Vec<_>>(),
        ["custos.example", "support@custos.example", "x:custoshelp"]
    );
    let domains = store.official_channels(Some(ChannelKind::Domain)).await.unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0].note.as_deref(), Some("main site"));
    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_official_channel(ChannelKind::Domain, "custos.example").await.unwrap());
    assert!(!tx.delete_official_channel(ChannelKind::Domain, "custos.example").await.unwrap());
    tx.commit().await.unwrap();
    assert!(store.official_channels(Some(ChannelKind::Domain)).await.unwrap().is_empty());
}
