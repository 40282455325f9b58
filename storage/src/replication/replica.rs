//! Writing replicas: of a version on this server (sharing its stored bytes, its part list
//! kept), and of versions replicated here from another Coffer, under the identity they have
//! there. A replica keeps its source's version id and time, so it becomes the latest version
//! only if the bucket has nothing newer; one already written (a retried delivery) is left as
//! it is. Replicas are never queued for replication again.

use super::{finish, forget_row, OutboxItem, Replicated};
use crate::error::{Result, StorageError};
use crate::ingest::Ingested;
use crate::model::{Body, Bucket, ObjectRecord, Placement, ReplicaOf, Versioning};
use crate::objects::NewObject;
use crate::sqlite::objects::{insert_row, mark_noncurrent, version_row, Stored};
use crate::tiers::TierSet;
use crate::Store;
use rusqlite::{params, Connection, OptionalExtension};

/// Writes the version of `item` into bucket `dest_bucket_id` here, sharing its bytes.
fn replicate_here(c: &Connection, item: &OutboxItem, dest_bucket_id: i64) -> Result<Replicated> {
    let (src, body) = match version_row(c, item.bucket_id, &item.key, Some(&item.version_id)) {
        Ok(found) => found,
        Err(StorageError::NoSuchVersion | StorageError::NoSuchKey) => {
            forget_row(c, item.seq)?;
            return Ok(Replicated::SourceGone);
        }
        Err(e) => return Err(e),
    };
    require_versioning(c, dest_bucket_id)?;
    if existing_version(c, dest_bucket_id, &item.key, &item.version_id)?.is_none() {
        let replica = ObjectRecord {
            bucket_id: dest_bucket_id,
            placement: Placement { tier: src.placement.tier.clone(), moving_to: None, restore: None },
            replication: Some("REPLICA".into()),
            ..src.clone()
        };
        insert_replica(c, replica, (!src.delete_marker).then_some(&body))?;
        // A multipart source keeps its part list (partNumber reads, GetObjectAttributes).
        c.prepare_cached(
            "UPDATE objects SET parts = (SELECT parts FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3)
             WHERE bucket_id = ?4 AND key = ?2 AND version_id = ?3",
        )?
        .execute(params![src.bucket_id, src.key.as_bytes(), src.version_id, dest_bucket_id])?;
    }
    finish(c, item, "COMPLETED", None, None)?;
    Ok(Replicated::Done)
}

/// Replicas keep their source's version ids, which only a versioned bucket has.
fn require_versioning(c: &Connection, bucket_id: i64) -> Result<()> {
    let versioning: Option<String> =
        c.prepare_cached("SELECT versioning FROM buckets WHERE id = ?1")?.query_row([bucket_id], |r| r.get(0)).optional()?;
    match versioning.map(|v| Versioning::parse(&v)) {
        None => Err(StorageError::NoSuchBucket),
        Some(Versioning::Enabled) => Ok(()),
        Some(_) => Err(StorageError::Replication("the destination bucket does not have versioning enabled".into())),
    }
}

