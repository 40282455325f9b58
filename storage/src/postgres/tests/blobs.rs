//! BlobIndex on PostgreSQL.

use super::TestDb;
use crate::meta::{BlobIndex, ServiceIndex, Wanted};
use crate::postgres::PgIndex;

#[tokio::test(flavor = "multi_thread")]
async fn the_collector_forgets_unreferenced_blobs_once_and_not_while_a_backup_holds_it() {
    let Some(db) = TestDb::create().await else { return };
    let index = PgIndex::connect(&db.url).await.unwrap();
    let client = index.client().await.unwrap();
    for (byte, refs) in [(1u8, 0i64), (2, 1), (3, -1)] {
        client.execute("INSERT INTO blobs (hash, size, refs) VALUES ($1, 10, $2)", &[&vec![byte; 32], &refs]).await.unwrap();
    }
    index.set_worker_cursor("gc-hold", Some((crate::now_ms() + 60_000).to_string())).await.unwrap();
    assert!(index.forget_unreferenced_blobs(10).await.unwrap().is_empty(), "a backup holds the collector");
    index.set_worker_cursor("gc-hold", None).await.unwrap();
    let mut forgotten = index.forget_unreferenced_blobs(10).await.unwrap();
    forgotten.sort();
    assert_eq!(forgotten, vec![[1u8; 32], [3u8; 32]]);
    assert!(index.forget_unreferenced_blobs(10).await.unwrap().is_empty());
    let (hash, index) = ([2u8; 32], std::sync::Arc::new(index));
    let blocking = index.clone();
    let wanted = tokio::task::spawn_blocking(move || blocking.blob_wanted_blocking(&hash, Wanted::Referenced).unwrap()).await.unwrap();
    assert!(wanted);
    assert!(index.blob_is_referenced([2u8; 32]).await.unwrap());
    assert_eq!(index.blobs_after(None, 10).await.unwrap(), vec![([2u8; 32], 10)]);
    assert_eq!(index.scrub_bytes_total().await.unwrap(), 10);
    index.record_corrupt_blob([2u8; 32], "scrub").await.unwrap();
    index.record_corrupt_blob([2u8; 32], "read").await.unwrap();
    let corrupt = index.corrupt_blobs().await.unwrap();
    assert_eq!((corrupt.len(), corrupt[0].source.as_str()), (1, "scrub"), "the first detection is kept");
}
