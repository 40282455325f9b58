//! Blobs in a local directory (the data dir, a shared mount, a tier's disk): files under
//! `blobs/ab/cd/<key>` (`BlobKey`'s name, which starts with the hex hash `abcd…`), written
//! to `tmp/`, fsynced, renamed into place, directory fsynced.
//! A blob's modification time says when it was last written or about to be referenced again,
//! which an outside orphan sweep (`crate::check`) reads as its grace period.

use super::{BlobKey, BlobStat, BlobStore, Detached};
use crate::perms;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// What a detached blob's file name in `tmp/` carries (after the key, before a random suffix).
const DETACHED: &str = ".deleted.";

pub struct LocalBlobs {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl LocalBlobs {
    /// The blobs under `root` (`root/blobs`, staged in `root/tmp`), created if missing and the
    /// owner's alone, like the data directory.
    pub fn open(root: &Path) -> io::Result<LocalBlobs> {
        let (blobs, tmp) = (root.join("blobs"), root.join("tmp"));
        perms::create_dir_all(&blobs)?;
        perms::create_dir_all(&tmp)?;
        Ok(LocalBlobs { blobs, tmp })
    }

    /// The file of blob `key`.
    pub fn path_of(&self, key: &BlobKey) -> PathBuf {
        blob_path(&self.blobs, key)
    }

