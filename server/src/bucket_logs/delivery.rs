//! Delivering queued access log records: one log object per batch in the target bucket,
//! named as S3 names them (simple: `prefix` + date and time + a unique string; partitioned:
//! `prefix` + owner/region/bucket/YYYY/MM/DD/ + the same), written by Coffer as the target
//! bucket's owner.

use crate::bucket_config::logging::{DateSource, Destination};
use bytes::Bytes;
use coffer_storage::{
    AccessLogBatch, EventName, IngestOptions, NewObject, ObjectMeta, Origin, Requester, Store, StorageError, WriteConditions,
};
use super::record::format_ms;

/// What became of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Written as this key of the target bucket.
    As(String),
    /// The target bucket is gone: the records were dropped.
    TargetGone,
}

/// Writes `batch` (whose oldest record was queued at `oldest_ms`) as one log object.
pub async fn deliver(store: &Store, destination: &Destination, batch: &AccessLogBatch, oldest_ms: i64) -> Result<Delivered, StorageError> {
    let target = match store.bucket(&destination.target_bucket).await {
        Ok(bucket) => bucket,
        Err(StorageError::NoSuchBucket) => return Ok(Delivered::TargetGone),
        Err(e) => return Err(e),
    };
    let now_ms = coffer_storage::now_ms();
    let date_ms = match destination.partitioned {
        Some(DateSource::EventTime) => oldest_ms,
        _ => now_ms,
    };
    let key = object_key(destination, date_ms, now_ms);
    let mut text = batch.lines.join("\n");
    text.push('\n');
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(text)) });
    let ingested = store.ingest(Box::pin(body), IngestOptions { checksums: vec![], max_size: u64::MAX, seal: None, hash_plaintext: false }).await?;
    let meta = ObjectMeta { content_type: Some("text/plain".into()), ..ObjectMeta::default() };
    let new = NewObject { key: key.clone(), owner_id: target.owner.id.clone(), meta, origin: Origin::new(EventName::ObjectCreatedPut, Requester::coffer()) };
    store.put_object(&target, new, ingested, WriteConditions::default()).await?;
    Ok(Delivered::As(key))
}

/// The key of a log object delivered at `now_ms` whose date path (partitioned keys) comes
/// from `date_ms`.
fn object_key(d: &Destination, date_ms: i64, now_ms: i64) -> String {
    let unique = format!("{:016X}", rand::random::<u64>());
    let stamp = format_ms(now_ms, time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]"));
    match d.partitioned {
        None => format!("{}{stamp}-{unique}", d.target_prefix),
        Some(_) => {
            let day = format_ms(date_ms, time::macros::format_description!("[year]/[month]/[day]"));
            format!("{}{}/{}/{}/{day}/{stamp}-{unique}", d.target_prefix, d.source_owner, d.region, d.source_bucket)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(partitioned: Option<DateSource>) -> Destination {
        Destination {
            target_bucket: "logs".into(),
            target_prefix: "site/".into(),
            partitioned,
            source_bucket: "www".into(),
            source_owner: "owner1".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn keys_follow_s3s_simple_and_partitioned_formats() {
        let (day_one, day_two) = (1_700_000_000_000, 1_700_100_000_000);
        let simple = object_key(&destination(None), day_one, day_two);
        assert!(simple.starts_with("site/2023-11-16-"), "{simple}");
        assert_eq!(simple.len(), "site/2023-11-16-02-13-20-".len() + 16);
        let partitioned = object_key(&destination(Some(DateSource::EventTime)), day_one, day_two);
        assert!(partitioned.starts_with("site/owner1/us-east-1/www/2023/11/14/2023-11-16-"), "{partitioned}");
    }
}
