//! Outbox messages, claimed once, retried after their backoff; the dev mailbox.

use super::*;

conformance!(
    the_outbox_is_idempotent_and_claims_each_message_once,
    every_outbox_topic_round_trips,
    failed_deliveries_come_back_after_their_backoff,
    an_accounts_pending_messages_of_a_topic_are_listed_oldest_first,
    the_dev_mailbox_keeps_one_copy_per_message_id,
);

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
