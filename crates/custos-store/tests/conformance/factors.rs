//! Second factors: TOTP steps, recovery codes, challenges, passkeys and their ceremonies.

use super::*;

conformance!(
    a_totp_step_is_accepted_once_and_enrolment_needs_confirmation,
    recovery_codes_are_single_use_and_a_new_set_replaces_the_old,
    challenges_count_attempts_and_are_spent_once,
    passkeys_are_unique_by_credential_id_and_belong_to_their_account,
    passkey_ceremonies_are_spent_once_and_purged_after_expiry,
);

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
