//! The kill switch's storage contract: what a freeze reads, the set-based statements it writes
//! (both in one call), freezes with receipts, panic codes.

use custos_core::freeze::{FreezeChannel, FreezeReceipt};
use custos_core::transfer::TransferState;
use custos_core::withdrawal::WithdrawalState;

use super::*;

conformance!(
    a_freeze_reads_what_is_live_and_cancels_exactly_what_the_wallet_has_not_got,
    freezes_keep_their_receipt_and_close_once,
    the_key_cut_revokes_every_older_key_at_once_and_never_redates_a_revocation,
    locking_and_freezing_at_once_answers_the_account_and_leaves_one_frozen_of_record_as_it_was,
    a_new_panic_code_replaces_the_old,
);

fn write(
    stamp: &[u8],
    at: Timestamp,
    on_chain_since: Timestamp,
    contacts_since: Timestamp,
) -> FreezeWrite<'_> {
    FreezeWrite { stamp, at, on_chain_since, contacts_since }
}

fn transfer(a: &AccountRecord, b: &AccountRecord, state: TransferState) -> TransferRecord {
    TransferRecord {
        id: TransferId::new(),
        from_account: a.id,
        to_account: b.id,
        asset: "BTC".into(),
        amount: Amount::from_atomic(5),
        state,
        hold_until: None,
        hold_reasons: None,
        requested_via: RequestedVia::Session,
        session_id: None,
        api_key_id: None,
        device_id: None,
        ip: None,
        idempotency_key: None,
        created_at: t(1),
        settled_at: None,
        cancelled_at: None,
        cancelled_by: None,
        updated_at: t(1),
    }
}

