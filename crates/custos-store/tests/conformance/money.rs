//! Money: balances and the append-only ledger, integration events, withdrawals, service tokens, transfers, the address allowlist, prices.

use custos_core::withdrawal::WithdrawalState;

use super::*;

conformance!(
    balances_hold_any_u128_and_every_change_has_a_ledger_entry,
    ledger_entries_cannot_be_updated_or_deleted,
    integration_events_are_recorded_once_with_their_digest,
    withdrawals_round_trip_and_idempotency_keys_are_unique_per_account,
    service_tokens_are_found_by_hash,
    transfers_are_listed_for_both_sides_and_held_ones_come_due,
    allowlist_entries_are_confirmed_and_removed_once_and_belong_to_their_account,
    allowlist_modes_default_to_off_and_round_trip,
    prices_are_kept_exactly_once_per_asset_and_instant,
);

pub(super) fn entry(kind: EntryKind, m: Move, reference: Option<&str>) -> NewEntry<'_> {
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

pub(super) fn withdrawal(a: &AccountRecord, key: Option<&str>, at: Timestamp) -> WithdrawalRecord {
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
