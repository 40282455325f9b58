//! Buckets: creation with S3's ownership rules, lookup, listing per owner, deletion when empty.

use crate::error::{Result, StorageError};
use crate::model::{Bucket, User, Versioning, LOCK_KIND};
use crate::{now_ms, Store};
use rusqlite::{params, Connection, OptionalExtension};

const BUCKET_COLUMNS: &str = "b.id, b.name, b.region, b.created_ms, b.versioning, u.id, u.name";

fn bucket_from_row(r: &rusqlite::Row) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        id: r.get(0)?,
        name: r.get(1)?,
        region: r.get(2)?,
        created_ms: r.get(3)?,
        versioning: Versioning::parse(&r.get::<_, String>(4)?),
        owner: User { id: r.get(5)?, name: r.get(6)? },
    })
}

pub(crate) fn bucket_by_name(c: &Connection, name: &str) -> Result<Option<Bucket>> {
    Ok(c.prepare_cached(&format!("SELECT {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id WHERE b.name = ?1"))?
        .query_row([name], bucket_from_row)
        .optional()?)
}

/// Whether Object Lock is on for the bucket.
fn lock_enabled(c: &Connection, bucket_id: i64) -> Result<bool> {
    Ok(c.prepare_cached("SELECT EXISTS(SELECT 1 FROM bucket_configs WHERE bucket_id = ?1 AND kind = ?2)")?
        .query_row(params![bucket_id, LOCK_KIND], |r| r.get(0))?)
}

impl Store {
    pub async fn create_bucket(&self, owner: &User, name: &str, region: &str) -> Result<Bucket> {
        let (owner, name, region) = (owner.clone(), name.to_string(), region.to_string());
        self.writer()
            .write(move |c| {
                if let Some(existing) = bucket_by_name(c, &name)? {
                    return Err(if existing.owner.id == owner.id {
                        StorageError::BucketAlreadyOwnedByYou
                    } else {
                        StorageError::BucketAlreadyExists
                    });
                }
                let created_ms = now_ms();
                c.execute(
                    "INSERT INTO buckets (name, owner_id, region, created_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![name, owner.id, region, created_ms],
                )?;
                Ok(Bucket { id: c.last_insert_rowid(), name, owner, region, created_ms, versioning: Versioning::Unversioned })
            })
            .await
    }

    /// The bucket called `name`, or `NoSuchBucket`.
    pub async fn bucket(&self, name: &str) -> Result<Bucket> {
        let name = name.to_string();
        self.readers().read(move |c| bucket_by_name(c, &name)?.ok_or(StorageError::NoSuchBucket)).await
    }

    /// Buckets owned by `owner_id`, by name.
    pub async fn list_buckets(&self, owner_id: &str) -> Result<Vec<Bucket>> {
        let owner_id = owner_id.to_string();
        self.readers()
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id
                     WHERE b.owner_id = ?1 ORDER BY b.name"
                ))?;
                let rows = stmt.query_map([owner_id], bucket_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    /// Every bucket, by name (for the admin commands).
    pub async fn all_buckets(&self) -> Result<Vec<Bucket>> {
        self.readers()
            .read(|c| {
                let mut stmt = c.prepare(&format!("SELECT {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id ORDER BY b.name"))?;
                let rows = stmt.query_map([], bucket_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    /// The kinds of configuration documents a bucket has (e.g. "policy", "lifecycle").
    pub async fn bucket_config_kinds(&self, bucket_id: i64) -> Result<Vec<String>> {
        self.readers()
            .read(move |c| {
                let mut stmt = c.prepare("SELECT kind FROM bucket_configs WHERE bucket_id = ?1 ORDER BY kind")?;
                let rows = stmt.query_map([bucket_id], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    /// Deletes an empty bucket (no object versions or delete markers left).
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        let id = self
            .writer()
            .write(move |c| {
                let bucket = bucket_by_name(c, &name)?.ok_or(StorageError::NoSuchBucket)?;
                let used: bool =
                    c.query_row("SELECT EXISTS(SELECT 1 FROM objects WHERE bucket_id = ?1)", [bucket.id], |r| r.get(0))?;
                if used {
                    return Err(StorageError::BucketNotEmpty);
                }
                c.execute("DELETE FROM bucket_configs WHERE bucket_id = ?1", [bucket.id])?;
                crate::multipart::drop_bucket_uploads(c, bucket.id)?;
                c.execute("DELETE FROM buckets WHERE id = ?1", [bucket.id])?;
                Ok(bucket.id)
            })
            .await?;
        // A later bucket may get this id; it must not see this one's documents.
        self.inner.configs.invalidate(id, None);
        Ok(())
    }

    /// A configuration document of a bucket (`kind` names it, e.g. "tagging"), if set.
    pub async fn bucket_config(&self, bucket_id: i64, kind: &str) -> Result<Option<String>> {
        if let Some(cached) = self.inner.configs.get(bucket_id, kind) {
            return Ok(cached);
        }
        let since = self.inner.configs.generation();
        let owned_kind = kind.to_string();
        let doc: Option<String> = self
            .readers()
            .read(move |c| {
                Ok(c.prepare_cached("SELECT document FROM bucket_configs WHERE bucket_id = ?1 AND kind = ?2")?
                    .query_row(params![bucket_id, owned_kind], |r| r.get(0))
                    .optional()?)
            })
            .await?;
        self.inner.configs.fill(since, bucket_id, kind, doc.clone());
        Ok(doc)
    }

    /// The (id, name) of every bucket with a configuration document of `kind`.
    pub async fn buckets_with_config(&self, kind: &str) -> Result<Vec<(i64, String)>> {
        let kind = kind.to_string();
        self.readers()
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT b.id, b.name FROM bucket_configs c JOIN buckets b ON b.id = c.bucket_id WHERE c.kind = ?1 ORDER BY b.id",
                )?;
                let rows = stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Sets (Some) or removes (None) a configuration document of a bucket.
    pub async fn set_bucket_config(&self, bucket_id: i64, kind: &str, document: Option<String>) -> Result<()> {
        let (kind, cache_kind) = (kind.to_string(), kind.to_string());
        let result = self
            .writer()
            .write(move |c| {
                match document {
                    Some(doc) => c
                        .prepare_cached(
                            "INSERT INTO bucket_configs (bucket_id, kind, document) VALUES (?1, ?2, ?3)
                             ON CONFLICT(bucket_id, kind) DO UPDATE SET document = excluded.document",
                        )?
                        .execute(params![bucket_id, kind, doc])?,
                    None => c.prepare_cached("DELETE FROM bucket_configs WHERE bucket_id = ?1 AND kind = ?2")?.execute(params![bucket_id, kind])?,
                };
                Ok(())
            })
            .await;
        // Also after a failed write: whatever the index holds now is read again.
        self.inner.configs.invalidate(bucket_id, Some(&cache_kind));
        result
    }

    /// Sets the bucket's versioning state (Enabled or Suspended).
    pub async fn set_versioning(&self, bucket_id: i64, state: Versioning) -> Result<()> {
        self.writer()
            .write(move |c| {
                if state != Versioning::Enabled && lock_enabled(c, bucket_id)? {
                    return Err(StorageError::InvalidBucketState("An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."));
                }
                c.execute("UPDATE buckets SET versioning = ?2 WHERE id = ?1", params![bucket_id, state.as_str()])?;
                Ok(())
            })
            .await
    }
}
