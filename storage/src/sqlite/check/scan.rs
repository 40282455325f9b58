//! What the index says about blobs, read inside one transaction: the blob rows with their
//! recorded reference counts, and the references object manifests and upload parts really hold.

use super::TornObject;
use crate::blob::{parse_hash, Hash};
use crate::error::Result;
use crate::columns::decode_manifest;
use rusqlite::{params, Connection};
use std::collections::HashMap;

/// A row of the `blobs` table.
pub(super) struct BlobRow {
    pub size: u64,
    pub refs: i64,
}

/// How a blob is used: by how many manifest segments and parts, at what (plaintext) length,
/// and whether its bytes are sealed (then the file is larger than the plaintext).
#[derive(Default)]
pub(super) struct Uses {
    pub count: i64,
    pub len: u64,
    pub sealed: bool,
}

#[derive(Default)]
pub(super) struct IndexView {
    pub rows: HashMap<Hash, BlobRow>,
    pub uses: HashMap<Hash, Uses>,
    pub objects: u64,
    pub inline_objects: u64,
    pub parts: u64,
    pub torn: Vec<TornObject>,
}

impl IndexView {
    fn use_blob(&mut self, hash: Hash, len: u64, sealed: bool) {
        self.use_blob_times(hash, len, sealed, 1);
    }

    fn use_blob_times(&mut self, hash: Hash, len: u64, sealed: bool, times: i64) {
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
}

/// Reads the whole view; run it inside a transaction so it is one consistent snapshot.
pub(super) fn read_view(c: &Connection) -> Result<IndexView> {
    let mut view = IndexView::default();
    let mut rows = c.prepare("SELECT hash, size, refs FROM blobs")?;
    let mut rows = rows.query([])?;
    while let Some(r) = rows.next()? {
        let hash: Vec<u8> = r.get(0)?;
        if let Ok(hash) = <Hash>::try_from(hash.as_slice()) {
            view.rows.insert(hash, BlobRow { size: r.get::<_, i64>(1)? as u64, refs: r.get(2)? });
        }
    }
    read_objects(c, &mut view)?;
    read_parts(c, &mut view)?;
    Ok(view)
}

fn read_objects(c: &Connection, view: &mut IndexView) -> Result<()> {
    let mut stmt = c.prepare(
        "SELECT b.name, o.key, o.version_id, o.size, o.manifest,
                json_extract(o.meta, '$.encryption') IS NOT NULL, length(i.data),
                (o.tier IS NULL) + (o.restore_done_ms IS NOT NULL)
         FROM objects o JOIN buckets b ON b.id = o.bucket_id LEFT JOIN inline_bodies i ON i.seq = o.seq
         WHERE o.delete_marker = 0",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let size = r.get::<_, i64>(3)? as u64;
        let manifest: Option<String> = r.get(4)?;
        let sealed: bool = r.get(5)?;
        let inline_len: Option<i64> = r.get(6)?;
        // A version on a tier holds no local reference, except for its restored copy.
        let local_uses: i64 = r.get(7)?;
        let torn = |reason: String| -> rusqlite::Result<TornObject> {
            let key: Vec<u8> = r.get(1)?;
            Ok(TornObject { bucket: r.get(0)?, key: String::from_utf8_lossy(&key).into_owned(), version_id: r.get(2)?, reason })
        };
        let Some(manifest) = manifest else {
            view.inline_objects += 1;
            let stored = inline_len.unwrap_or(0) as u64;
            if !sealed && stored != size {
                view.torn.push(torn(format!("{size} bytes long but {stored} bytes stored inline"))?);
            }
            continue;
        };
        view.objects += 1;
        let segments = match decode_manifest(&manifest) {
            Ok(s) => s,
            Err(e) => {
                view.torn.push(torn(e.to_string())?);
                continue;
            }
        };
        let mut total = 0;
        for s in segments {
            let Some(hash) = parse_hash(&s.hash) else {
                view.torn.push(torn(format!("manifest names a malformed blob {:?}", s.hash))?);
                continue;
            };
            view.use_blob_times(hash, s.len, sealed, local_uses);
            total += s.len;
        }
        if total != size {
            view.torn.push(torn(format!("{size} bytes long but its manifest covers {total}"))?);
        }
    }
    Ok(())
}

fn read_parts(c: &Connection, view: &mut IndexView) -> Result<()> {
    let mut stmt = c.prepare(
        "SELECT p.hash, p.size, coalesce(json_extract(u.meta, '$.encryption') IS NOT NULL, 0)
         FROM parts p LEFT JOIN uploads u ON u.seq = p.upload_seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let hash: Vec<u8> = r.get(0)?;
        view.parts += 1;
        if let Ok(hash) = <Hash>::try_from(hash.as_slice()) {
            view.use_blob(hash, r.get::<_, i64>(1)? as u64, r.get(2)?);
        }
    }
    Ok(())
}

/// The recorded reference count of one blob now (a fresh read), if it has a row.
pub(super) fn recorded_refs(c: &Connection, hash: &Hash) -> Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    Ok(c.prepare_cached("SELECT refs FROM blobs WHERE hash = ?1")?.query_row([&hash[..]], |r| r.get(0)).optional()?)
}

/// Who uses a damaged blob: object versions and upload parts, named for a person to act on.
pub(super) fn users_of(c: &Connection, hash: &Hash) -> Result<Vec<String>> {
    let hex = hex::encode(hash);
    let mut out = Vec::new();
    let mut objects = c.prepare_cached(
        "SELECT b.name, o.key, o.version_id FROM objects o JOIN buckets b ON b.id = o.bucket_id
         WHERE o.manifest LIKE '%' || ?1 || '%'",
    )?;
    let mut rows = objects.query(params![hex])?;
    while let Some(r) = rows.next()? {
        let key: Vec<u8> = r.get(1)?;
        out.push(format!("{}/{} (version {})", r.get::<_, String>(0)?, String::from_utf8_lossy(&key), r.get::<_, String>(2)?));
    }
    let mut parts = c.prepare_cached(
        "SELECT b.name, u.key, u.upload_id, p.part_number FROM parts p
         JOIN uploads u ON u.seq = p.upload_seq JOIN buckets b ON b.id = u.bucket_id WHERE p.hash = ?1",
    )?;
    let mut rows = parts.query([&hash[..]])?;
    while let Some(r) = rows.next()? {
        let key: Vec<u8> = r.get(1)?;
        out.push(format!(
            "{}/{} (upload {}, part {})",
            r.get::<_, String>(0)?,
            String::from_utf8_lossy(&key),
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?
        ));
    }
    Ok(out)
}
