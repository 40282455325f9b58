//! UploadIndex on PostgreSQL: what the SQLite-backed multipart tests check, and the races of
//! two nodes over one upload (a part uploaded twice, Complete against Abort, a part or Complete).

use super::TestDb;
use crate::blob::Hash;
use crate::error::{MultipartError, Result, StorageError};
use crate::meta::{BucketIndex, UploadIndex};
use crate::model::*;
use crate::postgres::PgIndex;
use crate::testutil::{crc32c_of_parts, upload_names};
use crate::tiers::TierSet;
use coffer_crypto::checksum::{Checksum, ChecksumAlgorithm};
use std::sync::Arc;

const MIN: u64 = 100_000;

async fn setup(db: &TestDb) -> (PgIndex, i64) {
    let index = PgIndex::connect(&db.url).await.unwrap();
    index.client().await.unwrap().batch_execute("INSERT INTO users (id, name, created_ms) VALUES ('u1', 'alice', 0)").await.unwrap();
    let bucket = index.create_bucket(User { id: "u1".into(), name: "alice".into() }, "b", "r").await.unwrap().id;
    (index, bucket)
}

async fn create(index: &PgIndex, bucket: i64, key: &str, checksum: Option<UploadChecksum>) -> Upload {
    let upload = Upload {
        upload_id: hex::encode(rand::random::<[u8; 12]>()),
        bucket_id: bucket,
        key: key.into(),
        owner_id: "u1".into(),
        initiated_ms: crate::now_ms(),
        meta: ObjectMeta { content_type: Some("text/x-parts".into()), ..Default::default() },
        checksum,
    };
    index.create_upload(upload.clone()).await.unwrap();
    upload
}

/// A blob hash made of one repeated byte.
fn hash(b: u8) -> Hash {
    [b; 32]
}

/// Records part `number` of `size` bytes held by blob `hash(blob)`, its ETag and checksum
/// computed from `data` (what ingesting the part would have).
async fn put(index: &PgIndex, up: &Upload, number: u32, blob: u8, data: &[u8], size: u64) -> Result<Part> {
    let checksum = up.checksum.map(|c| Checksum::compute(c.algorithm, data).to_base64());
    let etag = hex::encode(<md5::Md5 as md5::Digest>::digest(data));
    let part = Part { number, size, etag, checksum, modified_ms: crate::now_ms() };
    let stored = Body::Blobs(vec![Segment::named(hex::encode(hash(blob)), size)]);
    index.put_part(up, part.clone(), hash(blob), stored, Some(7)).await?;
    Ok(part)
}

fn listed(parts: &[&Part]) -> Vec<CompletePart> {
    parts.iter().map(|p| CompletePart { number: p.number, etag: format!("\"{}\"", p.etag), checksum: p.checksum.clone() }).collect()
}

fn request(parts: Vec<CompletePart>) -> CompleteRequest {
    CompleteRequest { parts, min_part_size: MIN, ..Default::default() }
}

async fn complete(index: &PgIndex, up: &Upload, req: CompleteRequest) -> Result<CompletedUpload> {
    index.complete_upload(up.bucket_id, &up.key, &up.upload_id, req, Arc::new(TierSet::new(Vec::new()))).await
}

fn multipart(r: Result<impl std::fmt::Debug>) -> MultipartError {
    match r {
        Err(StorageError::Multipart(m)) => m,
        other => panic!("{other:?}"),
    }
}

async fn refs(index: &PgIndex, blob: u8) -> i64 {
    let row = index.client().await.unwrap().query_opt("SELECT refs FROM blobs WHERE hash = $1", &[&&hash(blob)[..]]).await.unwrap();
    row.map_or(0, |r| r.get(0))
}

/// Every blob's reference count is the number of part rows and version manifest entries
/// naming it: nothing leaked, nothing released twice.
async fn assert_refs_balance(index: &PgIndex) {
    let off: i64 = index
        .client()
        .await
        .unwrap()
        .query_one(
            "WITH held AS (
                SELECT hash, count(*) AS n FROM (
                    SELECT hash FROM parts
                    UNION ALL
                    SELECT decode(s->>'hash', 'hex') FROM objects o, json_array_elements(o.manifest::json) s
                ) h GROUP BY hash)
             SELECT count(*) FROM blobs b FULL JOIN held ON held.hash = b.hash WHERE COALESCE(b.refs, 0) <> COALESCE(held.n, 0)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(off, 0, "blobs whose references do not balance");
}

