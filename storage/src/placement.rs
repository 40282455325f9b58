//! Moving versions between the local store and tiers. A version whose storage class belongs
//! on another tier carries a due move (`move_to`); the tiering worker carries it out: copy
//! each blob to the destination, verified by its SHA-256 name on the way, then switch the
//! version's placement and its blob references in one transaction, after which the old
//! copies are garbage. A crash before the switch leaves the version where it was (the copy
//! is garbage, collected); after it, where it went.
//!
//! The tiering worker alone copies to tiers and collects tier garbage, one step at a time,
//! so a blob is never collected from a tier while a move is copying it there.

use crate::blob::{BlobDir, Hash, PinGuard, StagingFile};
use crate::error::Result;
use crate::model::{Body, ObjectRecord, Segment};
use crate::sqlite::refs::segment_hash;
use crate::blob_store::{copy_verified, BlobKey, BlobStore};
use crate::tiers::TierSet;
use crate::{now_ms, Store, StorageError};
use std::io::{self, Read};
use std::sync::Arc;

/// Where a blob is copied from or to.
#[derive(Clone)]
pub(crate) enum Place {
    Local(Arc<BlobDir>),
    Tier(Arc<dyn BlobStore>),
}

impl Place {
    pub(crate) fn resolve(store: &Store, tiers: &TierSet, tier: Option<&str>) -> io::Result<Place> {
        match tier {
            None => Ok(Place::Local(store.inner.blobs.clone())),
            Some(name) => Ok(Place::Tier(tiers.backend(name)?)),
        }
    }

    pub(crate) fn open_at(&self, hash: &Hash, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        match self {
            Place::Local(dir) => dir.open_at(hash, offset),
            Place::Tier(backend) => backend.open_at(&BlobKey::plain(*hash), offset),
        }
    }
}

/// Copies blob `hash` (`size` bytes) from `from` to `to`, checking it against its name. Bytes
/// that come from a tier pass through a staging file of the local store (`local`). A copy to
/// the local store comes back pinned until the caller's commit. (Tiers keep every blob under
/// generation 0: only the tiering worker writes and collects them.)
pub(crate) fn copy_blob(local: &Arc<BlobDir>, from: &Place, to: &Place, hash: &Hash, size: u64) -> io::Result<Option<PinGuard>> {
    let tier_key = BlobKey::plain(*hash);
    match (from, to) {
        (Place::Local(_), Place::Local(dir)) => dir.publish_existing(hash, size).map(Some),
        (Place::Tier(_), Place::Local(dir)) => dir.publish(stage(dir, from, hash)?, hash).map(Some),
        (_, Place::Tier(backend)) if backend.contains(&tier_key)? => Ok(None),
        (Place::Local(dir), Place::Tier(backend)) => match dir.local_file(hash)? {
            Some(file) => backend.put_file(&tier_key, &file).map(|()| None),
            None => backend.put_file(&tier_key, stage(local, from, hash)?.path()).map(|()| None),
        },
        (Place::Tier(_), Place::Tier(backend)) => backend.put_file(&tier_key, stage(local, from, hash)?.path()).map(|()| None),
    }
}

/// Copies blob `hash` from `from` into a staging file of `dir`, checked and durable.
fn stage(dir: &Arc<BlobDir>, from: &Place, hash: &Hash) -> io::Result<StagingFile> {
    let (mut writer, staged) = dir.create_staging()?;
    copy_verified(&mut *from.open_at(hash, 0)?, hash, |chunk| writer.write_all(chunk))?;
    writer.finish()?;
    Ok(staged)
}

/// Copies every blob of `segments` from `from` to `to` on the blocking pool. Returns the
/// segments as the commit must name them (with the generation each copy to the local store
/// was put under) and the pins that keep those copies until then.
pub(crate) async fn copy_segments(local: Arc<BlobDir>, from: Place, to: Place, segments: Vec<Segment>) -> Result<(Vec<Segment>, Vec<PinGuard>)> {
    tokio::task::spawn_blocking(move || {
        let mut pins = Vec::new();
        let mut copied = Vec::with_capacity(segments.len());
        for mut s in segments {
            if let Some(pin) = copy_blob(&local, &from, &to, &segment_hash(&s)?, s.len)? {
                s.gen = Some(pin.key().gen);
                pins.push(pin);
            }
            copied.push(s);
        }
        Ok((copied, pins))
    })
    .await
    .map_err(|_| StorageError::Closed)?
}

