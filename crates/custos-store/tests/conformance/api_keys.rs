//! API keys: round trips, ownership, revocation, and nonces refused without aborting the transaction.

use super::*;

conformance!(
    api_keys_round_trip_belong_to_their_account_and_are_revoked_once,
    a_reused_nonce_is_refused_without_aborting_the_transaction,
);

pub(super) fn api_key(
    a: &AccountRecord,
    kind: KeyKind,
    scopes: &[&str],
    ips: &[&str],
    at: Timestamp,
) -> ApiKeyRecord {
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
