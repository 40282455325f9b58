//! PostgreSQL's BlobIndex: blob references and the collection protocol nodes sharing one
//! blob store follow, corrupt blobs, and what the scrubber walks.
//!
//! A writer reserves a blob row before it puts the bytes (`reserve_blob_blocking`): the row
//! is held from the collector for `HOLD_MS` and says which generation the bytes go under. A
//! collector takes unreferenced, unheld rows with `SKIP LOCKED` and marks them doomed; it
//! then deletes their keys and their rows. A writer reserving a doomed blob makes the row
//! live again under a fresh generation, so a deletion in flight never touches the bytes it
//! puts, and a commit takes its references only on the live generation it put the bytes
//! under (`objects::change_refs`): a writer that was too slow (its hold ran out and the blob
//! was collected) fails with `Busy` rather than naming bytes that are gone.

use super::PgIndex;
use crate::blob::Hash;
use crate::blob_store::BlobKey;
use crate::error::Result;
use crate::meta::{BlobIndex, Wanted};
use crate::{now_ms, CorruptBlob};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a reservation keeps a blob from the collector: the longest a writer may take from
/// reserving a blob to committing the version that names it (a large upload to a remote blob
/// store). A commit ends its hold at once.
const HOLD_MS: i64 = 60 * 60 * 1000;
/// How long a collector owns a doomed row before another may take it over (a collector that
/// died between taking a row and deleting its key).
const CLAIM_MS: i64 = 5 * 60 * 1000;
/// Generations remembered per node; reading a blob asks the index only for others.
const KNOWN_GENERATIONS: usize = 65_536;

/// The generations of blobs this node read or reserved lately. A remembered generation can
/// only be wrong after the blob was collected and uploaded again; a read that finds nothing
/// under it asks afresh (`BlobDir::open_at`).
#[derive(Default)]
pub(crate) struct KnownGenerations(Mutex<HashMap<Hash, u64>>);

impl KnownGenerations {
    fn get(&self, hash: &Hash) -> Option<u64> {
        self.0.lock().expect("generations poisoned").get(hash).copied()
    }

    fn note(&self, hash: &Hash, gen: Option<u64>) {
        let mut known = self.0.lock().expect("generations poisoned");
        match gen {
            Some(gen) => {
                if known.len() >= KNOWN_GENERATIONS {
                    known.clear();
                }
                known.insert(*hash, gen);
            }
            None => {
                known.remove(hash);
            }
        }
    }
}

#[async_trait::async_trait]
impl BlobIndex for PgIndex {
    async fn forget_unreferenced_blobs(&self, limit: usize) -> Result<Vec<BlobKey>> {
        // SKIP LOCKED: collectors of several nodes take disjoint batches. A doomed row whose
        // claim ran out is taken again (its collector died before it was done).
        let rows = self
            .client()
            .await?
            .query(
                "UPDATE blobs SET doomed = TRUE, held_until = $3 WHERE hash IN (
                    SELECT hash FROM blobs WHERE refs <= 0 AND held_until < $2
                      AND NOT EXISTS (SELECT 1 FROM worker_cursors WHERE worker = 'gc-hold' AND cursor::bigint > $2)
                    LIMIT $1 FOR UPDATE SKIP LOCKED)
                 AND refs <= 0 AND held_until < $2 RETURNING hash, gen",
                &[&(limit as i64), &now_ms(), &(now_ms() + CLAIM_MS)],
            )
            .await?;
        Ok(keys_of(&rows))
    }

    async fn blob_deleted(&self, key: BlobKey) -> Result<()> {
        self.client()
            .await?
            .execute("DELETE FROM blobs WHERE hash = $1 AND gen = $2 AND doomed", &[&&key.hash[..], &(key.gen as i64)])
            .await?;
        Ok(())
    }

    fn blob_wanted_blocking(&self, key: &BlobKey, _wanted: Wanted) -> Result<bool> {
        self.block_on(async {
            let row = self
                .client()
                .await?
                .query_opt("SELECT 1 FROM blobs WHERE hash = $1 AND gen = $2 AND NOT doomed", &[&&key.hash[..], &(key.gen as i64)])
                .await?;
            Ok(row.is_some())
        })
    }

    fn reserve_blob_blocking(&self, hash: &Hash, size: u64) -> Result<u64> {
        let gen: i64 = self.block_on(async {
            let row = self
                .client()
                .await?
                .query_one(
                    "INSERT INTO blobs (hash, size, refs, gen, held_until) VALUES ($1, $2, 0, nextval('blob_generations'), $3)
                     ON CONFLICT (hash) DO UPDATE SET
                        gen = CASE WHEN blobs.doomed THEN excluded.gen ELSE blobs.gen END,
                        refs = CASE WHEN blobs.doomed THEN 0 ELSE blobs.refs END,
                        crc32c = CASE WHEN blobs.doomed THEN NULL ELSE blobs.crc32c END,
                        held_until = CASE WHEN blobs.doomed THEN excluded.held_until ELSE GREATEST(blobs.held_until, excluded.held_until) END,
                        doomed = FALSE
                     RETURNING gen",
                    &[&&hash[..], &(size as i64), &(now_ms() + HOLD_MS)],
                )
                .await?;
            Ok(row.get(0))
        })?;
        self.generations.note(hash, Some(gen as u64));
        Ok(gen as u64)
    }

    fn blob_generation_blocking(&self, hash: &Hash, fresh: bool) -> Result<Option<u64>> {
        if let Some(gen) = self.generations.get(hash).filter(|_| !fresh) {
            return Ok(Some(gen));
        }
        let gen = self.block_on(async {
            let row = self.client().await?.query_opt("SELECT gen FROM blobs WHERE hash = $1 AND NOT doomed", &[&&hash[..]]).await?;
            Ok(row.map(|r| r.get::<_, i64>(0) as u64))
        })?;
        self.generations.note(hash, gen);
        Ok(gen)
    }

    async fn release_blobs(&self, keys: Vec<BlobKey>) -> Result<Vec<BlobKey>> {
        let (hashes, gens): (Vec<&[u8]>, Vec<i64>) = keys.iter().map(|k| (&k.hash[..], k.gen as i64)).unzip();
        let rows = self
            .client()
            .await?
            .query(
                "UPDATE blobs SET doomed = TRUE, held_until = $3
                   FROM unnest($1::bytea[], $2::bigint[]) AS t(h, g)
                  WHERE blobs.hash = t.h AND blobs.gen = t.g AND blobs.refs <= 0 AND NOT blobs.doomed
                 RETURNING blobs.hash, blobs.gen",
                &[&hashes, &gens, &(now_ms() + CLAIM_MS)],
            )
            .await?;
        Ok(keys_of(&rows))
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

/// Blob keys from rows of (hash, generation).
fn keys_of(rows: &[tokio_postgres::Row]) -> Vec<BlobKey> {
    rows.iter().filter_map(|r| Some(BlobKey { hash: Hash::try_from(r.get::<_, &[u8]>(0)).ok()?, gen: r.get::<_, i64>(1) as u64 })).collect()
}

/// "bucket/key version" from a row of (bucket name, key, version id).
fn object_name(r: &tokio_postgres::Row) -> String {
    crate::scrub::version_name(r.get(0), r.get(1), r.get(2))
}