#[tokio::test]
async fn complete_names_the_parts_blobs_and_releases_the_rest() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    let up = create(&index, bucket, "k", None).await;
    assert_eq!(index.upload(bucket, "k", &up.upload_id).await.unwrap().unwrap().meta.content_type.as_deref(), Some("text/x-parts"));
    let p1 = put(&index, &up, 1, 1, b"one", MIN).await.unwrap();
    put(&index, &up, 2, 2, b"replaced", 8).await.unwrap();
    let p2 = put(&index, &up, 2, 3, b"two", 10).await.unwrap();
    put(&index, &up, 3, 4, b"never listed", 12).await.unwrap();
    assert_eq!([refs(&index, 1).await, refs(&index, 2).await, refs(&index, 3).await, refs(&index, 4).await], [1, 0, 1, 1]);
    let crc: Option<i64> = index.client().await.unwrap().query_one("SELECT crc32c FROM blobs WHERE hash = $1", &[&&hash(1)[..]]).await.unwrap().get(0);
    assert_eq!(crc, Some(7));

    let (_, page) = index.list_parts(bucket, "k", &up.upload_id, 0, 2).await.unwrap();
    assert_eq!((page.parts.iter().map(|p| p.number).collect::<Vec<_>>(), page.is_truncated), (vec![1, 2], true));
    assert_eq!(page.parts[1], p2);
    let (listed_up, page) = index.list_parts(bucket, "k", &up.upload_id, 2, 2).await.unwrap();
    assert_eq!((page.parts.iter().map(|p| p.number).collect::<Vec<_>>(), page.is_truncated), (vec![3], false));
    assert_eq!(listed_up.upload_id, up.upload_id);

    // A condition that fails leaves the upload as it was.
    let mut taken = request(listed(&[&p1, &p2]));
    taken.conditions.if_match = Some("\"nothing\"".into());
    assert!(matches!(complete(&index, &up, taken).await, Err(StorageError::NoSuchKey | StorageError::PreconditionFailed)));

    let done = complete(&index, &up, request(listed(&[&p1, &p2]))).await.unwrap();
    assert!(done.etag.ends_with("-2"));
    assert_eq!((done.size, done.version_id.as_str()), (MIN + 10, "null"));
    assert_eq!([refs(&index, 1).await, refs(&index, 2).await, refs(&index, 3).await, refs(&index, 4).await], [1, 0, 1, 0]);
    let parts = index.object_parts(bucket, "k", "null").await.unwrap().unwrap();
    assert_eq!(parts.iter().map(|p| (p.number, p.size)).collect::<Vec<_>>(), [(1, MIN), (2, 10)]);
    assert_eq!(index.object_parts(bucket, "k", "other").await.unwrap(), None);
    let (usage, _) = index.bucket_usage(bucket).await.unwrap();
    assert_eq!((usage.objects, usage.logical_bytes), (1, MIN + 10));

    // Completing again answers the same; the upload itself is gone.
    assert_eq!(complete(&index, &up, request(vec![])).await.unwrap(), done);
    assert!(index.upload(bucket, "k", &up.upload_id).await.unwrap().is_none());
    assert!(matches!(multipart(index.list_parts(bucket, "k", &up.upload_id, 0, 10).await), MultipartError::NoSuchUpload));
    assert!(matches!(multipart(put(&index, &up, 4, 5, b"late", 4).await), MultipartError::NoSuchUpload));
    assert_eq!(refs(&index, 5).await, 0, "a part refused takes no reference");
    assert_refs_balance(&index).await;
}