    /// Renames `src` to `final_path`, creating its fan-out directory if needed, and makes both
    /// durable.
    fn rename_into_place(src: &Path, final_path: &Path) -> io::Result<()> {
        let dir = final_path.parent().expect("blob path has a parent");
        if !dir.exists() {
            perms::create_dir_all(dir)?;
            sync_dir(dir.parent().expect("fan-out dir has a parent"))?;
        }
        fs::rename(src, final_path)?;
        sync_dir(dir)
    }
}

impl BlobStore for LocalBlobs {
    fn put_file(&self, key: &BlobKey, src: &Path) -> io::Result<()> {
        let final_path = self.path_of(key);
        if touch(&final_path).is_ok() {
            return Ok(());
        }
        let tmp_path = self.tmp.join(format!("{key}.{:016x}", rand::random::<u64>()));
        let result = (|| {
            let mut src = File::open(src)?;
            let mut file = perms::file_options().write(true).create_new(true).open(&tmp_path)?;
            super::copy_verified(&mut src, &key.hash, |chunk| file.write_all(chunk))?;
            file.sync_all()?;
            Self::rename_into_place(&tmp_path, &final_path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp_path);
        }
        result
    }

    fn put_staged(&self, key: &BlobKey, staged: &Path) -> io::Result<()> {
        let final_path = self.path_of(key);
        if touch(&final_path).is_ok() {
            // Same bytes are already stored: keep one copy. The fresh mtime tells an outside
            // orphan sweep that the file is about to be referenced again.
            return Ok(());
        }
        match Self::rename_into_place(staged, &final_path) {
            // Staged on another file system (a shared mount for the blobs): copy instead.
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => self.put_file(key, staged),
            other => other,
        }
    }

    fn contains(&self, key: &BlobKey) -> io::Result<bool> {
        Ok(self.path_of(key).exists())
    }

    fn stat(&self, key: &BlobKey) -> io::Result<Option<BlobStat>> {
        match fs::metadata(self.path_of(key)) {
            Ok(m) => Ok(Some(BlobStat { size: m.len(), modified: m.modified()? })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn refresh(&self, key: &BlobKey) -> io::Result<()> {
        touch(&self.path_of(key))
    }

    fn open_at(&self, key: &BlobKey, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        let mut file = File::open(self.path_of(key))?;
        if offset > 0 {
            file.seek(SeekFrom::Start(offset))?;
        }
        Ok(Box::new(file))
    }

    fn open_for_check(&self, key: &BlobKey) -> io::Result<Box<dyn Read + Send>> {
        let file = File::open(self.path_of(key))?;
        // Read what is on the disk, not a cached copy, and leave no check data cached.
        drop_cached_pages(&file);
        Ok(Box::new(Uncached { file }))
    }

    fn delete(&self, key: &BlobKey) -> io::Result<()> {
        super::remove_if_present(&self.path_of(key))
    }

    /// Renames the blob's file into `tmp/` (cleared at start-up, `clear_detached`), where
    /// removing it no longer holds anyone up.
    fn detach(&self, key: &BlobKey) -> io::Result<Detached> {
        let doomed = self.tmp.join(format!("{key}{DETACHED}{:016x}", rand::random::<u64>()));
        match fs::rename(self.path_of(key), &doomed) {
            Ok(()) => Ok(Detached::File(doomed)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Detached::Gone),
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => self.delete(key).map(|()| Detached::Gone),
            Err(e) => Err(e),
        }
    }

    /// The detached files in `tmp/` (a data dir's own `tmp/` is emptied at start-up anyway;
    /// this is for a directory shared by several nodes, where staged copies of the others are
    /// also in `tmp/` and stay).
    fn clear_detached(&self) -> io::Result<usize> {
        let mut cleared = 0;
        for entry in fs::read_dir(&self.tmp)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().contains(DETACHED) {
                super::remove_if_present(&entry.path())?;
                cleared += 1;
            }
        }
        Ok(cleared)
    }

    fn list(&self) -> io::Result<Vec<BlobKey>> {
        list_blob_files(&self.blobs)
    }

    fn local_file(&self, key: &BlobKey) -> Option<PathBuf> {
        Some(self.path_of(key))
    }

    fn location(&self) -> String {
        self.blobs.parent().unwrap_or(&self.blobs).display().to_string()
    }
}

/// A file whose pages are dropped from the cache again once it has been read to its end.
struct Uncached {
    file: File,
}

impl Read for Uncached {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if n == 0 && !buf.is_empty() {
            drop_cached_pages(&self.file);
        }
        Ok(n)
    }
}

/// Asks the kernel to forget the file's cached pages (advice only: failures do not matter).
fn drop_cached_pages(file: &File) {
    // SAFETY: posix_fadvise reads nothing from memory; the descriptor is valid while `file` lives.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

/// Where the blob `key` lives under a `blobs` directory.
pub(crate) fn blob_path(blobs: &Path, key: &BlobKey) -> PathBuf {
    let name = key.to_string();
    blobs.join(&name[0..2]).join(&name[2..4]).join(name)
}

/// Sets a file's modification time to now; fails if the file is not there.
fn touch(path: &Path) -> io::Result<()> {
    File::open(path)?.set_modified(std::time::SystemTime::now())
}

/// Every blob file under a `blobs` directory (files whose names are not keys are skipped).
pub(crate) fn list_blob_files(blobs: &Path) -> io::Result<Vec<BlobKey>> {
    let mut out = Vec::new();
    for l1 in fs::read_dir(blobs)? {
        for l2 in fs::read_dir(l1?.path())? {
            for f in fs::read_dir(l2?.path())? {
                if let Some(key) = f?.file_name().to_str().and_then(BlobKey::parse) {
                    out.push(key);
                }
            }
        }
    }
    Ok(out)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn stores_checks_reads_lists_and_deletes_blobs_of_each_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::open(&dir.path().join("tier")).unwrap();
        let data = b"cold bytes".to_vec();
        let hash: super::super::Hash = Sha256::digest(&data).into();
        let (hash, plain) = (BlobKey { hash, gen: 7 }, BlobKey::plain(hash));
        assert!(!store.contains(&hash).unwrap());
        assert_eq!(store.refresh(&hash).unwrap_err().kind(), io::ErrorKind::NotFound);
        // Bytes that do not hash to the name are refused and leave nothing behind.
        let (other, good) = (dir.path().join("other"), dir.path().join("good"));
        fs::write(&other, b"other bytes").unwrap();
        fs::write(&good, &data).unwrap();
        let wrong = store.put_file(&hash, &other);
        assert_eq!(wrong.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert!(!store.contains(&hash).unwrap());
        assert_eq!(fs::read_dir(dir.path().join("tier/tmp")).unwrap().count(), 0);
        store.put_file(&hash, &good).unwrap();
        assert!(good.exists(), "a put file stays where it was");
        let mut tail = String::new();
        store.open_at(&hash, 5).unwrap().read_to_string(&mut tail).unwrap();
        assert_eq!(tail, "bytes");
        assert_eq!(store.list().unwrap(), vec![hash]);
        assert!(!store.contains(&plain).unwrap(), "each generation is a blob of its own");
        store.put_file(&plain, &good).unwrap();
        let mut listed = store.list().unwrap();
        listed.sort();
        assert_eq!(listed, vec![plain, hash]);
        store.delete(&plain).unwrap();
        store.delete(&hash).unwrap();
        store.delete(&hash).unwrap();
        assert!(!store.contains(&hash).unwrap());
        // A staged file is renamed into place.
        store.put_staged(&hash, &good).unwrap();
        assert!(!good.exists());
        let mut all = Vec::new();
        store.open_for_check(&hash).unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(all, data);
    }

    /// A store in `root` holding `data` as a blob, with its key and the source file it came from.
    fn store_holding(root: &Path, data: &[u8]) -> (LocalBlobs, BlobKey, PathBuf) {
        let store = LocalBlobs::open(root).unwrap();
        let key = BlobKey::plain(Sha256::digest(data).into());
        let src = root.join("src");
        fs::write(&src, data).unwrap();
        store.put_file(&key, &src).unwrap();
        (store, key, src)
    }

    /// Detaching frees the blob's name at once (the same bytes can be stored again while the
    /// old file waits in `tmp/`), and freeing removes the old file and says how big it was.
    #[test]
    fn a_detached_blob_frees_its_name_first_and_its_bytes_later() {
        let dir = tempfile::tempdir().unwrap();
        let (store, key, src) = store_holding(dir.path(), &[7u8; 5000]);
        let detached = store.detach(&key).unwrap();
        assert!(!store.contains(&key).unwrap(), "the name is free at once");
        assert!(matches!(detached, Detached::File(_)));
        store.put_file(&key, &src).unwrap();
        assert_eq!(detached.free().unwrap(), 5000);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "the old file is gone");
        assert!(store.contains(&key).unwrap(), "the blob stored again meanwhile stays");
        store.delete(&key).unwrap();
        assert!(matches!(store.detach(&key).unwrap(), Detached::Gone), "detaching an absent blob is fine");
    }

    /// A crash between detaching and freeing leaves the file in `tmp/`; the next start frees
    /// it, and leaves another node's copy being staged there alone.
    #[test]
    fn detached_files_a_crash_left_are_cleared_and_staged_copies_stay() {
        let dir = tempfile::tempdir().unwrap();
        let (store, key, _) = store_holding(dir.path(), &[3u8; 100]);
        let _never_freed = store.detach(&key).unwrap();
        let staged = dir.path().join("tmp").join(format!("{key}.00000000000000ab"));
        fs::write(&staged, b"another node's copy in progress").unwrap();
        assert_eq!(store.clear_detached().unwrap(), 1);
        let left: Vec<_> = fs::read_dir(dir.path().join("tmp")).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(left, [staged]);
    }
}
