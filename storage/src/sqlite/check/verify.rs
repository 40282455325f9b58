//! Reads blobs for the check: presence, size and SHA-256 of every blob the index references.

use super::scan::IndexView;
use super::Damage;
use crate::blob::Hash;
use crate::blob_store::{BlobKey, BlobStore};
use coffer_crypto::envelope::sealed_len;
use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// Every blob that is used or has a positive count, with what is wrong with it.
pub(super) fn referenced(blobs: &dyn BlobStore, view: &IndexView, hash_bytes: bool, hashed: &mut u64) -> Vec<(Hash, Damage)> {
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
        if let Some(damage) = inspect(blobs, &hash, &sizes, hash_bytes, hashed) {
            out.push((hash, damage));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn inspect(blobs: &dyn BlobStore, hash: &Hash, sizes: &[u64], hash_bytes: bool, hashed: &mut u64) -> Option<Damage> {
    let unreadable = |e: io::Error| Damage::Unreadable { error: e.to_string() };
    let key = BlobKey::plain(*hash);
    let actual = match blobs.stat(&key) {
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
    match blobs.open_for_check(&key).and_then(|mut file| sha256_of(&mut file)) {
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