#[tokio::test]
async fn complete_refuses_bad_part_lists_and_abort_releases_every_part() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    let up = create(&index, bucket, "k", None).await;
    let small = put(&index, &up, 1, 1, b"small", 5).await.unwrap();
    let last = put(&index, &up, 2, 2, b"last", 4).await.unwrap();
    assert!(matches!(multipart(complete(&index, &up, request(listed(&[&small, &last]))).await), MultipartError::EntityTooSmall { number: 1, .. }));
    assert!(matches!(multipart(complete(&index, &up, request(listed(&[&last, &small]))).await), MultipartError::InvalidPartOrder));
    let mut wrong = listed(&[&last]);
    wrong[0].etag = "\"0000\"".into();
    assert!(matches!(multipart(complete(&index, &up, request(wrong)).await), MultipartError::InvalidPart(2)));
    let sized = CompleteRequest { expected_size: Some(5), ..request(listed(&[&last])) };
    assert!(matches!(multipart(complete(&index, &up, sized).await), MultipartError::SizeMismatch { expected: 5, actual: 4 }));

    index.abort_upload(bucket, "k", &up.upload_id).await.unwrap();
    assert!(matches!(multipart(complete(&index, &up, request(listed(&[&last]))).await), MultipartError::NoSuchUpload));
    assert!(matches!(multipart(index.abort_upload(bucket, "k", &up.upload_id).await), MultipartError::NoSuchUpload));
    assert_eq!((refs(&index, 1).await, refs(&index, 2).await), (0, 0), "aborting releases every part");
    let objects: i64 = index.client().await.unwrap().query_one("SELECT count(*) FROM objects", &[]).await.unwrap().get(0);
    assert_eq!(objects, 0);
    // Another key's upload of the same id is not this one.
    let other = create(&index, bucket, "j", None).await;
    assert!(index.upload(bucket, "k", &other.upload_id).await.unwrap().is_none());
}

#[tokio::test]
async fn checksums_composite_and_full_object() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    let (one, two) = (vec![7u8; MIN as usize], b"end".to_vec());
    for (i, kind) in [ChecksumType::Composite, ChecksumType::FullObject].into_iter().enumerate() {
        let checksum = Some(UploadChecksum { algorithm: ChecksumAlgorithm::Crc32c, kind });
        let up = create(&index, bucket, "c", checksum).await;
        assert_eq!(index.upload(bucket, "c", &up.upload_id).await.unwrap().unwrap().checksum, checksum, "{kind:?} is kept");
        let blob = 10 * i as u8;
        let (p1, p2) = (put(&index, &up, 1, blob + 1, &one, MIN).await.unwrap(), put(&index, &up, 2, blob + 2, &two, 3).await.unwrap());
        // A part listed with another checksum than it was uploaded with is not that part.
        let mut wrong = listed(&[&p1, &p2]);
        wrong[1].checksum = Some(Checksum::compute(ChecksumAlgorithm::Crc32c, b"other").to_base64());
        assert!(matches!(multipart(complete(&index, &up, request(wrong)).await), MultipartError::InvalidPart(2)));
        let mismatch = CompleteRequest { expected_checksum: Some((ChecksumAlgorithm::Crc32c, "AAAAAA==".into())), ..request(listed(&[&p1, &p2])) };
        assert!(matches!(multipart(complete(&index, &up, mismatch).await), MultipartError::ChecksumMismatch { .. }));
        let done = complete(&index, &up, request(listed(&[&p1, &p2]))).await.unwrap();
        let value = done.checksum.clone().unwrap().value;
        assert_eq!(value, crc32c_of_parts(kind, &[&one, &two]), "{kind:?}");
        assert_eq!(done.checksum.as_ref().unwrap().kind, kind);
        assert_eq!(complete(&index, &up, request(vec![])).await.unwrap(), done, "a repeat keeps the checksum");
    }
}

