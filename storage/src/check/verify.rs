//! Reads blobs for the check: presence, size and SHA-256 of every blob the index references.
//! The check reaches the blob store only through `StoredBlobs`.

use super::view::IndexView;
use super::Damage;
use crate::blob::Hash;
use crate::blob_store::{BlobKey, BlobStat, BlobStore};
use coffer_crypto::envelope::sealed_len;
use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// The blob store as the check sees it: every blob by its key (hash and generation: see
/// `IndexView::key_of` for the one the index names).
pub(super) struct StoredBlobs<'a>(pub &'a dyn BlobStore);

impl StoredBlobs<'_> {
    /// The size and age of a blob (None: the store does not hold it).
    pub fn stat(&self, key: &BlobKey) -> io::Result<Option<BlobStat>> {
        self.0.stat(key)
    }

    /// Reads all of a blob, bypassing caches where the store can.
    pub fn open(&self, key: &BlobKey) -> io::Result<Box<dyn Read + Send>> {
        self.0.open_for_check(key)
    }

    /// Every blob the store holds.
    pub fn list(&self) -> io::Result<Vec<BlobKey>> {
        self.0.list()
    }

    /// The local file of a blob, when the store is a directory (the check removes orphans only there).
    pub fn local_file(&self, key: &BlobKey) -> Option<std::path::PathBuf> {
        self.0.local_file(key)
    }
}

/// Every blob that is used or has a positive count, with what is wrong with it.
pub(super) fn referenced(blobs: &StoredBlobs<'_>, view: &IndexView, hash_bytes: bool, hashed: &mut u64) -> Vec<(Hash, Damage)> {
    let used = view.uses.iter().map(|(h, u)| (*h, Some((u.len, u.sealed))));
    let counted = view.rows.iter().filter(|(h, r)| r.refs > 0 && !view.uses.contains_key(*h)).map(|(h, _)| (*h, None));
    let mut out = Vec::new();
    for (hash, known) in used.chain(counted) {
        let plain = known.map_or_else(|| view.rows[&hash].size, |(len, _)| len);
        // Sealed bytes are longer than the plaintext; a blob nobody uses could be either.
        let sizes = match known {
            Some((_, true)) => vec![sealed_len(plain)],
            Some((_, false)) => vec![plain],
            None => vec![plain, sealed_len(plain)],
        };
        // A blob used without a row has no generation recorded: look for its plain name.
        let key = view.key_of(&hash).unwrap_or(BlobKey::plain(hash));
        if let Some(damage) = inspect(blobs, &key, &sizes, hash_bytes, hashed) {
            out.push((hash, damage));
        }
    }
    out.sort_by_key(|a| a.0);
    out
}

fn inspect(blobs: &StoredBlobs<'_>, key: &BlobKey, sizes: &[u64], hash_bytes: bool, hashed: &mut u64) -> Option<Damage> {
    let unreadable = |e: io::Error| Damage::Unreadable { error: e.to_string() };
    let actual = match blobs.stat(key) {
        Ok(Some(stat)) => stat.size,
        Ok(None) => return Some(Damage::Missing),
        Err(e) => return Some(unreadable(e)),
    };
    if !sizes.contains(&actual) {
        return Some(Damage::WrongSize { expected: sizes[0], actual });
    }
    if !hash_bytes {
        return None;
    }
    match blobs.open(key).and_then(|mut file| sha256_of(&mut file)) {
        Ok(digest) if digest == key.hash => {
            *hashed += actual;
            None
        }
        Ok(digest) => {
            *hashed += actual;
            Some(Damage::WrongHash { actual: hex::encode(digest) })
        }
        Err(e) => Some(unreadable(e)),
    }
}

fn sha256_of(file: &mut impl Read) -> io::Result<Hash> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(hasher.finalize().into()),
            n => hasher.update(&buf[..n]),
        }
    }
}
