//! One storage conformance suite, run against SQLite and PostgreSQL. A test here is a sentence
//! about the store's contract; each runs on a fresh database.

use std::time::Duration;

use custos_core::Timestamp;
use custos_core::api_key::{ApiKeyId, IpAllowlist, KeyKind, Scopes};
use custos_core::audit::{Actor, AuditEvent, Chain, RevokeReason, verify_chain};
use custos_core::crypto::BearerToken;
use custos_core::ids::*;
use custos_core::ledger::{Balance, EntryKind, Move};
use custos_core::link_token::LinkPurpose;
use custos_core::login::{AccountStatus, LoginOutcome};
use custos_core::money::Amount;
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
    accounts_are_unique_by_email_key_and_uid,
    a_dropped_transaction_leaves_nothing_behind,
    sessions_are_found_by_token_hash_with_their_account,
    revoking_others_keeps_the_current_session,
    a_single_use_link_is_spent_exactly_once,
    audit_chains_link_and_verify_after_a_round_trip,
    concurrent_commands_on_one_account_serialise,
    audit_records_cannot_be_updated_or_deleted,
);

#[path = "conformance/api_keys.rs"]
mod api_keys;
#[path = "conformance/factors.rs"]
mod factors;
#[path = "conformance/freeze.rs"]
mod freeze;
#[path = "conformance/incidents.rs"]
mod incidents;
#[path = "conformance/logins.rs"]
mod logins;
#[path = "conformance/money.rs"]
mod money;
#[path = "conformance/outbox.rs"]
mod outbox;
#[path = "conformance/staff.rs"]
mod staff;

// Builders the freeze and incident suites share.
use api_keys::api_key;
use money::{entry, withdrawal};

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

// ---- money ----
