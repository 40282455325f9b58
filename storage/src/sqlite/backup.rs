//! Online backup of the index: a consistent copy made with SQLite's backup API while the
//! server runs, and the hold that keeps the collector from removing blobs during a backup.

use crate::IndexCounts;
use crate::sqlite::service::{read_cursor, write_cursor};
use crate::error::{Result, StorageError};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

/// The `worker_cursors` row that holds the collector back (its text: until when, ms).
const GC_HOLD: &str = "gc-hold";
/// How often a backup step that found the index busy is retried.
const BUSY_RETRIES: u32 = 50;

/// Copies the index under `root` to the file `dest` (mode 0600), consistently as of one
/// moment, while the server goes on writing; returns what the copy holds.
pub fn backup_index(root: &Path, dest: &Path) -> Result<IndexCounts> {
    let src = crate::sqlite::open_connection(&root.join("index.sqlite"))?;
    let partial = dest.with_extension("partial");
    let _ = fs::remove_file(&partial);
    File::create(&partial)?.set_permissions(fs::Permissions::from_mode(0o600))?;
    let mut dst = Connection::open(&partial)?;
    copy_all(&src, &mut dst)?;
    let counts = count(&dst)?;
    dst.close().map_err(|(_, e)| StorageError::from(e))?;
    File::open(&partial)?.sync_all()?;
    fs::rename(&partial, dest)?;
    if let Some(dir) = dest.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(counts)
}

/// Copies every page in one step: one read transaction, so the copy is one consistent
/// snapshot (in WAL mode the server's writes go on meanwhile; steps of a few pages would
/// restart whenever it commits).
fn copy_all(src: &Connection, dst: &mut Connection) -> Result<()> {
    let backup = Backup::new(src, dst)?;
    for _ in 0..BUSY_RETRIES {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More | StepResult::Busy | StepResult::Locked => std::thread::sleep(Duration::from_millis(100)),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    Err(StorageError::Corrupt("the index stayed busy; backup not taken".into()))
}

pub(crate) fn count(c: &Connection) -> Result<IndexCounts> {
    let n = |sql: &str| -> Result<u64> { Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
    Ok(IndexCounts {
        users: n("SELECT COUNT(*) FROM users")?,
        buckets: n("SELECT COUNT(*) FROM buckets")?,
        objects: n("SELECT COUNT(*) FROM objects WHERE delete_marker = 0")?,
        inline_objects: n("SELECT COUNT(*) FROM inline_bodies")?,
        blobs: n("SELECT COUNT(*) FROM blobs WHERE refs > 0")?,
        blob_bytes: n("SELECT COALESCE(SUM(size), 0) FROM blobs WHERE refs > 0")?,
    })
}

/// Keeps the collector from removing any blob until `until_ms` (ms since the epoch), so a
/// copy of `blobs/` made after an index backup holds every blob that backup names.
pub fn hold_gc(root: &Path, until_ms: i64) -> Result<()> {
    let c = crate::sqlite::open_connection(&root.join("index.sqlite"))?;
    write_cursor(&c, GC_HOLD, Some(&until_ms.to_string()))
}

/// Lets the collector remove unreferenced blobs again.
pub fn release_gc_hold(root: &Path) -> Result<()> {
    let c = crate::sqlite::open_connection(&root.join("index.sqlite"))?;
    write_cursor(&c, GC_HOLD, None)
}

/// Whether a backup holds the collector back now (read inside the collector's transaction).
pub(crate) fn gc_held(c: &Connection) -> Result<bool> {
    let until = read_cursor(c, GC_HOLD)?.and_then(|t| t.parse::<i64>().ok());
    Ok(until.is_some_and(|until| until > crate::now_ms()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{put, sqlite_store};
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_backup_taken_during_writes_opens_with_every_earlier_object() {
        let t = sqlite_store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        for i in 0..20 {
            put(&t, &b, &format!("before{i}"), &vec![i as u8; 1000 * i]).await.unwrap();
        }
        // Writes go on while the backup runs.
        let writer = {
            let store = t.store.clone();
            let owner = t.owner.clone();
            tokio::spawn(async move {
                let t2 = crate::testutil::TestStore { store, _dir: tempfile::tempdir().unwrap(), owner, _db: None };
                for i in 0..200 {
                    put(&t2, &b, &format!("during{i}"), b"x").await.unwrap();
                }
            })
        };
        let dest_dir = tempfile::tempdir().unwrap();
        let dest = dest_dir.path().join("index.sqlite");
        let root = t.store.root().to_path_buf();
        let counts = tokio::task::spawn_blocking({
            let dest = dest.clone();
            move || backup_index(&root, &dest)
        })
        .await
        .unwrap()
        .unwrap();
        writer.await.unwrap();
        assert!(counts.objects >= 20 && counts.users == 1 && counts.buckets == 1, "{counts:?}");
        assert_eq!(fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!dest.with_extension("partial").exists());
        let copy = crate::Store::open(dest_dir.path()).unwrap();
        let cb = copy.bucket("b").await.unwrap();
        for i in 0..20 {
            let (rec, _) = copy.object(cb.id, &format!("before{i}"), None).await.unwrap();
            assert_eq!(rec.size, 1000 * i as u64);
        }
    }

    #[tokio::test]
    async fn a_hold_keeps_the_collector_from_removing_blobs_until_released() {
        let t = sqlite_store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        put(&t, &b, "big", &vec![1u8; 100 * 1024]).await.unwrap();
        t.store.delete_object(b.id, "big", None, Default::default(), crate::DeleteOptions::default()).await.unwrap();
        hold_gc(t.store.root(), crate::now_ms() + 60_000).unwrap();
        assert_eq!(t.store.collect_garbage().await.unwrap(), 0);
        // An expired hold holds nothing.
        hold_gc(t.store.root(), crate::now_ms() - 1).unwrap();
        assert_eq!(t.store.collect_garbage().await.unwrap(), 1);
        hold_gc(t.store.root(), i64::MAX).unwrap();
        release_gc_hold(t.store.root()).unwrap();
        assert_eq!(t.store.collect_garbage().await.unwrap(), 0, "nothing left to collect");
    }
}
