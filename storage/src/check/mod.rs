//! `coffer admin check`: compares the index with the blob store (every referenced blob present
//! with its size and hash, reference counts equal to real uses, no orphans) and repairs what it can.
//! Either index is read in one snapshot through `CheckedIndex` (`sqlite::check`, `postgres::check`).

mod repair;
mod report;
mod verify;
pub(crate) mod view;

use crate::blob::Hash;
use crate::blob_store::{BlobKey, BlobStore};
use crate::error::Result;
use crate::site::{Metadata, Site};
use std::collections::HashMap;
use serde::Serialize;
use std::time::Duration;
use verify::StoredBlobs;
use view::IndexView;

/// What to check and whether to repair.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Re-hash every referenced blob (otherwise only its presence and size are checked).
    pub verify_hashes: bool,
    /// Blob files without an index row younger than this count as in-flight writes, not orphans.
    pub orphan_grace: Duration,
    /// Fix reference counts and remove orphan files.
    pub repair: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { verify_hashes: true, orphan_grace: Duration::from_secs(15 * 60), repair: false }
    }
}

/// What the check found. The problem lists hold what remains after any repair; what was fixed
/// is in `repaired`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    /// Object versions whose bytes are blobs, and those stored inline in the index.
    pub objects: u64,
    pub inline_objects: u64,
    /// Parts of uploads in progress.
    pub parts: u64,
    pub blobs_indexed: u64,
    pub blob_files: u64,
    pub bytes_hashed: u64,
    /// Unreferenced blobs the server's collector has not removed yet (not a problem).
    pub awaiting_gc: u64,
    /// Unindexed blob files younger than the grace period: writes in flight (not a problem).
    pub in_flight: u64,
    /// Referenced blobs that are missing or whose bytes are wrong; cannot be repaired.
    pub damaged: Vec<DamagedBlob>,
    /// Object versions whose recorded size disagrees with their stored bytes.
    pub torn: Vec<TornObject>,
    pub refcount_mismatches: Vec<RefcountMismatch>,
    /// Blob files with no index row, older than the grace period (hex hashes).
    pub orphans: Vec<String>,
    pub repaired: Repairs,
}

#[derive(Clone, Debug, Serialize)]
pub struct DamagedBlob {
    pub hash: String,
    pub damage: Damage,
    /// The object versions and upload parts whose bytes are gone with it.
    pub used_by: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Damage {
    Missing,
    WrongSize { expected: u64, actual: u64 },
    WrongHash { actual: String },
    Unreadable { error: String },
}

#[derive(Clone, Debug, Serialize)]
pub struct TornObject {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RefcountMismatch {
    pub hash: String,
    /// The count in the index; `None` when the blob has no row at all.
    pub recorded: Option<i64>,
    /// The number of manifest segments and upload parts that use it.
    pub actual: i64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Repairs {
    pub refcounts: Vec<RefcountMismatch>,
    pub orphans_removed: Vec<String>,
}

impl CheckReport {
    /// Problems left: damaged blobs, torn objects, wrong reference counts and orphans.
    pub fn problems(&self) -> usize {
        self.damaged.len() + self.torn.len() + self.refcount_mismatches.len() + self.orphans.len()
    }

    pub fn is_clean(&self) -> bool {
        self.problems() == 0
    }
}

/// What the check asks of an index. Reads are fresh unless said otherwise: the server may be
/// writing meanwhile.
pub(crate) trait CheckedIndex {
    /// Every blob row, version and upload part, in one snapshot; inline bodies' bytes are read
    /// (to be hashed) when `inline_bytes` is set.
    fn read_view(&mut self, inline_bytes: bool) -> Result<IndexView>;
    /// The recorded reference count of one blob now and the generation it is stored under, if
    /// it has a row.
    fn recorded(&mut self, hash: &Hash) -> Result<Option<(i64, u64)>>;
    /// Who uses a blob: object versions and upload parts, named for a person to act on.
    fn users_of(&mut self, hash: &Hash) -> Result<Vec<String>>;
    /// Recounts every blob's uses and sets the counts that differ, in one transaction no
    /// commit of a server's can come into; returns what it set. A row it must make names the
    /// generation `stored` holds the blob under (0 when it holds none).
    fn fix_refcounts(&mut self, stored: &HashMap<Hash, u64>) -> Result<Vec<RefcountMismatch>>;
}

/// Checks the store of `site` whose blobs are in `blobs` (and repairs it if asked). Safe while
/// servers run: the index is read in one snapshot, and anything a server may have changed
/// since is read again before it is called a problem or touched.
pub fn check(site: &Site, blobs: &dyn BlobStore, opts: &CheckOptions) -> Result<CheckReport> {
    let mut index: Box<dyn CheckedIndex> = match &site.metadata {
        Metadata::DataDir => Box::new(crate::sqlite::check::SqliteCheck::open(&site.data_dir)?),
        Metadata::Postgres(url) => Box::new(crate::postgres::check::PgCheck::open(url)?),
    };
    run(&mut *index, site, StoredBlobs(blobs), opts)
}

fn run(index: &mut dyn CheckedIndex, site: &Site, blobs: StoredBlobs<'_>, opts: &CheckOptions) -> Result<CheckReport> {
    let view = index.read_view(opts.verify_hashes)?;
    let mut report = CheckReport {
        objects: view.objects,
        inline_objects: view.inline_objects,
        parts: view.parts,
        blobs_indexed: view.rows.len() as u64,
        bytes_hashed: view.inline_bytes_hashed,
        torn: view.torn.clone(),
        refcount_mismatches: view.refcount_mismatches(),
        ..Default::default()
    };
    report.awaiting_gc = view.rows.iter().filter(|(h, row)| row.refs <= 0 && !view.uses.contains_key(*h)).count() as u64;

    for (hash, damage) in verify::referenced(&blobs, &view, opts.verify_hashes, &mut report.bytes_hashed) {
        // A blob a server released and collected after the snapshot is not missing.
        if damage == Damage::Missing {
            // (Or collected and put again under another generation, which is then the one to find.)
            match index.recorded(&hash)? {
                Some((refs, gen)) if refs > 0 => {
                    if blobs.stat(&BlobKey { hash, gen })?.is_some() {
                        continue;
                    }
                }
                _ => continue,
            }
        }
        let used_by = index.users_of(&hash)?;
        report.damaged.push(DamagedBlob { hash: hex::encode(hash), damage, used_by });
    }

    let stored = blobs.list()?;
    report.blob_files = stored.len() as u64;
    let mut generations = HashMap::new();
    // A blob file is the index's when its row names its generation; any other is nobody's.
    for key in stored {
        generations.entry(key.hash).and_modify(|g: &mut u64| *g = (*g).max(key.gen)).or_insert(key.gen);
        if view.key_of(&key.hash) == Some(key) {
            continue;
        }
        if !blobs.stat(&key)?.is_some_and(|s| s.older_than(opts.orphan_grace)) {
            report.in_flight += 1;
        } else if index.recorded(&key.hash)?.is_none_or(|(_, gen)| gen != key.gen) {
            report.orphans.push(key.to_string());
        }
    }

    if opts.repair {
        repair::run(index, &site.data_dir, &blobs, &generations, opts.orphan_grace, &mut report)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
