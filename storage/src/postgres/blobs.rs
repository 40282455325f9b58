//! PostgreSQL's BlobIndex: blob references the collector forgets, corrupt blobs, and what the
//! scrubber walks.
//!
//! Not yet the multi-node protocol issue 15 asks for: a blob forgotten here is deleted by the
//! node that forgot it, guarded by that node's pins only. Before several nodes share a blob
//! store, blob rows get a state and a generation (named in the blob's key) so that a node
//! re-uploading the same bytes never loses them to another node's collector.

use super::{GenericClient, PgIndex};
use crate::blob::Hash;
use crate::error::Result;
use crate::meta::{BlobIndex, Wanted};
use crate::{now_ms, CorruptBlob};

#[async_trait::async_trait]
impl BlobIndex for PgIndex {
    async fn forget_unreferenced_blobs(&self, limit: usize) -> Result<Vec<Hash>> {
        // SKIP LOCKED: collectors of several nodes take disjoint batches.
        let rows = self
            .client()
            .await?
            .query(
                "DELETE FROM blobs WHERE hash IN (
                    SELECT hash FROM blobs WHERE refs <= 0
                      AND NOT EXISTS (SELECT 1 FROM worker_cursors WHERE worker = 'gc-hold' AND cursor::bigint > $2)
                    LIMIT $1 FOR UPDATE SKIP LOCKED)
                 AND refs <= 0 RETURNING hash",
                &[&(limit as i64), &now_ms()],
            )
            .await?;
        Ok(rows.iter().filter_map(|r| Hash::try_from(r.get::<_, &[u8]>(0)).ok()).collect())
    }

    fn blob_wanted_blocking(&self, hash: &Hash, wanted: Wanted) -> Result<bool> {
        let refs: Option<i64> = self.block_on(async {
            let row = self.client().await?.query_opt("SELECT refs FROM blobs WHERE hash = $1", &[&&hash[..]]).await?;
            Ok::<_, crate::StorageError>(row.map(|r| r.get(0)))
        })?;
        Ok(match wanted {
            Wanted::Referenced => refs.is_some_and(|n| n > 0),
            Wanted::Known => refs.is_some(),
        })
    }

    async fn inline_bodies_after(&self, after_seq: i64, limit: usize) -> Result<Vec<(i64, Vec<u8>, Hash)>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT seq, data, sha256 FROM inline_bodies WHERE seq > $1 AND sha256 IS NOT NULL ORDER BY seq LIMIT $2",
                &[&after_seq, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().filter_map(|r| Some((r.get(0), r.get(1), Hash::try_from(r.get::<_, &[u8]>(2)).ok()?))).collect())
    }

    async fn object_name_at(&self, seq: i64) -> Result<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT b.name, o.key, o.version_id FROM objects o JOIN buckets b ON b.id = o.bucket_id WHERE o.seq = $1", &[&seq])
            .await?;
        Ok(row.map(|r| object_name(&r)))
    }

    async fn record_corrupt_blob(&self, hash: Hash, source: &str) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO corrupt_blobs (hash, detected_ms, source) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
                &[&&hash[..], &now_ms(), &source],
            )
            .await?;
        Ok(())
    }

    async fn corrupt_blobs(&self) -> Result<Vec<CorruptBlob>> {
        let rows = self.client().await?.query("SELECT hash, detected_ms, source FROM corrupt_blobs ORDER BY detected_ms, hash", &[]).await?;
        Ok(rows.iter().map(|r| CorruptBlob { hash: hex::encode(r.get::<_, &[u8]>(0)), detected_ms: r.get(1), source: r.get(2) }).collect())
    }

    async fn scrub_bytes_total(&self) -> Result<u64> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT (SELECT COALESCE(SUM(size), 0) FROM blobs WHERE refs > 0)::bigint
                      + (SELECT COALESCE(SUM(length(data)), 0) FROM inline_bodies WHERE sha256 IS NOT NULL)::bigint",
                &[],
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn blobs_after(&self, after: Option<Hash>, limit: usize) -> Result<Vec<(Hash, u64)>> {
        let after: Vec<u8> = after.map(|h| h.to_vec()).unwrap_or_default();
        let rows = self
            .client()
            .await?
            .query("SELECT hash, size FROM blobs WHERE hash > $1 AND refs > 0 ORDER BY hash LIMIT $2", &[&after, &(limit as i64)])
            .await?;
        Ok(rows.iter().filter_map(|r| Some((Hash::try_from(r.get::<_, &[u8]>(0)).ok()?, r.get::<_, i64>(1) as u64))).collect())
    }

    async fn blob_is_referenced(&self, hash: Hash) -> Result<bool> {
        let row = self.client().await?.query_one("SELECT EXISTS (SELECT 1 FROM blobs WHERE hash = $1 AND refs > 0)", &[&&hash[..]]).await?;
        Ok(row.get(0))
    }

    async fn objects_naming_blob(&self, hash: Hash, limit: usize) -> Result<Vec<String>> {
        let pattern = format!("%{}%", hex::encode(hash));
        let rows = self
            .client()
            .await?
            .query(
                "SELECT b.name, o.key, o.version_id FROM objects o JOIN buckets b ON b.id = o.bucket_id WHERE o.manifest LIKE $1 LIMIT $2",
                &[&pattern, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(object_name).collect())
    }
}

/// "bucket/key version" from a row of (bucket name, key, version id).
fn object_name(r: &tokio_postgres::Row) -> String {
    crate::scrub::version_name(r.get(0), r.get(1), r.get(2))
}
