//! What the lifecycle worker needs from the index: versions that crossed an age threshold,
//! found through indexes by age (current versions by creation, noncurrent ones by when they
//! stopped being current, delete markers apart); all versions of given keys, or of a range of
//! keys in bounded batches (the occasional full sweep); one action on one version in a
//! transaction that first re-checks it is due; and multipart uploads started before a time.

use crate::error::Result;
use crate::keys::{just_after, prefix_end};
use crate::model::{ObjectMeta, ObjectRecord, Upload};
use crate::objects::DeleteOutcome;
use crate::tiers::TierSet;
use crate::Store;

/// One version of a key, with what lifecycle rules ask about it besides the version itself.
#[derive(Clone, Debug)]
pub struct LifecycleVersion {
    /// The row's sequence number: a rewritten `null` version is another row.
    pub seq: i64,
    pub record: ObjectRecord,
    /// When the next newer version was created (when this one became noncurrent).
    pub successor_ms: Option<i64>,
    /// How many noncurrent versions of the key are newer than this one.
    pub newer_noncurrent: u64,
    /// How many versions (delete markers included) the key has.
    pub versions: u64,
}

/// Which versions an age scan visits, and by which time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgeScan {
    /// Current versions (delete markers too), by creation time.
    Current,
    /// Noncurrent versions, by when they stopped being current.
    Noncurrent,
    /// Current delete markers, by creation time.
    DeleteMarkers,
}

/// Where an age scan stands: the (time, row) it examined last.
pub type AgeCursor = (i64, i64);

/// One batch of an age scan.
#[derive(Debug)]
pub struct AgedBatch {
    /// The keys of the versions found, each once, in the order found.
    pub keys: Vec<String>,
    /// The (time, row) of the last version found: the cursor to save.
    pub last: Option<AgeCursor>,
    /// Whether the scan has reached its bound.
    pub exhausted: bool,
}

/// What to do with a version that is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LifecycleAction {
    /// Expire the current version as DeleteObject without a version id does.
    ExpireCurrent,
    /// Remove this version permanently.
    RemoveVersion,
    /// Give the version this storage class (and a move to the class's tier).
    Transition(String),
}

impl AgedBatch {
    /// The batch of the (time, row, key) of the versions an age scan found, in order, when it
    /// asked for at most `limit`.
    pub(crate) fn of_rows(rows: Vec<(i64, i64, String)>, limit: usize) -> AgedBatch {
        let last = rows.last().map(|(t, seq, _)| (*t, *seq));
        let exhausted = rows.len() < limit;
        let mut keys: Vec<String> = Vec::with_capacity(rows.len());
        for (_, _, key) in rows {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        AgedBatch { keys, last, exhausted }
    }
}

/// The versions of one key, given as (row, when it stopped being current if recorded, the
/// version) newest first, with their lifecycle facts.
pub(crate) fn key_versions(rows: Vec<(i64, Option<i64>, ObjectRecord)>) -> Vec<LifecycleVersion> {
    let versions = rows.len() as u64;
    let mut out = Vec::with_capacity(rows.len());
    let mut successor_ms = None;
    let mut newer_noncurrent = 0;
    for (seq, noncurrent_ms, record) in rows {
        let modified = record.modified_ms;
        let latest = record.is_latest;
        // When it stopped being current (recorded since the lifecycle indexes), else when
        // the next newer version was written: the time the age scans go by.
        let since = noncurrent_ms.or(successor_ms).filter(|_| !latest);
        out.push(LifecycleVersion { seq, record, successor_ms: since, newer_noncurrent, versions });
        if !latest {
            newer_noncurrent += 1;
        }
        successor_ms = Some(modified);
    }
    out
}

/// What transitioning `rec` to storage class `class` writes: its new metadata, and the tier
/// its bytes must move to (Some("") for the local store) if they are elsewhere; None also
/// cancels a move that is no longer wanted.
pub(crate) fn transition(rec: &ObjectRecord, class: &str, tiers: &TierSet) -> (ObjectMeta, Option<String>) {
    let mut meta = rec.meta.clone();
    meta.storage_class = Some(class.to_string());
    let wants = tiers.tier_for_class(Some(class));
    let move_to = (wants != rec.placement.tier.as_deref()).then(|| wants.unwrap_or_default().to_string());
    (meta, move_to)
}

/// Whether lifecycle may perform `action` on `v` now (`now_ms`): it never removes a version
/// Object Lock protects (a delete marker on top of a current one is allowed, as for any
/// request).
pub(crate) fn lock_allows(action: &LifecycleAction, v: &LifecycleVersion, now_ms: i64) -> bool {
    !matches!(action, LifecycleAction::RemoveVersion) || v.record.meta.lock.protects(now_ms, false).is_none()
}

impl Store {
    /// Buckets that have a configuration document of `kind`, with the document.
    pub async fn bucket_configs_of_kind(&self, kind: &str) -> Result<Vec<(i64, String)>> {
        self.index().bucket_configs_of_kind(kind).await
    }

