//! Deletes on PostgreSQL: a batch (DeleteObjects, up to 1000 keys) in one transaction without
//! savepoints, each item's outcome decided before it writes; `delete_latest` / `delete_version`.

use super::buckets::bucket_versioning;
use super::objects::{insert_row, latest, lock_keys, queue_version, remove_row, retire_latest};
use crate::error::{Result, StorageError};
use crate::events::{Change, Remover};
use crate::model::{ObjectMeta, Versioning, NULL_VERSION};
use crate::now_ms;
use crate::objects::{new_delete_marker, DeleteOutcome};
use super::GenericClient;

/// Deletes each (key, version) of `items` for `by`, in order, each with its own outcome. The
/// keys are locked first, all in key order, so two batches, or a batch and a version commit,
/// never wait for each other in a cycle (a rarer cycle through a copy's share lock on its
/// source is a deadlock `transact!` runs again). An item that is refused (`ObjectLocked`) is refused
/// before it writes anything, so no savepoint is needed to undo it; any other error fails the
/// whole batch (its transaction is aborted).
pub(crate) async fn delete_all(c: &impl GenericClient, bucket_id: i64, items: &[(String, Option<String>)], by: Remover<'_>) -> Result<Vec<Result<DeleteOutcome>>> {
    let versioning = match bucket_versioning(c, bucket_id).await {
        Err(StorageError::NoSuchBucket) => return Ok(items.iter().map(|_| Err(StorageError::NoSuchBucket)).collect()),
        other => other?,
    };
    let keys: Vec<&[u8]> = items.iter().map(|(k, _)| k.as_bytes()).collect();
    // Keys that may get a delete marker need a row to lock; the others only if they have one.
    let markers: Vec<&[u8]> = match versioning {
        Versioning::Unversioned => Vec::new(),
        _ => items.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k.as_bytes()).collect(),
    };
    lock_keys(c, bucket_id, &markers, &keys).await?;
    let mut outcomes = Vec::with_capacity(items.len());
    for (key, version_id) in items {
        outcomes.push(match version_id {
            Some(v) => delete_version(c, bucket_id, key, v, by).await?,
            None => Ok(delete_latest(c, bucket_id, versioning, key, by).await?),
        });
    }
    Ok(outcomes)
}

/// Deletes the latest version of an unversioned bucket's key, or places a delete marker; the
/// event (from `by` and what was done) and the marker's replication are queued with it. The
/// caller holds the key's lock (`lock_key`).
pub(crate) async fn delete_latest(c: &impl GenericClient, bucket_id: i64, versioning: Versioning, key: &str, by: Remover<'_>) -> Result<DeleteOutcome> {
    let current = latest(c, bucket_id, key).await?;
    if versioning == Versioning::Unversioned {
        if let Some(l) = current {
            remove_row(c, l.seq).await?;
            let requester = by.requester();
            let change = Change { event: by.event(false), bucket_id, key, version_id: None, object: None, requester: &requester };
            super::events::record(c, &change).await?;
        }
        return Ok(DeleteOutcome::default());
    }
    let now = now_ms();
    retire_latest(c, current.as_ref(), versioning, now).await?;
    let marker = new_delete_marker(bucket_id, key, versioning, now);
    insert_row(c, &marker, None).await?;
    queue_version(c, by.event(true), &marker, &by.requester()).await?;
    Ok(DeleteOutcome { version_id: Some(marker.version_id), delete_marker: true })
}

/// Removes one version (or delete marker) for good, unless Object Lock protects it: then the
/// inner result is `ObjectLocked` and nothing was written. The event (from `by`) is queued with
/// it. The caller holds the key's lock (`lock_key`).
pub(crate) async fn delete_version(c: &impl GenericClient, bucket_id: i64, key: &str, version_id: &str, by: Remover<'_>) -> Result<Result<DeleteOutcome>> {
    let row = c
        .query_opt(
            "SELECT seq, is_latest, delete_marker, meta FROM objects WHERE bucket_id = $1 AND key = $2 AND version_id = $3",
            &[&bucket_id, &key.as_bytes(), &version_id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Ok(DeleteOutcome { version_id: Some(version_id.to_string()), delete_marker: false }));
    };
    let (seq, was_latest, delete_marker): (i64, bool, bool) = (row.get(0), row.get(1), row.get(2));
    let meta: ObjectMeta = serde_json::from_str(row.get(3))?;
    if let Some(why) = meta.lock.protects(now_ms(), by.bypass_governance()) {
        return Ok(Err(StorageError::ObjectLocked(why)));
    }
    remove_row(c, seq).await?;
    let requester = by.requester();
    let version = Some(version_id).filter(|v| *v != NULL_VERSION);
    let change = Change { event: by.event(false), bucket_id, key, version_id: version, object: None, requester: &requester };
    super::events::record(c, &change).await?;
    if was_latest {
        c.execute(
            "UPDATE objects SET is_latest = true, noncurrent_ms = NULL
             WHERE seq = (SELECT max(seq) FROM objects WHERE bucket_id = $1 AND key = $2)",
            &[&bucket_id, &key.as_bytes()],
        )
        .await?;
    }
    Ok(Ok(DeleteOutcome { version_id: Some(version_id.to_string()), delete_marker }))
}
