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