async fn a_freeze_reads_what_is_live_and_cancels_exactly_what_the_wallet_has_not_got(store: Store) {
    let a = create_account(&store, "victim@example.com").await;
    let b = create_account(&store, "other@example.com").await;
    let (live, _) = create_session(&store, &a, t(1)).await;
    let (ended, _) = create_session(&store, &a, t(2)).await;
    create_session(&store, &b, t(1)).await;
    let key = api_key(&a, KeyKind::Ed25519, &["read"], &[], t(1));
    let mut ws = Vec::new();
    let mut tx = store.begin().await.unwrap();
    tx.revoke_session(a.id, ended.id, t(3), RevokeReason::Logout).await.unwrap();
    tx.insert_api_key(&key).await.unwrap();
    for (i, s) in WithdrawalState::ALL.into_iter().enumerate() {
        let mut w = withdrawal(&a, None, t(i as i64));
        w.state = s;
        // One long-confirmed withdrawal falls outside the lookback.
        w.broadcast_at = matches!(s, WithdrawalState::Broadcast | WithdrawalState::Confirmed)
            .then(|| if s == WithdrawalState::Confirmed { t(-1000) } else { t(5) });
        tx.insert_withdrawal(&w).await.unwrap();
        ws.push(w);
    }
    let mut other = withdrawal(&b, None, t(1));
    other.state = WithdrawalState::Queued;
    tx.insert_withdrawal(&other).await.unwrap();
    let ts: Vec<TransferRecord> = TransferState::ALL.into_iter().map(|s| transfer(&a, &b, s)).collect();
    for tr in &ts {
        tx.insert_transfer(tr).await.unwrap();
    }
    tx.insert_transfer(&transfer(&b, &a, TransferState::Held)).await.unwrap();
    tx.record_contact_change(a.id, ContactKind::Email, "older@example.com", t(0)).await.unwrap();
    tx.record_contact_change(a.id, ContactKind::Phone, "+15550100", t(2)).await.unwrap();
    tx.record_contact_change(a.id, ContactKind::Email, "first@example.com", t(1)).await.unwrap();
    let held = Balance { available: Amount::from_atomic(7), locked: Amount::from_atomic(3) };
    tx.lock_balance(a.id, "BTC", t(0)).await.unwrap();
    tx.write_balance(
        a.id,
        "BTC",
        held,
        entry(EntryKind::Deposit, Move::Credit(Amount::from_atomic(10)), None),
        t(0),
    )
    .await
    .unwrap();
    tx.lock_balance(b.id, "ETH", t(0)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    tx.lock_account(a.id).await.unwrap();
    let (rows, applied) = tx.freeze_account(a.id, write(&[9; 16], t(10), t(0), t(1))).await.unwrap();
    assert_eq!(
        rows.balances,
        vec![HeldBalance { asset: "BTC".into(), balance: held }],
        "the account's balances, no other's"
    );
    let changes: Vec<(ContactKind, &str)> =
        rows.contact_changes.iter().map(|c| (c.kind, c.previous.as_str())).collect();
    assert_eq!(
        changes,
        [(ContactKind::Email, "first@example.com"), (ContactKind::Phone, "+15550100")],
        "the window's changes, oldest first"
    );
    // Read as they were before the writes of the same call revoked them.
    assert_eq!(rows.sessions.iter().map(|s| s.id).collect::<Vec<_>>(), vec![live.id]);
    assert_eq!(rows.api_keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>(), vec![key.id.clone()]);
    let mut read: Vec<WithdrawalState> = rows.withdrawals.iter().map(|w| w.state).collect();
    read.sort_by_key(|s| s.as_str());
    // Not final (broadcast included, it is recent); the confirmed one went out long ago.
    let mut expected: Vec<WithdrawalState> =
        WithdrawalState::ALL.into_iter().filter(|s| !s.is_final()).collect();
    expected.sort_by_key(|s| s.as_str());
    assert_eq!(read, expected, "open ones and what went on chain since the lookback start");
    assert_eq!(rows.transfers.len(), 2, "requested and held, sent by this account only");
    assert!(rows.transfers.iter().all(|t| t.to_uid == b.uid), "with the receiver's UID");

    let mut want: Vec<WithdrawalId> = ws.iter().filter(|w| w.state.cancellable()).map(|w| w.id).collect();
    want.sort();
    assert_eq!(applied.withdrawals, want, "exactly the states core calls cancellable");
    let mut want_transfers: Vec<TransferId> =
        ts.iter().filter(|t| t.state.cancellable()).map(|t| t.id).collect();
    want_transfers.sort();
    assert_eq!(applied.transfers, want_transfers);
    assert_eq!(applied.api_keys, vec![key.id.clone()]);
    assert_eq!(applied.sessions, vec![live.id]);
    tx.commit().await.unwrap();

    let w = store.withdrawal(want_first(&ws)).await.unwrap().unwrap();
    assert_eq!(
        (w.state, w.cancelled_by.as_deref(), w.cancelled_at),
        (WithdrawalState::Cancelled, Some("freeze"), Some(t(10)))
    );
    // What the statements did, state by state (on SQLite `applied` is the rows read that the
    // statements' predicates pick, confirmed by a count; this reads what they wrote).
    for before in &ws {
        let after = store.withdrawal(before.id).await.unwrap().unwrap().state;
        let expected = if before.state.cancellable() { WithdrawalState::Cancelled } else { before.state };
        assert_eq!(after, expected, "a withdrawal that was {}", before.state.as_str());
    }
    for before in &ts {
        let after = store.transfer(before.id).await.unwrap().unwrap().state;
        let expected = if before.state.cancellable() { TransferState::Cancelled } else { before.state };
        assert_eq!(after, expected, "a transfer that was {}", before.state.as_str());
    }
    assert_eq!(
        store.withdrawal(other.id).await.unwrap().unwrap().state,
        WithdrawalState::Queued,
        "another account's is untouched"
    );
    let frozen = store.account(a.id).await.unwrap().unwrap();
    assert_eq!((frozen.status, frozen.security_stamp.clone()), (AccountStatus::Frozen, vec![9; 16]));
    // Sessions end with the stamp the freeze rotated; their rows are not written.
    let sessions = store.sessions(a.id, 10).await.unwrap();
    let still = sessions.iter().find(|s| s.id == live.id).unwrap();
    assert_eq!(still.revoked_at, None, "the freeze writes no session row");
    assert!(!still.stands(&frozen.security_stamp));
    assert_eq!(still.ended_because(&frozen.security_stamp), Some(RevokeReason::SecurityStampRotated));
    let logged_out = sessions.iter().find(|s| s.id == ended.id).unwrap();
    assert_eq!(logged_out.ended_because(&frozen.security_stamp), Some(RevokeReason::Logout));
    assert_eq!(store.account(b.id).await.unwrap().unwrap().status, AccountStatus::Active);
    assert_eq!(
        store.api_key(&key.id).await.unwrap().unwrap().revoke_reason.as_deref(),
        Some("account_frozen")
    );
}

/// A freeze revokes keys by moving the account's cut, not by writing them: every read sees the
/// revocation, the revoking statements leave such keys alone, a key made after the cut is live,
/// and settling writes the cut into the rows so a later cut does not move it.
async fn the_key_cut_revokes_every_older_key_at_once_and_never_redates_a_revocation(store: Store) {
    let a = create_account(&store, "keys@example.com").await;
    let b = create_account(&store, "bystander@example.com").await;
    let old = api_key(&a, KeyKind::Ed25519, &["read"], &[], t(1));
    let revoked = api_key(&a, KeyKind::Ed25519, &["read"], &[], t(2));
    let others = api_key(&b, KeyKind::Ed25519, &["read"], &[], t(1));
    let mut tx = store.begin().await.unwrap();
    for k in [&old, &revoked, &others] {
        tx.insert_api_key(k).await.unwrap();
    }
    tx.revoke_api_key(a.id, &revoked.id, t(3), RevokeReason::RevokedByUser).await.unwrap();
    let (rows, applied) = tx.freeze_account(a.id, write(&[9; 16], t(10), t(0), t(0))).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows.api_keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>(), vec![old.id.clone()]);
    assert_eq!(applied.api_keys, vec![old.id.clone()]);
    let read = store.api_key(&old.id).await.unwrap().unwrap();
    assert_eq!((read.revoked_at, read.revoke_reason.as_deref()), (Some(t(10)), Some("account_frozen")));
    assert!(!read.is_live(t(11)));
    let listed = store.api_keys(a.id).await.unwrap();
    assert!(listed.iter().all(|k| k.revoked_at.is_some()), "{listed:?}");
    let kept = store.api_key(&revoked.id).await.unwrap().unwrap();
    assert_eq!((kept.revoked_at, kept.revoke_reason.as_deref()), (Some(t(3)), Some("revoked_by_user")));
    assert!(store.api_key(&others.id).await.unwrap().unwrap().is_live(t(11)), "another account's key stands");

    // Nothing left to revoke; a key made after the cut is live and revocable.
    let new = api_key(&a, KeyKind::Ed25519, &["read"], &[], t(20));
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.revoke_api_key(a.id, &old.id, t(21), RevokeReason::RevokedByUser).await.unwrap());
    assert!(tx.revoke_api_keys(a.id, t(21), RevokeReason::CredentialChanged).await.unwrap().is_empty());
    tx.insert_api_key(&new).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.api_key(&new.id).await.unwrap().unwrap().is_live(t(21)));

    // Settled, then cut again later: the first revocation keeps its time.
    let mut tx = store.begin().await.unwrap();
    tx.settle_api_key_cut(a.id).await.unwrap();
    tx.freeze_account(a.id, write(&[8; 16], t(30), t(0), t(0))).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.api_key(&old.id).await.unwrap().unwrap().revoked_at, Some(t(10)));
    let later = store.api_key(&new.id).await.unwrap().unwrap();
    assert_eq!((later.revoked_at, later.revoke_reason.as_deref()), (Some(t(30)), Some("account_frozen")));
}

