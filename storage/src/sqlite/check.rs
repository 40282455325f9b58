//! `coffer admin check` on the SQLite index: the check's questions (`CheckedIndex`) answered
//! from the index file itself through a connection of its own, so it runs next to a server.

use crate::blob::Hash;
use crate::check::view::{part_user, version_user, IndexView, VersionRow};
use crate::check::{CheckedIndex, RefcountMismatch};
use crate::error::{Result, StorageError};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::Path;

pub(crate) struct SqliteCheck {
    conn: Connection,
}

impl SqliteCheck {
    /// Opens the index of the data dir `root` (which must have one).
    pub(crate) fn open(root: &Path) -> Result<SqliteCheck> {
        let index = root.join("index.sqlite");
        if !index.is_file() {
            return Err(StorageError::Io(std::io::Error::new(std::io::ErrorKind::NotFound, format!("no index at {}", index.display()))));
        }
        Ok(SqliteCheck { conn: super::open_connection(&index)? })
    }
}

impl CheckedIndex for SqliteCheck {
    fn read_view(&mut self, inline_bytes: bool) -> Result<IndexView> {
        let tx = self.conn.transaction()?;
        let view = read_view(&tx, inline_bytes)?;
        tx.commit()?;
        Ok(view)
    }

    fn recorded(&mut self, hash: &Hash) -> Result<Option<(i64, u64)>> {
        // SQLite's store names every blob by generation 0.
        let refs = self.conn.prepare_cached("SELECT refs FROM blobs WHERE hash = ?1")?.query_row([&hash[..]], |r| r.get(0)).optional()?;
        Ok(refs.map(|refs| (refs, 0)))
    }

    fn users_of(&mut self, hash: &Hash) -> Result<Vec<String>> {
        let c = &self.conn;
        let mut out = Vec::new();
        let mut objects = c.prepare_cached(
            "SELECT b.name, o.key, o.version_id FROM objects o JOIN buckets b ON b.id = o.bucket_id
             WHERE o.manifest LIKE '%' || ?1 || '%'",
        )?;
        let mut rows = objects.query(params![hex::encode(hash)])?;
        while let Some(r) = rows.next()? {
            out.push(version_user(&r.get::<_, String>(0)?, &r.get::<_, Vec<u8>>(1)?, &r.get::<_, String>(2)?));
        }
        let mut parts = c.prepare_cached(
            "SELECT b.name, u.key, u.upload_id, p.part_number FROM parts p
             JOIN uploads u ON u.seq = p.upload_seq JOIN buckets b ON b.id = u.bucket_id WHERE p.hash = ?1",
        )?;
        let mut rows = parts.query([&hash[..]])?;
        while let Some(r) = rows.next()? {
            out.push(part_user(&r.get::<_, String>(0)?, &r.get::<_, Vec<u8>>(1)?, &r.get::<_, String>(2)?, r.get(3)?));
        }
        Ok(out)
    }

    fn fix_refcounts(&mut self, _stored: &HashMap<Hash, u64>) -> Result<Vec<RefcountMismatch>> {
        // An immediate transaction holds the write lock: no commit comes between count and fix.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (fixed, rows) = read_view(&tx, false)?.refcount_fixes();
        for (hash, size, refs) in rows {
            tx.prepare_cached("INSERT INTO blobs (hash, size, refs) VALUES (?1, ?2, ?3) ON CONFLICT(hash) DO UPDATE SET refs = excluded.refs")?
                .execute(params![&hash[..], size, refs])?;
        }
        tx.commit()?;
        Ok(fixed)
    }
}

/// Reads the whole view; run it inside a transaction so it is one consistent snapshot.
fn read_view(c: &Connection, inline_bytes: bool) -> Result<IndexView> {
    let mut view = IndexView::default();
    let mut rows = c.prepare("SELECT hash, size, refs FROM blobs")?;
    let mut rows = rows.query([])?;
    while let Some(r) = rows.next()? {
        view.add_blob_row(&r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?, 0);
    }
    let mut stmt = c.prepare(
        "SELECT b.name, o.key, o.version_id, o.size, o.manifest,
                json_extract(o.meta, '$.encryption') IS NOT NULL, length(i.data),
                (o.tier IS NULL) + (o.restore_done_ms IS NOT NULL),
                CASE WHEN ?1 THEN i.data END, i.sha256
         FROM objects o JOIN buckets b ON b.id = o.bucket_id LEFT JOIN inline_bodies i ON i.seq = o.seq
         WHERE o.delete_marker = 0",
    )?;
    let mut rows = stmt.query([inline_bytes])?;
    while let Some(r) = rows.next()? {
        view.add_version(VersionRow {
            bucket: r.get(0)?,
            key: r.get(1)?,
            version_id: r.get(2)?,
            size: r.get::<_, i64>(3)? as u64,
            manifest: r.get(4)?,
            sealed: r.get(5)?,
            inline_len: r.get::<_, Option<i64>>(6)?.map(|n| n as u64),
            local_uses: r.get(7)?,
            inline_data: r.get(8)?,
            inline_sha256: r.get(9)?,
        });
    }
    let mut stmt = c.prepare(
        "SELECT p.hash, p.size, coalesce(json_extract(u.meta, '$.encryption') IS NOT NULL, 0)
         FROM parts p LEFT JOIN uploads u ON u.seq = p.upload_seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        view.add_part(&r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?);
    }
    Ok(view)
}