#[tokio::test]
async fn list_uploads_in_order_with_prefixes_and_markers() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    let mut ids = Vec::new();
    for key in ["a/1", "a/2", "b", "b", "c"] {
        ids.push(create(&index, bucket, key, None).await.upload_id);
    }
    let list = |p: UploadListParams| index.list_uploads(bucket, p);
    let all = list(UploadListParams { max_uploads: 10, ..Default::default() }).await.unwrap();
    assert_eq!((upload_names(&all), all.is_truncated), (ids.clone(), false));
    assert!(list(UploadListParams::default()).await.unwrap().items.is_empty(), "max_uploads 0");
    let folded = list(UploadListParams { delimiter: Some("/".into()), max_uploads: 2, ..Default::default() }).await.unwrap();
    assert_eq!(upload_names(&folded), ["a/".to_string(), ids[2].clone()]);
    assert!(folded.is_truncated);
    let after = UploadListParams { key_marker: Some("b".into()), upload_id_marker: Some(ids[2].clone()), max_uploads: 10, ..Default::default() };
    assert_eq!(upload_names(&list(after).await.unwrap()), ids[3..].to_vec());
    let after_key = UploadListParams { key_marker: Some("b".into()), max_uploads: 10, ..Default::default() };
    assert_eq!(upload_names(&list(after_key).await.unwrap()), [ids[4].clone()]);
    // A page that ended on a common prefix resumes after every key under it.
    let after_prefix = UploadListParams { delimiter: Some("/".into()), key_marker: Some("a/".into()), max_uploads: 1, ..Default::default() };
    assert_eq!(upload_names(&list(after_prefix).await.unwrap()), [ids[2].clone()]);
    let prefixed = list(UploadListParams { prefix: "a/".into(), max_uploads: 10, ..Default::default() }).await.unwrap();
    assert_eq!(upload_names(&prefixed), ids[..2].to_vec());
}

#[tokio::test]
async fn a_replica_completes_under_its_source_identity() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    let of = ReplicaOf { version_id: "0000000001-src".into(), modified_ms: 42, etag: "\"remote\"".into() };
    let up = create(&index, bucket, "r", None).await;
    let p = put(&index, &up, 1, 1, b"bytes", 5).await.unwrap();
    let as_replica = || CompleteRequest { replica_of: Some(of.clone()), ..request(listed(&[&p])) };
    assert!(matches!(complete(&index, &up, as_replica()).await, Err(StorageError::Replication(_))), "not versioned");
    index.set_versioning(bucket, Versioning::Enabled).await.unwrap();
    let done = complete(&index, &up, as_replica()).await.unwrap();
    assert_eq!(done.version_id, of.version_id);
    let row = index.client().await.unwrap().query_one("SELECT replication, modified_ms, is_latest, parts IS NOT NULL FROM objects", &[]).await.unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, i64>(1), row.get::<_, bool>(2), row.get::<_, bool>(3)), ("REPLICA".into(), 42, true, true));
    assert_refs_balance(&index).await;
}