    /// The versions of at most `max_keys` keys that start with `prefix` and sort after
    /// `after`, by key, each key's versions newest first.
    pub async fn lifecycle_batch(&self, bucket_id: i64, prefix: &str, after: Option<&str>, max_keys: usize) -> Result<Vec<Vec<LifecycleVersion>>> {
        let lower = match after {
            Some(a) => just_after(a.as_bytes()).max(prefix.as_bytes().to_vec()),
            None => prefix.as_bytes().to_vec(),
        };
        let upper = prefix_end(prefix.as_bytes());
        self.index().lifecycle_batch(bucket_id, lower, upper, max_keys).await
    }

    /// Versions of the kind `scan` visits whose time is after `after` and at most `bound_ms`,
    /// oldest first, at most `limit`: their keys, where the batch ended (None if it was
    /// empty), and whether the scan reached `bound_ms`.
    pub async fn lifecycle_aged(
        &self,
        bucket_id: i64,
        scan: AgeScan,
        after: AgeCursor,
        bound_ms: i64,
        limit: usize,
    ) -> Result<AgedBatch> {
        self.index().lifecycle_aged(bucket_id, scan, after, bound_ms, limit).await
    }

    /// Every version of each of `keys`, each key's newest first.
    pub async fn lifecycle_keys(&self, bucket_id: i64, keys: Vec<String>) -> Result<Vec<Vec<LifecycleVersion>>> {
        self.index().lifecycle_keys(bucket_id, keys).await
    }

    /// Performs `action` on the version `seq` of `key`, if `still_due` says, inside the same
    /// transaction, that the version as it is now is still due. None when it no longer was.
    pub async fn lifecycle_apply(
        &self,
        bucket_id: i64,
        key: &str,
        seq: i64,
        action: LifecycleAction,
        still_due: impl FnOnce(&LifecycleVersion) -> bool + Send + 'static,
    ) -> Result<Option<DeleteOutcome>> {
        self.index().lifecycle_apply(bucket_id, key, seq, action, Box::new(still_due), self.tiers()).await
    }

    /// Uploads of the bucket started at or before `initiated_before_ms`, after upload row
    /// `after_seq`, at most `limit`, with their row numbers (to continue from).
    pub async fn uploads_started_before(&self, bucket_id: i64, initiated_before_ms: i64, after_seq: i64, limit: usize) -> Result<Vec<(i64, Upload)>> {
        self.index().uploads_started_before(bucket_id, initiated_before_ms, after_seq, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::Versioning;

    #[tokio::test]
    async fn batches_group_versions_and_actions_recheck_in_the_transaction() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
        for key in ["a/1", "a/2", "a/2", "a/2", "b/1"] {
            put(&t, &b, key, b"x").await.unwrap();
        }
        let first = t.store.lifecycle_batch(b.id, "a/", None, 1).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0][0].record.key, "a/1");
        let rest = t.store.lifecycle_batch(b.id, "a/", Some("a/1"), 10).await.unwrap();
        assert_eq!(rest.len(), 1);
        let a2 = &rest[0];
        assert_eq!(a2.len(), 3);
        assert!(a2[0].record.is_latest && a2[0].successor_ms.is_none());
        assert_eq!(a2[2].successor_ms, Some(a2[1].record.modified_ms));
        assert_eq!((a2[1].newer_noncurrent, a2[2].newer_noncurrent, a2[2].versions), (0, 1, 3));

