//! SQLite: a write outside any transaction (a session touched, an outbox delivery marked) goes
//! through the one writer connection like every transaction (see `LoneWriter` in `src/sqlite.rs`).
//! It waits its turn behind an open transaction instead of meeting SQLite's lock on another
//! connection, where SQLite's busy handler would put it to sleep for milliseconds at a time.

use std::time::Duration;

use custos_core::Clock;
use custos_core::clock::SystemClock;
use custos_store::testing::fresh_sqlite;
use custos_store::{OutboxRecord, OutboxTopic};

#[tokio::test]
async fn a_write_outside_any_transaction_waits_for_the_open_one_then_applies() {
    let (store, _dir) = fresh_sqlite().await.unwrap();
    let now = SystemClock.now();
    let mut tx = store.begin().await.unwrap();
    let message =
        OutboxRecord::new(OutboxTopic::Email, "lone:1".into(), None, "a@example.com".into(), vec![1], now);
    tx.enqueue(&message).await.unwrap();
    tx.commit().await.unwrap();
    let id = store.outbox_by_key("lone:1").await.unwrap().unwrap().id;

    // A transaction that has sent nothing yet already holds the writer.
    let open = store.begin().await.unwrap();
    let marking = tokio::spawn({
        let store = store.clone();
        async move { store.outbox_delivered(id, now, false).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!marking.is_finished(), "the lone write went ahead of the open transaction");
    assert!(store.outbox_by_key("lone:1").await.unwrap().unwrap().delivered_at.is_none());
    open.commit().await.unwrap();
    marking.await.unwrap().unwrap();
    assert_eq!(store.outbox_by_key("lone:1").await.unwrap().unwrap().delivered_at, Some(now));
    store.close().await;
}
