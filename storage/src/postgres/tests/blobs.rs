//! BlobIndex on PostgreSQL.

use super::TestDb;
use crate::blob_store::BlobKey;
use crate::meta::{BlobIndex, ServiceIndex, Wanted};
use crate::model::Segment;
use crate::postgres::objects::change_refs;
use crate::postgres::PgIndex;
use crate::StorageError;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn the_collector_forgets_unreferenced_blobs_once_and_not_while_a_backup_holds_it() {
    let Some(db) = TestDb::create().await else { return };
    let index = PgIndex::connect(&db.url).await.unwrap();
    let client = index.client().await.unwrap();
    for (byte, refs) in [(1u8, 0i64), (2, 1), (3, -1)] {
        client.execute("INSERT INTO blobs (hash, size, refs, gen) VALUES ($1, 10, $2, 5)", &[&vec![byte; 32], &refs]).await.unwrap();
    }
    index.set_worker_cursor("gc-hold", Some((crate::now_ms() + 60_000).to_string())).await.unwrap();
    assert!(index.forget_unreferenced_blobs(10).await.unwrap().is_empty(), "a backup holds the collector");
    index.set_worker_cursor("gc-hold", None).await.unwrap();
    let mut forgotten = index.forget_unreferenced_blobs(10).await.unwrap();
    forgotten.sort();
    assert_eq!(forgotten, vec![BlobKey { hash: [1u8; 32], gen: 5 }, BlobKey { hash: [3u8; 32], gen: 5 }]);
    assert!(index.forget_unreferenced_blobs(10).await.unwrap().is_empty(), "taken rows are the collector's");
    for key in forgotten {
        index.blob_deleted(key).await.unwrap();
    }
    let rows: i64 = client.query_one("SELECT count(*) FROM blobs", &[]).await.unwrap().get(0);
    assert_eq!(rows, 1);
    let index = Arc::new(index);
    assert!(wanted(&index, BlobKey { hash: [2u8; 32], gen: 5 }).await);
    assert!(!wanted(&index, BlobKey { hash: [2u8; 32], gen: 4 }).await, "another generation of a blob is nobody's");
    assert!(index.blob_is_referenced([2u8; 32]).await.unwrap());
    assert_eq!(index.blobs_after(None, 10).await.unwrap(), vec![([2u8; 32], 10)]);
    assert_eq!(index.scrub_bytes_total().await.unwrap(), 10);
    index.record_corrupt_blob([2u8; 32], "scrub").await.unwrap();
    index.record_corrupt_blob([2u8; 32], "read").await.unwrap();
    let corrupt = index.corrupt_blobs().await.unwrap();
    assert_eq!((corrupt.len(), corrupt[0].source.as_str()), (1, "scrub"), "the first detection is kept");
}

async fn wanted(index: &Arc<PgIndex>, key: BlobKey) -> bool {
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.blob_wanted_blocking(&key, Wanted::Referenced).unwrap()).await.unwrap()
}

async fn reserve(index: &Arc<PgIndex>, hash: [u8; 32]) -> u64 {
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.reserve_blob_blocking(&hash, 10).unwrap()).await.unwrap()
}

async fn generation(index: &Arc<PgIndex>, hash: [u8; 32]) -> Option<u64> {
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.blob_generation_blocking(&hash, true).unwrap()).await.unwrap()
}

fn put(hash: [u8; 32], gen: u64) -> Segment {
    Segment { hash: hex::encode(hash), len: 10, gen: Some(gen) }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_collected_while_another_node_puts_it_again_comes_back_under_a_new_generation() {
    let Some(db) = TestDb::create().await else { return };
    let (writer, collector) = (Arc::new(PgIndex::connect(&db.url).await.unwrap()), Arc::new(PgIndex::connect(&db.url).await.unwrap()));
    let hash = [7u8; 32];
    let first = reserve(&writer, hash).await;
    assert!(collector.forget_unreferenced_blobs(10).await.unwrap().is_empty(), "a reservation holds the blob");
    // The first writer is slow (or died): its hold runs out and the collector takes the blob.
    let client = writer.client().await.unwrap();
    client.execute("UPDATE blobs SET held_until = 0", &[]).await.unwrap();
    assert_eq!(collector.forget_unreferenced_blobs(10).await.unwrap(), vec![BlobKey { hash, gen: first }]);
    assert_eq!(generation(&collector, hash).await, None, "a doomed blob cannot be read");
    // Another upload of the same bytes reserves it again while the collector deletes it.
    let second = reserve(&writer, hash).await;
    assert!(second > first, "{second} after {first}");
    assert!(!wanted(&collector, BlobKey { hash, gen: first }).await, "the collector deletes the old generation");
    assert!(wanted(&collector, BlobKey { hash, gen: second }).await);
    collector.blob_deleted(BlobKey { hash, gen: first }).await.unwrap();
    assert_eq!(generation(&collector, hash).await, Some(second), "the row of the new generation stays");
    // The slow writer's commit names bytes that are gone: it fails and the client retries.
    assert!(matches!(change_refs(&**client, None, &[put(hash, first)], 1).await, Err(StorageError::Busy)));
    change_refs(&**client, None, &[put(hash, second), put(hash, second)], 1).await.unwrap();
    let (refs, held): (i64, i64) = client.query_one("SELECT refs, held_until FROM blobs", &[]).await.map(|r| (r.get(0), r.get(1))).unwrap();
    assert_eq!((refs, held), (2, 0), "the commit took its references and ended the hold");
    // Once nothing references it, it goes at the collector's next pass.
    change_refs(&**client, None, &[Segment::named(hex::encode(hash), 10)], -1).await.unwrap();
    assert!(collector.forget_unreferenced_blobs(10).await.unwrap().is_empty());
    change_refs(&**client, None, &[Segment::named(hex::encode(hash), 10)], -1).await.unwrap();
    let taken = collector.forget_unreferenced_blobs(10).await.unwrap();
    assert_eq!(taken, vec![BlobKey { hash, gen: second }]);
    collector.blob_deleted(taken[0]).await.unwrap();
    assert_eq!(generation(&writer, hash).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_write_takes_its_blob_back_at_once_and_a_second_reservation_shares_the_generation() {
    let Some(db) = TestDb::create().await else { return };
    let index = Arc::new(PgIndex::connect(&db.url).await.unwrap());
    let hash = [9u8; 32];
    let gen = reserve(&index, hash).await;
    assert_eq!(reserve(&index, hash).await, gen, "two uploads of the same bytes share one blob");
    assert!(index.forget_unreferenced_blobs(10).await.unwrap().is_empty());
    assert!(index.release_blobs(vec![BlobKey { hash, gen: gen + 1 }]).await.unwrap().is_empty(), "only the generation it put");
    assert_eq!(index.release_blobs(vec![BlobKey { hash, gen }]).await.unwrap(), vec![BlobKey { hash, gen }]);
    assert!(index.forget_unreferenced_blobs(10).await.unwrap().is_empty(), "the failed write's caller deletes it");
}