/// The lock and the freeze in one call (one trip on SQLite): the account as it was locked, the
/// freeze's answer, and the chain head the lock reads; an account already frozen by a freeze of
/// record is left as it was, and no account is no answer.
async fn locking_and_freezing_at_once_answers_the_account_and_leaves_one_frozen_of_record_as_it_was(
    store: Store,
) {
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.lock_and_freeze_account(AccountId::new(), write(&[9; 16], t(10), t(0), t(0)))
            .await
            .unwrap()
            .is_none()
    );
    tx.rollback().await.unwrap();

    let a = create_account(&store, "locked@example.com").await;
    let (session, _) = create_session(&store, &a, t(1)).await;
    let mut queued = withdrawal(&a, None, t(2));
    queued.state = WithdrawalState::Queued;
    let mut tx = store.begin().await.unwrap();
    tx.insert_withdrawal(&queued).await.unwrap();
    tx.append_audit(
        Chain::Account(a.id),
        t(3),
        Actor::System,
        AuditEvent::OtherSessionsRevoked { kept: session.id, count: 0 },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let (locked, answer) =
        tx.lock_and_freeze_account(a.id, write(&[9; 16], t(10), t(0), t(0))).await.unwrap().unwrap();
    assert_eq!((locked.id, locked.status), (a.id, AccountStatus::Active), "as it was locked");
    let (rows, applied) = answer.expect("an active account is frozen");
    assert_eq!(rows.sessions.iter().map(|s| s.id).collect::<Vec<_>>(), vec![session.id]);
    assert_eq!(applied.withdrawals, vec![queued.id]);
    let record = frozen_record(&mut *tx, &a, "policy", "test", t(10)).await;
    assert_eq!(record.seq, 2, "the chain goes on from the head read with the lock");
    tx.insert_freeze(&FreezeRecord {
        id: FreezeId::new(),
        account_id: a.id,
        channel: FreezeChannel::Policy,
        actor: "policy test".into(),
        reason: "test".into(),
        receipt: receipt(a.uid.get(), t(10)),
        receipt_record: Some(AuditPosition { chain: record.chain, seq: record.seq }),
        frozen_at: t(10),
        unfrozen_at: None,
        unfrozen_by: None,
        approved_by: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let frozen = store.account(a.id).await.unwrap().unwrap();
    assert_eq!((frozen.status, frozen.security_stamp.clone()), (AccountStatus::Frozen, vec![9; 16]));

    // Frozen, with a freeze of record: nothing changes, whatever the account holds now.
    let mut later = withdrawal(&a, None, t(11));
    later.state = WithdrawalState::Queued;
    let mut tx = store.begin().await.unwrap();
    tx.insert_withdrawal(&later).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let (locked, answer) =
        tx.lock_and_freeze_account(a.id, write(&[8; 16], t(20), t(0), t(0))).await.unwrap().unwrap();
    assert_eq!(locked.status, AccountStatus::Frozen);
    assert!(answer.is_none(), "left as it was");
    tx.commit().await.unwrap();
    assert_eq!(store.account(a.id).await.unwrap().unwrap().security_stamp, vec![9; 16], "the stamp stays");
    assert_eq!(store.withdrawal(later.id).await.unwrap().unwrap().state, WithdrawalState::Queued);
}

fn want_first(ws: &[WithdrawalRecord]) -> WithdrawalId {
    ws.iter().find(|w| w.state.cancellable()).unwrap().id
}

/// Appends the `AccountFrozen` record a freeze of `a` at `at` writes, carrying [`receipt`].
async fn frozen_record(
    tx: &mut dyn Tx,
    a: &AccountRecord,
    channel: &str,
    reason: &str,
    at: Timestamp,
) -> custos_core::audit::AuditRecord {
    let receipt = Box::new(receipt(a.uid.get(), at));
    let event = AuditEvent::AccountFrozen { channel: channel.into(), reason: reason.into(), receipt };
    tx.append_audit(Chain::Account(a.id), at, Actor::System, event).await.unwrap()
}

fn receipt(uid: u64, at: Timestamp) -> FreezeReceipt {
    FreezeReceipt {
        uid,
        frozen_at: at,
        channel: FreezeChannel::EmailLink,
        reason: "not me".into(),
        sessions_revoked: Vec::new(),
        api_keys_revoked: Vec::new(),
        withdrawals_cancelled: Vec::new(),
        withdrawals_intercepted: Vec::new(),
        withdrawals_not_stopped: Vec::new(),
        withdrawals_beyond_reach: Vec::new(),
        transfers_cancelled: Vec::new(),
    }
}

async fn freezes_keep_their_receipt_and_close_once(store: Store) {
    let a = create_account(&store, "frozen@example.com").await;
    let mut tx = store.begin().await.unwrap();
    assert!(tx.latest_freeze(a.id).await.unwrap().is_none());
    // The first keeps its own copy of the receipt (as rows written before 0051 do); the second
    // names the `AccountFrozen` record that carries it, and is read back from there.
    let record = frozen_record(&mut *tx, &a, "email_link", "not me", t(2)).await;
    let position = AuditPosition { chain: record.chain, seq: record.seq };
    for (i, at) in [t(1), t(2)].into_iter().enumerate() {
        tx.insert_freeze(&FreezeRecord {
            id: FreezeId::new(),
            account_id: a.id,
            channel: FreezeChannel::EmailLink,
            actor: format!("anonymous {i}"),
            reason: "not me".into(),
            receipt: receipt(a.uid.get(), at),
            receipt_record: (i == 1).then(|| position.clone()),
            frozen_at: at,
            unfrozen_at: None,
            unfrozen_by: None,
            approved_by: None,
        })
        .await
        .unwrap();
    }
    let latest = tx.latest_freeze(a.id).await.unwrap().unwrap();
    assert_eq!(latest.receipt, receipt(a.uid.get(), t(2)), "read from the audit record");
    assert_eq!(latest.receipt_record, Some(position));
    assert!(tx.close_freeze(latest.id, t(3), "alice", "bob").await.unwrap());
    assert!(!tx.close_freeze(latest.id, t(4), "alice", "bob").await.unwrap(), "closed once");
    tx.commit().await.unwrap();
    let all = store.freezes(a.id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].unfrozen_at, all[0].approved_by.as_deref()), (Some(t(3)), Some("bob")));
    assert_eq!(all[1].unfrozen_at, None);
    assert_eq!((&all[1].receipt, &all[1].receipt_record), (&receipt(a.uid.get(), t(1)), &None));
    assert_eq!(all[0].receipt, receipt(a.uid.get(), t(2)));
}

async fn a_new_panic_code_replaces_the_old(store: Store) {
    let a = create_account(&store, "panic@example.com").await;
    assert!(!store.has_panic_code(a.id).await.unwrap());
    let first = BearerToken::generate().hash();
    let second = BearerToken::generate().hash();
    let mut tx = store.begin().await.unwrap();
    tx.set_panic_code(a.id, Some(&first), t(1)).await.unwrap();
    tx.set_panic_code(a.id, Some(&second), t(2)).await.unwrap();
    assert_eq!(tx.panic_code_hash(a.id).await.unwrap(), Some(second));
    tx.commit().await.unwrap();
    assert!(store.has_panic_code(a.id).await.unwrap());
    let mut tx = store.begin().await.unwrap();
    tx.set_panic_code(a.id, None, t(3)).await.unwrap();
    assert_eq!(tx.panic_code_hash(a.id).await.unwrap(), None);
    tx.commit().await.unwrap();
}
