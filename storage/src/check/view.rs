//! What an index says about blobs, as the check compares it with the blob store: blob rows with
//! their recorded counts, and the references versions and upload parts really hold. Each index
//! reads its rows in one snapshot and feeds them here; the rules are the same for both.

use super::{RefcountMismatch, TornObject};
use crate::blob::{parse_hash, Hash};
use crate::blob_store::BlobKey;
use crate::columns::decode_manifest;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A row of the `blobs` table.
pub(crate) struct BlobRow {
    pub size: u64,
    pub refs: i64,
    /// The generation the blob is stored under (always 0 on SQLite).
    pub gen: u64,
}

/// How a blob is used: by how many manifest segments and parts, at what (plaintext) length,
/// and whether its bytes are sealed (then the file is larger than the plaintext).
#[derive(Default)]
pub(crate) struct Uses {
    pub count: i64,
    pub len: u64,
    pub sealed: bool,
}

#[derive(Default)]
pub(crate) struct IndexView {
    pub rows: HashMap<Hash, BlobRow>,
    pub uses: HashMap<Hash, Uses>,
    pub objects: u64,
    pub inline_objects: u64,
    pub parts: u64,
    /// Bytes of inline bodies hashed against their recorded SHA-256.
    pub inline_bytes_hashed: u64,
    pub torn: Vec<TornObject>,
}

/// One object version (not a delete marker) as an index stores it.
pub(crate) struct VersionRow {
    pub bucket: String,
    pub key: Vec<u8>,
    pub version_id: String,
    pub size: u64,
    /// The manifest's JSON; `None` for a body stored inline.
    pub manifest: Option<String>,
    /// Whether the body is encrypted (stored bytes are longer than `size`).
    pub sealed: bool,
    /// The inline body's stored length, its bytes when they are to be hashed, and its recorded SHA-256.
    pub inline_len: Option<u64>,
    pub inline_data: Option<Vec<u8>>,
    pub inline_sha256: Option<Vec<u8>>,
    /// References the version holds on local blobs: 1, 0 when on a tier, 2 with a restored copy.
    pub local_uses: i64,
}

impl IndexView {
    /// Records a row of the `blobs` table (rows whose hash is malformed are skipped).
    pub fn add_blob_row(&mut self, hash: &[u8], size: u64, refs: i64, gen: u64) {
        if let Ok(hash) = <Hash>::try_from(hash) {
            self.rows.insert(hash, BlobRow { size, refs, gen });
        }
    }

    /// The key the index names blob `hash` by in the blob store, if it has a row.
    pub fn key_of(&self, hash: &Hash) -> Option<BlobKey> {
        self.rows.get(hash).map(|row| BlobKey { hash: *hash, gen: row.gen })
    }

    /// Records an upload part's use of its blob.
    pub fn add_part(&mut self, hash: &[u8], size: u64, sealed: bool) {
        self.parts += 1;
        if let Ok(hash) = <Hash>::try_from(hash) {
            self.use_blob(hash, size, sealed, 1);
        }
    }

    /// Records a version's uses of its blobs, or checks its inline body; a version whose
    /// stored bytes disagree with its size (or its recorded hash) is torn.
    pub fn add_version(&mut self, v: VersionRow) {
        let Some(manifest) = &v.manifest else {
            self.inline_objects += 1;
            let stored = v.inline_len.unwrap_or(0);
            if !v.sealed && stored != v.size {
                self.tear(&v, format!("{} bytes long but {stored} bytes stored inline", v.size));
            }
            if let (Some(data), Some(recorded)) = (&v.inline_data, &v.inline_sha256) {
                self.inline_bytes_hashed += data.len() as u64;
                if Sha256::digest(data).as_slice() != recorded.as_slice() {
                    self.tear(&v, "its inline bytes do not hash to their recorded SHA-256".to_string());
                }
            }
            return;
        };
        self.objects += 1;
        let segments = match decode_manifest(manifest) {
            Ok(s) => s,
            Err(e) => return self.tear(&v, e.to_string()),
        };
        let mut total = 0;
        for s in segments {
            let Some(hash) = parse_hash(&s.hash) else {
                self.tear(&v, format!("manifest names a malformed blob {:?}", s.hash));
                continue;
            };
            self.use_blob(hash, s.len, v.sealed, v.local_uses);
            total += s.len;
        }
        if total != v.size {
            self.tear(&v, format!("{} bytes long but its manifest covers {total}", v.size));
        }
    }

    fn tear(&mut self, v: &VersionRow, reason: String) {
        let key = String::from_utf8_lossy(&v.key).into_owned();
        self.torn.push(TornObject { bucket: v.bucket.clone(), key, version_id: v.version_id.clone(), reason });
    }

    fn use_blob(&mut self, hash: Hash, len: u64, sealed: bool, times: i64) {
        if times == 0 {
            return;
        }
        let u = self.uses.entry(hash).or_default();
        u.count += times;
        u.len = len;
        u.sealed |= sealed;
    }

    /// The reference count a blob should have.
    pub fn actual_refs(&self, hash: &Hash) -> i64 {
        self.uses.get(hash).map_or(0, |u| u.count)
    }

    /// Blobs whose recorded count differs from their uses. Rows with a count of zero or less
    /// that nobody uses are the collector's work, not a mismatch.
    pub fn refcount_mismatches(&self) -> Vec<RefcountMismatch> {
        let recorded = self.rows.iter().map(|(h, row)| (*h, Some(row.refs)));
        let unrecorded = self.uses.keys().filter(|h| !self.rows.contains_key(*h)).map(|h| (*h, None));
        let mut out: Vec<RefcountMismatch> = recorded
            .chain(unrecorded)
            .filter_map(|(hash, recorded): (Hash, Option<i64>)| {
                let actual = self.actual_refs(&hash);
                (recorded.unwrap_or(0) != actual).then(|| RefcountMismatch { hash: hex::encode(hash), recorded, actual })
            })
            .collect();
        out.sort_by(|a, b| a.hash.cmp(&b.hash));
        out
    }

    /// The rows that fix the mismatches: (hash, size for a row that is missing, count). (A
    /// missing row's generation is the caller's to find.)
    pub fn refcount_fixes(&self) -> (Vec<RefcountMismatch>, Vec<(Hash, i64, i64)>) {
        let mismatches = self.refcount_mismatches();
        let rows = mismatches
            .iter()
            .map(|m| {
                let hash = parse_hash(&m.hash).expect("mismatches carry well-formed hashes");
                (hash, self.uses.get(&hash).map_or(0, |u| u.len) as i64, m.actual)
            })
            .collect();
        (mismatches, rows)
    }
}

/// How the check names an object version that uses a damaged blob.
pub(crate) fn version_user(bucket: &str, key: &[u8], version_id: &str) -> String {
    format!("{bucket}/{} (version {version_id})", String::from_utf8_lossy(key))
}

/// How the check names an upload part that uses a damaged blob.
pub(crate) fn part_user(bucket: &str, key: &[u8], upload_id: &str, part_number: i64) -> String {
    format!("{bucket}/{} (upload {upload_id}, part {part_number})", String::from_utf8_lossy(key))
}