/// Two nodes (PgIndex handles on one database).
async fn two_nodes(db: &TestDb) -> (Arc<PgIndex>, Arc<PgIndex>, i64) {
    let (a, bucket) = setup(db).await;
    (Arc::new(a), Arc::new(PgIndex::connect(&db.url).await.unwrap()), bucket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_part_uploaded_from_two_nodes_keeps_the_last_and_leaks_nothing() {
    let Some(db) = TestDb::create().await else { return };
    let (a, b, bucket) = two_nodes(&db).await;
    for round in 0..5u8 {
        let up = Arc::new(create(&a, bucket, "k", None).await);
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let (node, up) = (if i % 2 == 0 { a.clone() } else { b.clone() }, up.clone());
                tokio::spawn(async move { put(&node, &up, 1, round * 8 + i + 1, &[i], 1).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let (_, page) = a.list_parts(bucket, "k", &up.upload_id, 0, 10).await.unwrap();
        assert_eq!(page.parts.len(), 1);
        let winner: Vec<u8> = a.client().await.unwrap().query_one("SELECT hash FROM parts", &[]).await.unwrap().get(0);
        let held: i64 = a.client().await.unwrap().query_one("SELECT sum(refs)::bigint FROM blobs", &[]).await.unwrap().get(0);
        assert_eq!((held, refs(&a, winner[0]).await), (1, 1), "round {round}: only the last part holds a reference");
        assert_refs_balance(&a).await;
        b.abort_upload(bucket, "k", &up.upload_id).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn complete_racing_abort_a_part_or_another_complete_has_one_outcome() {
    let Some(db) = TestDb::create().await else { return };
    let (a, b, bucket) = two_nodes(&db).await;
    let (mut completed, mut aborted, mut late_parts) = (0, 0, 0);
    for round in 0..30u8 {
        let key = format!("k{round}");
        let up = Arc::new(create(&a, bucket, &key, None).await);
        let blob = round * 8 + 1;
        let p1 = put(&a, &up, 1, blob, b"first", 5).await.unwrap();
        let completing = {
            let (a, up, p1) = (a.clone(), up.clone(), p1.clone());
            tokio::spawn(async move { complete(&a, &up, request(listed(&[&p1]))).await })
        };
        let b2 = b.clone();
        let up2 = up.clone();
        match round % 3 {
            // Abort on the other node: exactly one of the two ends the upload.
            0 => {
                let aborting = tokio::spawn(async move { b2.abort_upload(bucket, &up2.key, &up2.upload_id).await });
                let (c, ab) = (completing.await.unwrap(), aborting.await.unwrap());
                match (c, ab) {
                    (Ok(_), Err(StorageError::Multipart(MultipartError::NoSuchUpload))) => completed += 1,
                    (Err(StorageError::Multipart(MultipartError::NoSuchUpload)), Ok(())) => aborted += 1,
                    other => panic!("round {round}: {other:?}"),
                }
            }
            // Parts on the other node: each lands before the Complete (unlisted, so released) or finds no upload.
            1 => {
                let parts: Vec<_> = (2..6u8)
                    .map(|n| {
                        let (b, up) = (b2.clone(), up2.clone());
                        tokio::spawn(async move { put(&b, &up, u32::from(n), blob + n, b"late", 4).await })
                    })
                    .collect();
                completing.await.unwrap().unwrap();
                completed += 1;
                for (n, part) in (2..6u8).zip(parts) {
                    match part.await.unwrap() {
                        Ok(_) => late_parts += 1,
                        Err(StorageError::Multipart(MultipartError::NoSuchUpload)) => {}
                        Err(e) => panic!("round {round}: {e:?}"),
                    }
                    assert_eq!(refs(&a, blob + n).await, 0, "round {round}: a late part holds nothing");
                }
            }
            // A second Complete on the other node answers the first one's result.
            _ => {
                let again = tokio::spawn(async move { complete(&b2, &up2, request(listed(&[&p1]))).await });
                let (first, second) = (completing.await.unwrap().unwrap(), again.await.unwrap().unwrap());
                assert_eq!(first, second, "round {round}");
                completed += 1;
            }
        }
        let versions: i64 =
            a.client().await.unwrap().query_one("SELECT count(*) FROM objects WHERE key = $1", &[&key.as_bytes()]).await.unwrap().get(0);
        assert_eq!(versions, i64::from(refs(&a, blob).await == 1), "round {round}: a version exactly when the part's blob is held");
        assert!(a.upload(bucket, &key, &up.upload_id).await.unwrap().is_none());
        assert_refs_balance(&a).await;
    }
    assert!(completed >= 20, "completed {completed}, aborted {aborted}, late parts {late_parts}");
}

/// What parts of one upload cost when they arrive at two nodes: 2,000 parts (each its own
/// blob), 16 in flight, then Complete.
/// `cargo test --release -p coffer-storage part_rate -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore]
async fn part_rate() {
    use futures::StreamExt;
    let Some(db) = TestDb::create().await else { return };
    let (a, b, bucket) = two_nodes(&db).await;
    let up = create(&a, bucket, "big", None).await;
    let (up, nodes) = (&up, [&a, &b]);
    let started = std::time::Instant::now();
    futures::stream::iter(1..=2000u32)
        .for_each_concurrent(16, |n| async move {
            let blob: Hash = <sha2::Sha256 as sha2::Digest>::digest(n.to_be_bytes()).into();
            let part = Part { number: n, size: MIN, etag: hex::encode(&blob[..16]), checksum: None, modified_ms: 0 };
            let stored = Body::Blobs(vec![Segment::named(hex::encode(blob), MIN)]);
            nodes[n as usize % 2].put_part(up, part, blob, stored, None).await.unwrap();
        })
        .await;
    let parts_per_s = 2000.0 / started.elapsed().as_secs_f64();
    let (_, page) = a.list_parts(bucket, "big", &up.upload_id, 0, 10_000).await.unwrap();
    let all: Vec<&Part> = page.parts.iter().collect();
    let started = std::time::Instant::now();
    complete(&b, up, request(listed(&all))).await.unwrap();
    println!("parts/s: {parts_per_s:.0} from two nodes; Complete of 2,000 parts: {:?}", started.elapsed());
    assert_refs_balance(&a).await;
}
