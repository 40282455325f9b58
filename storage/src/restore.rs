//! Restores of archived versions: RestoreObject records the request on the version, the
//! tiering worker copies its blobs back to the local store (each copy holding a local
//! reference), and once the copy's expiry passes the worker drops it again.

use crate::error::{Result, TierError};
use crate::events::{self, EventName, Requester};
use crate::model::Body;
use crate::sqlite::objects::{version_by_seq, version_row};
use crate::placement::{copy_segments, Place};
use crate::sqlite::refs;
use crate::{now_ms, Store};
use rusqlite::params;

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
        let (key, version_id) = (key.to_string(), version_id.map(str::to_string));
        let tiers = self.tiers();
        self.writer()
            .write(move |c| {
                let (rec, _) = version_row(c, bucket_id, &key, version_id.as_deref())?;
                if rec.delete_marker || !tiers.is_archive(rec.placement.destination()) {
                    return Err(TierError::NotArchived.into());
                }
                let seq: i64 = c.query_row(
                    "SELECT seq FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3",
                    params![bucket_id, key.as_bytes(), rec.version_id],
                    |r| r.get(0),
                )?;
                let started = match &rec.placement.restore {
                    Some(r) if r.done_ms.is_none() => return Err(TierError::RestoreInProgress.into()),
                    Some(_) => {
                        c.prepare_cached("UPDATE objects SET restore_days = ?2, restore_expiry_ms = ?3 WHERE seq = ?1")?
                            .execute(params![seq, days, extended_expiry_ms])?;
                        RestoreStarted::Extended
                    }
                    None => {
                        c.prepare_cached("UPDATE objects SET restore_days = ?2 WHERE seq = ?1")?.execute(params![seq, days])?;
                        RestoreStarted::Started
                    }
                };
                events::record_version(c, EventName::ObjectRestorePost, &rec, &by)?;
                Ok((started, rec.version_id))
            })
            .await
    }

    /// Row numbers of versions whose restore is waiting, after row `after`, at most `limit`.
    pub async fn due_restores(&self, after: i64, limit: usize) -> Result<Vec<i64>> {
        self.readers()
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq FROM objects WHERE restore_days IS NOT NULL AND restore_done_ms IS NULL AND seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![after, limit as i64], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Makes the restored copy of version row `seq`, which expires at `expiry(days, done_ms)`.
    /// False when there was nothing to restore (the version went, or was restored already).
    pub async fn restore_version(&self, seq: i64, expiry: impl FnOnce(u32, i64) -> i64 + Send + 'static) -> Result<bool> {
        let Some((rec, body)) = self.readers().read(move |c| version_by_seq(c, seq)).await? else { return Ok(false) };
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
        let pins = copy_segments(local.clone(), from, Place::Local(local), segments.clone()).await?;
        let tier = rec.placement.tier.clone();
        let done = self
            .writer()
            .write(move |c| {
                let Some((now, _)) = version_by_seq(c, seq)? else { return Ok(false) };
                let Some(restore) = now.placement.restore.clone().filter(|r| r.done_ms.is_none()) else { return Ok(false) };
                if now.placement.tier != tier {
                    return Ok(false); // moved meanwhile: the next pass restores from where it is
                }
                refs::retain_all(c, None, &segments)?;
                let done_ms = now_ms();
                c.prepare_cached("UPDATE objects SET restore_done_ms = ?2, restore_expiry_ms = ?3 WHERE seq = ?1")?
                    .execute(params![seq, done_ms, expiry(restore.days, done_ms)])?;
                events::record_version(c, EventName::ObjectRestoreCompleted, &now, &Requester::coffer())?;
                Ok(true)
            })
            .await;
        drop(pins);
        done
    }

    /// Row numbers of versions whose restored copy expired by `now_ms`, at most `limit`.
    pub async fn expired_restores(&self, now_ms: i64, limit: usize) -> Result<Vec<i64>> {
        self.readers()
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq FROM objects WHERE restore_expiry_ms IS NOT NULL AND restore_expiry_ms <= ?1 ORDER BY restore_expiry_ms LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![now_ms, limit as i64], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Drops the restored copy of version row `seq` if it expired by `now_ms`.
    pub async fn drop_restore(&self, seq: i64, now_ms: i64) -> Result<bool> {
        self.writer()
            .write(move |c| {
                let Some((rec, body)) = version_by_seq(c, seq)? else { return Ok(false) };
                let Some(restore) = rec.placement.restore.clone() else { return Ok(false) };
                if restore.expiry_ms.is_none_or(|e| e > now_ms) {
                    return Ok(false);
                }
                if let (Some(_), Body::Blobs(segments)) = (restore.done_ms, &body) {
                    refs::release_all(c, None, segments)?;
                }
                c.prepare_cached("UPDATE objects SET restore_days = NULL, restore_done_ms = NULL, restore_expiry_ms = NULL WHERE seq = ?1")?
                    .execute([seq])?;
                events::record_version(c, EventName::ObjectRestoreDelete, &rec, &Requester::coffer())?;
                Ok(true)
            })
            .await
    }
}