/// What a move did.
#[derive(Debug, PartialEq, Eq)]
pub enum Moved {
    /// The version is now on the tier (None: the local store).
    To(Option<String>),
    /// The version is gone or its move changed meanwhile: nothing was switched.
    Skipped,
}

impl Store {
    /// Row numbers of versions with a due move, after row `after`, at most `limit`.
    pub async fn due_moves(&self, after: i64, limit: usize) -> Result<Vec<i64>> {
        self.index().due_moves(after, limit).await
    }

    /// How many versions have a move due, and how many a restore waiting: the tiering backlog.
    pub async fn tiering_backlog(&self) -> Result<(u64, u64)> {
        self.index().tiering_backlog().await
    }

    /// Carries out the due move of version row `seq`.
    pub async fn move_version(&self, seq: i64) -> Result<Moved> {
        let Some((rec, body)) = self.index().version_at(seq).await? else { return Ok(Moved::Skipped) };
        let Some(to) = rec.placement.moving_to.clone() else { return Ok(Moved::Skipped) };
        let tiers = self.tiers();
        let from = rec.placement.tier.clone();
        let segments = match &body {
            Body::Blobs(segments) => segments.clone(),
            // Small objects stay in the index wherever their class puts them: a file (or a
            // remote object) each would cost more than it saves.
            Body::Inline { .. } => Vec::new(),
        };
        if !segments.is_empty() {
            let (src, dst) = (Place::resolve(self, &tiers, from.as_deref())?, Place::resolve(self, &tiers, to.as_deref())?);
            if let Some(tier) = &to {
                self.note_tier_blobs(tier, &segments).await?;
            }
            let (segments, pins) = copy_segments(self.inner.blobs.clone(), src, dst, segments).await?;
            let switched = self.switch_placement(seq, &rec, to.clone(), segments).await;
            drop(pins);
            return switched;
        }
        self.switch_placement(seq, &rec, to, segments).await
    }

    /// Records blobs about to be copied to `tier` (unreferenced), so that a crash before the
    /// switch leaves them for the collector instead of on the tier for ever.
    async fn note_tier_blobs(&self, tier: &str, segments: &[Segment]) -> Result<()> {
        let blobs: Vec<(Hash, u64)> = segments.iter().map(|s| Ok((segment_hash(s)?, s.len))).collect::<Result<_>>()?;
        self.index().note_tier_blobs(tier.to_string(), blobs).await
    }

    async fn switch_placement(&self, seq: i64, seen: &ObjectRecord, to: Option<String>, segments: Vec<Segment>) -> Result<Moved> {
        let (from, expected_move) = (seen.placement.tier.clone(), seen.placement.moving_to.clone());
        self.index().switch_placement(seq, from, expected_move, to, segments).await
    }

    /// Removes up to `limit` unreferenced blobs from their tiers; returns how many. Only the
    /// tiering worker calls this, between moves (see the module docs).
    pub async fn collect_tier_garbage(&self, limit: usize) -> Result<usize> {
        let garbage = self.index().tier_garbage(limit).await?;
        let tiers = self.tiers();
        let mut removed = 0;
        for (tier, hash) in garbage {
            let (Ok(backend), Ok(h)) = (tiers.backend(&tier), <Hash>::try_from(hash.as_slice())) else { continue };
            tokio::task::spawn_blocking(move || backend.delete(&BlobKey::plain(h))).await.map_err(|_| StorageError::Closed)??;
            self.index().forget_tier_blob(tier, hash).await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Whether a read of `rec` must wait for a restore: it belongs on an archive tier and
    /// has no restored copy.
    pub fn is_archived(&self, rec: &ObjectRecord) -> bool {
        let tiers = self.tiers();
        tiers.is_archive(rec.placement.destination()) && !rec.placement.restore.as_ref().is_some_and(|r| r.readable(now_ms()))
    }
}
