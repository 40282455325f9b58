//! Repairs for the check: reference counts recomputed and set by the index (see
//! `CheckedIndex::fix_refcounts`), and orphan files of a local blob store removed in a way that
//! leaves a file a writer is reusing at that moment in place. (Orphans of a remote store are the
//! server's orphan sweep's: only it knows which blobs its writers are about to name.)

use super::verify::StoredBlobs;
use super::{CheckReport, CheckedIndex};
use crate::blob::Hash;
use crate::blob_store::BlobKey;
use std::collections::HashMap;
use crate::error::Result;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Fixes what `report` lists as fixable and moves it to `report.repaired`.
pub(super) fn run(
    index: &mut dyn CheckedIndex,
    root: &Path,
    blobs: &StoredBlobs<'_>,
    stored: &HashMap<Hash, u64>,
    grace: Duration,
    report: &mut CheckReport,
) -> Result<()> {
    if !report.refcount_mismatches.is_empty() {
        report.repaired.refcounts = index.fix_refcounts(stored)?;
        report.refcount_mismatches.clear();
    }
    for hex in std::mem::take(&mut report.orphans) {
        let Some(key) = BlobKey::parse(&hex) else { continue };
        let Some(path) = blobs.local_file(&key) else {
            report.orphans.push(hex);
            continue;
        };
        // Not removed means a writer took the file up again: it is no orphan any more.
        if remove_orphan(root, index, &path, &key, grace)? {
            report.repaired.orphans_removed.push(hex);
        }
    }
    Ok(())
}

/// Removes an orphan file unless it is younger than `grace` or has been indexed meanwhile.
/// The file is first moved aside; a server that found it and is about to name it again has
/// touched it (see `BlobDir::publish`), and then it is put back.
fn remove_orphan(root: &Path, index: &mut dyn CheckedIndex, path: &PathBuf, key: &BlobKey, grace: Duration) -> Result<bool> {
    let mut indexed = || -> Result<bool> { Ok(index.recorded(&key.hash)?.is_some_and(|(_, gen)| gen == key.gen)) };
    let Ok(seen) = fs::metadata(path).and_then(|m| m.modified()) else { return Ok(false) };
    let old_enough = SystemTime::now().duration_since(seen).is_ok_and(|age| age >= grace);
    if !old_enough || indexed()? {
        return Ok(false);
    }
    let aside_dir = root.join("tmp");
    crate::perms::create_dir_all(&aside_dir)?;
    let aside = aside_dir.join(format!("check-orphan-{key}"));
    match fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    let touched = fs::metadata(&aside).and_then(|m| m.modified()).map_or(true, |t| t != seen);
    if touched || indexed()? {
        fs::rename(&aside, path)?;
        return Ok(false);
    }
    fs::remove_file(&aside)?;
    Ok(true)
}
