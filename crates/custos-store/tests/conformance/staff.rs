//! Staff: members, their sessions, and the official channels they publish.

use super::*;

conformance!(
    staff_are_unique_by_email_and_staff_id_and_activate_once,
    staff_sessions_are_found_by_hash_and_die_with_a_disable,
    official_channels_are_unique_per_kind_and_removed_once,
);

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
