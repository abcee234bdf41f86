//! Logins: the one-lookup read, throttles, sign-in events and devices, account settings, reissued sessions.

use super::*;

conformance!(
    a_login_reads_account_device_factors_and_throttles_in_one_lookup,
    throttles_count_failures_in_a_window,
    login_events_and_devices_are_listed_newest_first,
    account_settings_round_trip_and_emails_stay_unique,
    sessions_are_reissued_with_a_new_token,
);

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
