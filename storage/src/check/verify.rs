//! Reads blob files for the check: presence, size and SHA-256 of every blob the index
//! references, and the age of files the index does not know.

use super::scan::IndexView;
use super::Damage;
use crate::blob::Hash;
use crate::blob_store::local::blob_path;
use coffer_crypto::envelope::sealed_len;
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Every blob that is used or has a positive count, with what is wrong with it.
pub(super) fn referenced(blobs: &Path, view: &IndexView, hash_bytes: bool, hashed: &mut u64) -> Vec<(Hash, Damage)> {
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
        if let Some(damage) = inspect(&blob_path(blobs, &hash), &hash, &sizes, hash_bytes, hashed) {
            out.push((hash, damage));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn inspect(path: &Path, hash: &Hash, sizes: &[u64], hash_bytes: bool, hashed: &mut u64) -> Option<Damage> {
    let unreadable = |e: io::Error| Damage::Unreadable { error: e.to_string() };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(Damage::Missing),
        Err(e) => return Some(unreadable(e)),
    };
    let actual = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => return Some(unreadable(e)),
    };
    if !sizes.contains(&actual) {
        return Some(Damage::WrongSize { expected: sizes[0], actual });
    }
    if !hash_bytes {
        return None;
    }
    match sha256_of(&mut file) {
        Ok(digest) if &digest == hash => {
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

/// Whether the file was last modified more than `age` ago (false if it is gone).
pub(super) fn older_than(path: &Path, age: Duration) -> bool {
    let modified = std::fs::metadata(path).and_then(|m| m.modified());
    modified.is_ok_and(|t| SystemTime::now().duration_since(t).is_ok_and(|d| d >= age))
}
