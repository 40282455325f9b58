//! Repairs for the check: reference counts recomputed and set under the index write lock, and
//! orphan files of a local blob store removed in a way that leaves a file a writer is reusing at
//! that moment in place. (Orphans of a remote store are the server's orphan sweep's: only it
//! knows which blobs its writers are about to name.)

use super::scan::{read_view, recorded_refs};
use super::{refcount_mismatches, CheckReport, RefcountMismatch};
use crate::blob::{parse_hash, Hash};
use crate::blob_store::{BlobKey, BlobStore};
use crate::error::Result;
use rusqlite::{params, Connection, TransactionBehavior};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Fixes what `report` lists as fixable and moves it to `report.repaired`.
pub(super) fn run(root: &Path, blobs: &dyn BlobStore, grace: Duration, report: &mut CheckReport) -> Result<()> {
    let mut conn = crate::sqlite::open_connection(&root.join("index.sqlite"))?;
    if !report.refcount_mismatches.is_empty() {
        report.repaired.refcounts = fix_refcounts(&mut conn)?;
        report.refcount_mismatches.clear();
    }
    for hex in std::mem::take(&mut report.orphans) {
        let Some(key) = BlobKey::parse(&hex) else { continue };
        let Some(path) = blobs.local_file(&key) else {
            report.orphans.push(hex);
            continue;
        };
        // Not removed means a writer took the file up again: it is no orphan any more.
        if remove_orphan(root, &conn, &path, &key.hash, grace)? {
            report.repaired.orphans_removed.push(hex);
        }
    }
    Ok(())
}

/// Recounts every blob's uses and sets the counts that differ, in one write transaction so no
/// commit of the server's can come between the count and the fix.
fn fix_refcounts(conn: &mut Connection) -> Result<Vec<RefcountMismatch>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let view = read_view(&tx)?;
    let fixes = refcount_mismatches(&view);
    for fix in &fixes {
        let hash = parse_hash(&fix.hash).expect("mismatches carry well-formed hashes");
        let size = view.uses.get(&hash).map_or(0, |u| u.len) as i64;
        tx.prepare_cached(
            "INSERT INTO blobs (hash, size, refs) VALUES (?1, ?2, ?3) ON CONFLICT(hash) DO UPDATE SET refs = excluded.refs",
        )?
        .execute(params![&hash[..], size, fix.actual])?;
    }
    tx.commit()?;
    Ok(fixes)
}

/// Removes an orphan file unless it is younger than `grace` or has been indexed meanwhile.
/// The file is first moved aside; a server that found it and is about to name it again has
/// touched it (see `BlobDir::publish`), and then it is put back.
fn remove_orphan(root: &Path, conn: &Connection, path: &PathBuf, hash: &Hash, grace: Duration) -> Result<bool> {
    let Ok(seen) = fs::metadata(path).and_then(|m| m.modified()) else { return Ok(false) };
    let old_enough = SystemTime::now().duration_since(seen).is_ok_and(|age| age >= grace);
    if !old_enough || recorded_refs(conn, hash)?.is_some() {
        return Ok(false);
    }
    let aside_dir = root.join("tmp");
    crate::perms::create_dir_all(&aside_dir)?;
    let aside = aside_dir.join(format!("check-orphan-{}", hex::encode(hash)));
    match fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    let touched = fs::metadata(&aside).and_then(|m| m.modified()).map_or(true, |t| t != seen);
    if touched || recorded_refs(conn, hash)?.is_some() {
        fs::rename(&aside, path)?;
        return Ok(false);
    }
    fs::remove_file(&aside)?;
    Ok(true)
}
