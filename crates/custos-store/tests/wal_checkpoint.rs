//! The SQLite WAL is copied back into the database file by the store's background checkpoint, not
//! inside some command's `COMMIT` (see `checkpoint_in_background` in `src/sqlite.rs`).

use std::time::{Duration, Instant};

use custos_store::testing::fresh_sqlite;

#[tokio::test]
async fn written_pages_reach_the_database_file_without_anyone_checkpointing() {
    let (store, dir) = fresh_sqlite().await.unwrap();
    let file = dir.path().join("custos.db");
    let size = || std::fs::metadata(&file).unwrap().len();
    // About 100 pages: far below the 1,000 at which a connection would checkpoint on its own.
    store
        .execute_unchecked_for_tests(
            "CREATE TABLE ballast (b BLOB); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) \
             INSERT INTO ballast SELECT randomblob(4000) FROM n",
        )
        .await
        .unwrap();
    let before = size();
    let deadline = Instant::now() + Duration::from_secs(10);
    while size() < before + 100 * 4000 {
        assert!(Instant::now() < deadline, "the WAL was not checkpointed within 10 s ({} bytes)", size());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.close().await;
}

/// Under a steady stream of write transactions the background checkpoint never finds the WAL
/// wholly copied when a transaction begins, so without help the WAL is never rewound and grows
/// with every commit (it passed 200 MB in seconds in the freeze benchmark). The checkpoint then
/// finishes its copy with the writer held, and the next transaction rewinds the WAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_steady_stream_of_writes_the_wal_is_rewound() {
    use custos_core::Clock;
    use custos_store::{OutboxRecord, OutboxTopic};

    let (store, dir) = fresh_sqlite().await.unwrap();
    let wal = dir.path().join("custos.db-wal");
    let now = custos_core::clock::SystemClock.now();
    let payload = vec![7u8; 6000];
    // Each commit appends at least two pages (8 KiB): 12,000 commits append at least 96 MiB.
    let mut largest = 0;
    let started = Instant::now();
    let mut commits = 0u32;
    while commits < 12_000 && started.elapsed() < Duration::from_secs(20) {
        let mut tx = store.begin().await.unwrap();
        let m = OutboxRecord::new(
            OutboxTopic::Email,
            format!("wal:{commits}"),
            None,
            "a@example.com".into(),
            payload.clone(),
            now,
        );
        tx.enqueue(&m).await.unwrap();
        tx.commit().await.unwrap();
        commits += 1;
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    eprintln!("{commits} commits in {:?}; the WAL file reached {} MiB", started.elapsed(), largest >> 20);
    assert!(largest < 48 << 20, "the WAL reached {} MiB over {commits} commits", largest >> 20);
    store.close().await;
}