fn existing_version(c: &Connection, bucket_id: i64, key: &str, version_id: &str) -> Result<Option<ObjectRecord>> {
    match version_row(c, bucket_id, key, Some(version_id)) {
        Ok((rec, _)) => Ok(Some(rec)),
        Err(StorageError::NoSuchVersion | StorageError::NoSuchKey) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a version replicated from another server into `bucket_id` under the identity it had
/// there; a replica already written (a retried delivery) is returned as it is. Runs in the writer.
pub(crate) fn write_replica(c: &Connection, bucket_id: i64, new: &NewObject, stored: &Stored, of: &ReplicaOf, tiers: &TierSet) -> Result<ObjectRecord> {
    require_versioning(c, bucket_id)?;
    if let Some(rec) = existing_version(c, bucket_id, &new.key, &of.version_id)? {
        return Ok(rec);
    }
    let wants = tiers.tier_for_class(new.meta.storage_class.as_deref());
    let record = ObjectRecord {
        bucket_id,
        key: new.key.clone(),
        version_id: of.version_id.clone(),
        is_latest: true,
        delete_marker: false,
        size: stored.size,
        etag: of.etag.clone(),
        modified_ms: of.modified_ms,
        owner_id: new.owner_id.clone(),
        meta: new.meta.clone(),
        placement: Placement {
            tier: stored.tier.map(str::to_string),
            moving_to: (wants != stored.tier).then(|| wants.map(str::to_string)),
            restore: None,
        },
        replication: Some("REPLICA".into()),
    };
    insert_replica(c, record, Some(stored.body))
}

/// Writes a delete marker replicated from another server under the identity it had there.
fn write_marker_replica(c: &Connection, bucket_id: i64, key: &str, of: &ReplicaOf) -> Result<ObjectRecord> {
    require_versioning(c, bucket_id)?;
    if let Some(rec) = existing_version(c, bucket_id, key, &of.version_id)? {
        return Ok(rec);
    }
    let marker = ObjectRecord {
        bucket_id,
        key: key.to_string(),
        version_id: of.version_id.clone(),
        is_latest: true,
        delete_marker: true,
        size: 0,
        etag: String::new(),
        modified_ms: of.modified_ms,
        owner_id: String::new(),
        meta: Default::default(),
        placement: Placement::default(),
        replication: Some("REPLICA".into()),
    };
    insert_replica(c, marker, None)
}

/// Inserts `replica` (its own version id and time already set); it becomes the latest version
/// unless the bucket has a newer one. Returns it as inserted.
fn insert_replica(c: &Connection, mut replica: ObjectRecord, body: Option<&Body>) -> Result<ObjectRecord> {
    let (bucket_id, key) = (replica.bucket_id, replica.key.clone());
    let current: Option<(i64, String, i64)> = c
        .prepare_cached("SELECT seq, version_id, modified_ms FROM objects WHERE bucket_id = ?1 AND key = ?2 AND is_latest = 1")?
        .query_row(params![bucket_id, key.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    // Version ids are time-ordered; `null` (written before versioning) is older than any.
    let newer_there = current.as_ref().is_some_and(|(_, v, _)| v != "null" && v.as_str() > replica.version_id.as_str());
    if let (Some((seq, _, _)), false) = (&current, newer_there) {
        mark_noncurrent(c, *seq, replica.modified_ms)?;
    }
    replica.is_latest = !newer_there;
    insert_row(c, &replica, body)?;
    if newer_there {
        let newer_ms = current.map(|(_, _, ms)| ms).unwrap_or(replica.modified_ms);
        c.prepare_cached("UPDATE objects SET noncurrent_ms = ?4 WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3")?
            .execute(params![bucket_id, key.as_bytes(), replica.version_id, newer_ms])?;
    }
    Ok(replica)
}

impl Store {
    /// Puts the version of `item` into bucket `dest_bucket_id` of this server as a replica,
    /// marks the source COMPLETED and removes the row, all in one transaction.
    pub async fn replicate_here(&self, item: &OutboxItem, dest_bucket_id: i64) -> Result<Replicated> {
        let item = item.clone();
        self.writer().write(move |c| replicate_here(c, &item, dest_bucket_id)).await
    }

    /// Writes a version replicated from another server (see `write_replica`).
    pub async fn put_replica(&self, bucket: &Bucket, new: NewObject, body: Ingested, of: ReplicaOf) -> Result<ObjectRecord> {
        let (bucket_id, tiers) = (bucket.id, self.tiers());
        self.commit_body(body, |nb| {
            self.writer().write(move |c| {
                let record = write_replica(c, bucket_id, &new, &Stored { size: nb.size, etag: &of.etag, body: &nb.body, tier: None }, &of, &tiers)?;
                crate::sqlite::objects::note_crc32c(c, &nb.body, nb.crc32c)?;
                Ok(record)
            })
        })
        .await
    }

    /// Writes a delete marker replicated from another server.
    pub async fn put_marker_replica(&self, bucket_id: i64, key: &str, of: ReplicaOf) -> Result<ObjectRecord> {
        let key = key.to_string();
        self.writer().write(move |c| write_marker_replica(c, bucket_id, &key, &of)).await
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{ReplicaOf, Versioning};

    fn of(version: &str, ms: i64) -> ReplicaOf {
        ReplicaOf { version_id: version.into(), modified_ms: ms, etag: String::new() }
    }

    #[tokio::test]
    async fn replicas_arriving_late_or_twice_keep_the_newest_latest() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "dst", "us-east-1").await.unwrap();
        assert!(t.store.put_marker_replica(b.id, "k", of("0002", 2000)).await.is_err(), "an unversioned bucket takes no replicas");
        t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
        let newer = t.store.put_marker_replica(b.id, "k", of("0002", 2000)).await.unwrap();
        assert!(newer.is_latest && newer.delete_marker && newer.replication.as_deref() == Some("REPLICA"));
        let older = t.store.put_marker_replica(b.id, "k", of("0001", 1000)).await.unwrap();
        assert!(!older.is_latest, "an older version arriving late is not the latest");
        let again = t.store.put_marker_replica(b.id, "k", of("0002", 2000)).await.unwrap();
        assert_eq!(again.version_id, "0002");
        let (latest, _) = t.store.object(b.id, "k", None).await.unwrap();
        assert_eq!(latest.version_id, "0002");
        let page = t.store.replicated_versions(b.id, None, 10).await.unwrap();
        assert_eq!(page.len(), 2, "a retried delivery wrote nothing new");
    }
}
