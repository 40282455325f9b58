//! `coffer admin check`: compares the index with the blob store (every referenced blob present
//! with its size and hash, reference counts equal to real uses, no orphans) and repairs what it can.
//! It reads the SQLite file itself (one snapshot), so it is a tool of the embedded index.

mod repair;
mod report;
mod scan;
mod verify;

use crate::blob::Hash;
use crate::blob_store::{BlobKey, BlobStore};
use crate::error::{Result, StorageError};
use rusqlite::Connection;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

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

/// Checks the data dir `root` whose blobs are in `blobs` (and repairs it if asked). Safe while the server runs: the index
/// is read in one snapshot, and anything the server may have changed since is read again
/// before it is called a problem or touched.
pub fn check(root: &Path, blobs: &dyn BlobStore, opts: &CheckOptions) -> Result<CheckReport> {
    let index = root.join("index.sqlite");
    if !index.is_file() {
        return Err(StorageError::Io(std::io::Error::new(std::io::ErrorKind::NotFound, format!("no index at {}", index.display()))));
    }
    let conn = crate::sqlite::open_connection(&index)?;
    conn.execute_batch("PRAGMA query_only = ON")?;
    let view = snapshot(&conn)?;
    let mut report = CheckReport {
        objects: view.objects,
        inline_objects: view.inline_objects,
        parts: view.parts,
        blobs_indexed: view.rows.len() as u64,
        torn: view.torn.clone(),
        refcount_mismatches: refcount_mismatches(&view),
        ..Default::default()
    };
    report.awaiting_gc = view.rows.iter().filter(|(h, row)| row.refs <= 0 && !view.uses.contains_key(*h)).count() as u64;

    for (hash, damage) in verify::referenced(blobs, &view, opts.verify_hashes, &mut report.bytes_hashed) {
        // A blob the server released and collected after the snapshot is not missing.
        if damage == Damage::Missing {
            let released = scan::recorded_refs(&conn, &hash)?.is_none_or(|r| r <= 0);
            if released || blobs.contains(&BlobKey::plain(hash))? {
                continue;
            }
        }
        let used_by = scan::users_of(&conn, &hash)?;
        report.damaged.push(DamagedBlob { hash: hex::encode(hash), damage, used_by });
    }

    let stored = blobs.list()?;
    report.blob_files = stored.len() as u64;
    // SQLite's store names every blob by generation 0; another generation is nobody's.
    for key in stored.into_iter().filter(|k| k.gen != 0 || !view.rows.contains_key(&k.hash)) {
        if !blobs.stat(&key)?.is_some_and(|s| s.older_than(opts.orphan_grace)) {
            report.in_flight += 1;
        } else if key.gen != 0 || scan::recorded_refs(&conn, &key.hash)?.is_none() {
            report.orphans.push(key.to_string());
        }
    }

    if opts.repair {
        drop(conn);
        repair::run(root, blobs, opts.orphan_grace, &mut report)?;
    }
    Ok(report)
}

/// Reads the index view in one read transaction.
fn snapshot(conn: &Connection) -> Result<scan::IndexView> {
    conn.execute_batch("BEGIN")?;
    let view = scan::read_view(conn);
    conn.execute_batch("COMMIT")?;
    view
}

/// Blobs whose recorded count differs from their uses. Rows with a count of zero or less that
/// nobody uses are the collector's work, not a mismatch.
fn refcount_mismatches(view: &scan::IndexView) -> Vec<RefcountMismatch> {
    let recorded = view.rows.iter().map(|(h, row)| (*h, Some(row.refs)));
    let unrecorded = view.uses.keys().filter(|h| !view.rows.contains_key(*h)).map(|h| (*h, None));
    let mut out: Vec<RefcountMismatch> = recorded
        .chain(unrecorded)
        .filter_map(|(hash, recorded): (Hash, Option<i64>)| {
            let actual = view.actual_refs(&hash);
            (recorded.unwrap_or(0) != actual).then(|| RefcountMismatch { hash: hex::encode(hash), recorded, actual })
        })
        .collect();
    out.sort_by(|a, b| a.hash.cmp(&b.hash));
    out
}

#[cfg(test)]
mod tests;
