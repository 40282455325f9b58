//! The keyring's JSON form, and the file a data-dir site keeps it in: how it is read, and how
//! writers replace it atomically (temp file, fsync, rename, directory fsync) under a lock file.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

pub(super) const FILE_NAME: &str = "keyring.json";
const TEMP_NAME: &str = "keyring.json.tmp";
const LOCK_NAME: &str = "keyring.lock";
/// The format written; a file with a higher one is refused rather than misread.
const FORMAT: u32 = 1;

/// The whole keyring as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct KeyringFile {
    pub format: u32,
    pub keys: Vec<StoredKey>,
}

impl Default for KeyringFile {
    fn default() -> Self {
        KeyringFile { format: FORMAT, keys: Vec::new() }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct StoredKey {
    /// Canonical id (a UUID).
    pub id: String,
    /// The alias, without `alias/`.
    pub name: String,
    pub enabled: bool,
    /// RFC 3339, UTC.
    pub created: String,
    /// Oldest first; the last one is current.
    pub versions: Vec<StoredVersion>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct StoredVersion {
    pub version: u32,
    pub created: String,
    /// The 32-byte key material wrapped by the master key, base64.
    pub material: String,
}

/// What identifies one state of the file cheaply: a rename gives a new inode, an edit in
/// place a new size or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// A loaded keyring with the open file it came from. Holding the file keeps its inode
/// allocated, so a replacement can never reuse the inode number and look unchanged.
pub(super) struct Loaded {
    pub keys: KeyringFile,
    pub stamp: Stamp,
    pub file: File,
}

/// The stamp of the keyring file in `dir` now, or `None` if there is none.
pub(super) fn stamp(dir: &Path) -> Result<Option<Stamp>, String> {
    let path = dir.join(FILE_NAME);
    match std::fs::metadata(&path) {
        Ok(m) => Ok(Some(Stamp::of(&m))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// Reads the keyring file in `dir`; `None` if there is none yet.
pub(super) fn load(dir: &Path) -> Result<Option<Loaded>, String> {
    let path = dir.join(FILE_NAME);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("opening {}: {e}", path.display())),
    };
    let stamp = Stamp::of(&file.metadata().map_err(|e| format!("reading {}: {e}", path.display()))?);
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let keys = decode(&text, &path.display().to_string())?;
    Ok(Some(Loaded { keys, stamp, file }))
}

/// The keyring in `text`, read from `origin` (named in errors).
pub(super) fn decode(text: &str, origin: &str) -> Result<KeyringFile, String> {
    let keys: KeyringFile = serde_json::from_str(text).map_err(|e| format!("{origin} is not a valid keyring: {e}"))?;
    if keys.format > FORMAT {
        return Err(format!("{origin} has format {}, newer than this coffer understands ({FORMAT})", keys.format));
    }
    Ok(keys)
}

/// The JSON form of `keys`, as the file holds it (and the index of a shared site).
pub(super) fn encode(keys: &KeyringFile) -> String {
    let mut text = serde_json::to_string_pretty(keys).expect("a keyring serializes");
    text.push('\n');
    text
}

/// The exclusive lock every writer of the keyring holds (an flock, so it also excludes
/// other processes, such as `coffer admin kms` next to a running server); released on drop.
pub(super) struct Lock {
    _file: File,
}

impl Lock {
    /// Waits for the lock, creating `dir` (mode 0700) and the lock file as needed.
    pub(super) fn acquire(dir: &Path) -> Result<Lock, String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let path = dir.join(LOCK_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        file.lock().map_err(|e| format!("locking {}: {e}", path.display()))?;
        Ok(Lock { _file: file })
    }
}

/// Replaces the keyring file in `dir` with `keys` (mode 0600), so that readers see either
/// the old file or the new one, and the new one survives a crash once this returns.
pub(super) fn write(_lock: &Lock, dir: &Path, keys: &KeyringFile) -> Result<(), String> {
    let temp = dir.join(TEMP_NAME);
    let path = dir.join(FILE_NAME);
    let text = encode(keys);
    // A temp file left by a writer that crashed is ours to replace: we hold the lock.
    match std::fs::remove_file(&temp) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("removing {}: {e}", temp.display())),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| format!("creating {}: {e}", temp.display()))?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| format!("writing {}: {e}", temp.display()))?;
    drop(file);
    std::fs::rename(&temp, &path).map_err(|e| format!("replacing {}: {e}", path.display()))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| format!("syncing {}: {e}", dir.display()))
}

#[cfg(test)]
pub(super) fn path(dir: &Path) -> std::path::PathBuf {
    dir.join(FILE_NAME)
}