        // A check that fails inside the transaction leaves the version alone.
        let oldest = a2[2].seq;
        assert!(t.store.lifecycle_apply(b.id, "a/2", oldest, LifecycleAction::RemoveVersion, |_| false).await.unwrap().is_none());
        t.store.lifecycle_apply(b.id, "a/2", oldest, LifecycleAction::RemoveVersion, |v| !v.record.is_latest).await.unwrap().unwrap();
        // Expiring the current version of a versioned bucket adds a delete marker.
        let current = a2[0].seq;
        let out = t.store.lifecycle_apply(b.id, "a/2", current, LifecycleAction::ExpireCurrent, |_| true).await.unwrap().unwrap();
        assert!(out.delete_marker);
        // The former current version is no longer current: expiring it again does nothing.
        assert!(t.store.lifecycle_apply(b.id, "a/2", current, LifecycleAction::ExpireCurrent, |_| true).await.unwrap().is_none());
        let after = t.store.lifecycle_batch(b.id, "a/2", None, 10).await.unwrap();
        assert_eq!(after[0].len(), 3);
        assert!(after[0][0].record.delete_marker);
    }

    #[tokio::test]
    async fn age_scans_find_versions_by_the_time_they_crossed_and_resume() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
        for key in ["a", "b", "a", "c"] {
            put(&t, &b, key, b"x").await.unwrap();
        }
        t.store.delete_object(b.id, "c", None, Default::default(), crate::DeleteOptions::default()).await.unwrap();
        let all = |scan| t.store.lifecycle_aged(b.id, scan, (i64::MIN, 0), i64::MAX, 10);
        let current = all(AgeScan::Current).await.unwrap();
        assert_eq!(current.keys, ["b", "a", "c"]);
        assert!(current.exhausted);
        let noncurrent = all(AgeScan::Noncurrent).await.unwrap();
        assert_eq!(noncurrent.keys, ["a", "c"]);
        assert_eq!(all(AgeScan::DeleteMarkers).await.unwrap().keys, ["c"]);
        // A version's noncurrent time is its successor's creation.
        let a = t.store.lifecycle_keys(b.id, vec!["a".into()]).await.unwrap().remove(0);
        assert_eq!(a[1].successor_ms, Some(a[0].record.modified_ms));
        // Batches continue after the cursor and stop at the bound.
        let first = t.store.lifecycle_aged(b.id, AgeScan::Current, (i64::MIN, 0), i64::MAX, 1).await.unwrap();
        assert_eq!((first.keys.as_slice(), first.exhausted), (&["b".to_string()][..], false));
        let rest = t.store.lifecycle_aged(b.id, AgeScan::Current, first.last.unwrap(), i64::MAX, 10).await.unwrap();
        assert_eq!(rest.keys, ["a", "c"]);
        let none = t.store.lifecycle_aged(b.id, AgeScan::Current, (i64::MIN, 0), first.last.unwrap().0 - 1, 10).await.unwrap();
        assert!(none.keys.is_empty() && none.last.is_none() && none.exhausted);
    }

    #[tokio::test]
    async fn uploads_started_before_a_time() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let up = t.store.create_upload(b.id, "k", &t.owner.id, crate::ObjectMeta::default(), None).await.unwrap();
        assert!(t.store.uploads_started_before(b.id, up.initiated_ms - 1, 0, 10).await.unwrap().is_empty());
        let found = t.store.uploads_started_before(b.id, up.initiated_ms, 0, 10).await.unwrap();
        assert_eq!(found[0].1.upload_id, up.upload_id);
    }
}
