//! Restores of archived versions: RestoreObject records the request on the version, the
//! tiering worker copies its blobs back to the local store (each copy holding a local
//! reference), and once the copy's expiry passes the worker drops it again.

use crate::error::Result;
use crate::events::Requester;
use crate::model::Body;
use crate::placement::{copy_segments, Place};
use crate::Store;

/// What RestoreObject did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreStarted {
    /// A restore is queued.
    Started,
    /// A restored copy exists already; its expiry was moved.
    Extended,
}

impl Store {
    /// Asks for a restored copy of a version for `days` days, for `by`. A version with a
    /// restored copy keeps it until `extended_expiry_ms` instead. Returns the version id as well.
    pub async fn request_restore(
        &self,
        bucket_id: i64,
        key: &str,
        version_id: Option<&str>,
        days: u32,
        extended_expiry_ms: i64,
        by: Requester,
    ) -> Result<(RestoreStarted, String)> {
        self.index().request_restore(bucket_id, key, version_id.map(str::to_string), days, extended_expiry_ms, by, self.tiers()).await
    }

    /// Row numbers of versions whose restore is waiting, after row `after`, at most `limit`.
    pub async fn due_restores(&self, after: i64, limit: usize) -> Result<Vec<i64>> {
        self.index().due_restores(after, limit).await
    }

    /// Makes the restored copy of version row `seq`, which expires at `expiry(days, done_ms)`.
    /// False when there was nothing to restore (the version went, or was restored already).
    pub async fn restore_version(&self, seq: i64, expiry: impl FnOnce(u32, i64) -> i64 + Send + 'static) -> Result<bool> {
        let Some((rec, body)) = self.index().version_at(seq).await? else { return Ok(false) };
        if !rec.placement.restore.as_ref().is_some_and(|r| r.done_ms.is_none()) {
            return Ok(false);
        }
        let segments = match body {
            Body::Blobs(segments) => segments,
            Body::Inline { .. } => Vec::new(),
        };
        let tiers = self.tiers();
        let from = Place::resolve(self, &tiers, rec.placement.tier.as_deref())?;
        let local = self.inner.blobs.clone();
        let (segments, pins) = copy_segments(local.clone(), from, Place::Local(local), segments).await?;
        let done = self.index().complete_restore(seq, rec.placement.tier, segments, Box::new(expiry)).await;
        drop(pins);
        done
    }

    /// Row numbers of versions whose restored copy expired by `now_ms`, at most `limit`.
    pub async fn expired_restores(&self, now_ms: i64, limit: usize) -> Result<Vec<i64>> {
        self.index().expired_restores(now_ms, limit).await
    }

    /// Drops the restored copy of version row `seq` if it expired by `now_ms`.
    pub async fn drop_restore(&self, seq: i64, now_ms: i64) -> Result<bool> {
        self.index().drop_restore(seq, now_ms).await
    }
}
