//! PostgreSQL's ObjectIndex: a new version of a key is written under a row lock on the key
//! (`object_keys`), so writes of one key from several nodes take turns while different keys
//! commit in parallel; reads decode rows through `rows`. Deletes are in `deletes`.

use super::buckets::{bucket_at, bucket_versioning, QuotaTurn, BUCKET_COLUMNS};
use super::rows::{body_from_row, object_from_row, AFTER_OBJECT_COLUMNS, BODY_COLUMNS, OBJECT_COLUMNS};
use super::{in_snapshot, transact, PgIndex};
use crate::columns::{decode_manifest, encode_manifest};
use crate::blob::Hash;
use crate::error::{Result, StorageError};
use crate::events::{EventName, Origin, Remover, Requester};
use crate::lock::check_lock_allowed;
use crate::meta::{MetaChange, NewBody, ObjectIndex, VersionRef};
use crate::model::*;
use crate::now_ms;
use crate::objects::{check_conditions, new_version_record, single_blob_crc32c, DeleteOutcome, NewObject, Stored};
use crate::tiers::TierSet;
use crate::LockChange;
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use super::GenericClient;
use tokio_postgres::Row;

#[async_trait::async_trait]
impl ObjectIndex for PgIndex {
    async fn set_bucket_lock(&self, bucket_id: i64, document: String) -> Result<()> {
        transact!(self, |tx| {
            // The bucket row's lock orders this after (or before) a versioning change.
            let row = tx.query_opt("SELECT versioning FROM buckets WHERE id = $1 FOR NO KEY UPDATE", &[&bucket_id]).await?;
            check_lock_allowed(Versioning::parse(row.ok_or(StorageError::NoSuchBucket)?.get(0)))?;
            tx.execute(
                "INSERT INTO bucket_configs (bucket_id, kind, document) VALUES ($1, $2, $3)
                 ON CONFLICT (bucket_id, kind) DO UPDATE SET document = excluded.document",
                &[&bucket_id, &LOCK_KIND, &document],
            )
            .await?;
            super::buckets::bump_config_gen(&*tx, bucket_id).await?;
        })
    }

    async fn put_version(&self, bucket_id: i64, new: NewObject, body: NewBody, cond: WriteConditions, tiers: Arc<TierSet>) -> Result<ObjectRecord> {
        let stored = Stored { size: body.size, etag: &body.etag, body: &body.body, tier: None };
        transact!(self, |tx| {
            let record = insert_version(&*tx, bucket_id, &new, &stored, &cond, &tiers).await?;
            note_crc32c(&*tx, &body.body, body.crc32c).await?;
            record
        })
    }

    async fn copy_version(&self, source: VersionRef, dest_bucket_id: i64, new: NewObject, cond: WriteConditions, tiers: Arc<TierSet>) -> Result<ObjectRecord> {
        transact!(self, |tx| {
            // The source row is share-locked until the copy commits, so its blobs keep a
            // reference throughout (a delete of it waits). A copy onto its own key takes the
            // key first, the order every writer of a key follows.
            if source.bucket_id == dest_bucket_id && source.key == new.key {
                lock_key(&*tx, dest_bucket_id, &new.key).await?;
            }
            let (src, body) = version_row(&*tx, source.bucket_id, &source.key, Some(&source.version_id), " FOR KEY SHARE").await?;
            let stored = Stored { size: src.size, etag: &src.etag, body: &body, tier: src.placement.tier.as_deref() };
            insert_version(&*tx, dest_bucket_id, &new, &stored, &cond, &tiers).await?
        })
    }

    async fn version(&self, bucket_id: i64, key: &str, version_id: Option<&str>) -> Result<(ObjectRecord, Body)> {
        let client = self.client().await?;
        let sql = format!("SELECT {OBJECT_COLUMNS}, {BODY_COLUMNS} FROM objects WHERE bucket_id = $1 AND key = $2 AND {}", version_filter(version_id));
        let statement = client.prepare_cached(&sql).await?;
        let row = client.query_opt(&statement, &version_params(&bucket_id, &key.as_bytes(), &version_id)).await?;
        found(row.as_ref(), version_id)
    }

    async fn bucket_and_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<(Bucket, Result<(ObjectRecord, Body)>)> {
        let columns = format!("{OBJECT_COLUMNS}, {BODY_COLUMNS}");
        let (row, bucket) = self.bucket_and_row(bucket, key, version_id, &columns, AFTER_OBJECT_COLUMNS + 3).await?;
        Ok((bucket, found(row.get::<_, Option<i64>>(0).map(|_| &row), version_id)))
    }

    async fn bucket_and_record(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<(Bucket, Result<ObjectRecord>)> {
        let (row, bucket) = self.bucket_and_row(bucket, key, version_id, OBJECT_COLUMNS, AFTER_OBJECT_COLUMNS).await?;
        let record = match row.get::<_, Option<i64>>(0) {
            Some(_) => Ok(object_from_row(&row)),
            None => Err(StorageError::version_missing(version_id)),
        };
        Ok((bucket, record))
    }

    async fn change_version_meta(&self, bucket_id: i64, key: &str, version_id: Option<&str>, change: MetaChange, origin: Origin) -> Result<String> {
        transact!(self, |tx| {
            let mut rec = version_to_change(&*tx, bucket_id, key, version_id).await?;
            if rec.delete_marker {
                return Err(StorageError::version_missing(version_id));
            }
            change.clone().apply(&mut rec.meta);
            set_meta(&*tx, &rec).await?;
            super::events::record_version(&*tx, origin.event, &rec, &origin.requester).await?;
            rec.version_id
        })
    }

    async fn delete_versions(&self, bucket_id: i64, items: Vec<(String, Option<String>)>, by: Requester, options: DeleteOptions) -> Result<Vec<Result<DeleteOutcome>>> {
        transact!(self, |tx| super::deletes::delete_all(&*tx, bucket_id, &items, Remover::Request(&by, options)).await?)
    }

    async fn list_objects(&self, bucket_id: i64, p: ListParams) -> Result<ListPage> {
        in_snapshot!(self, |tx| super::listing::list_objects(&*tx, bucket_id, &p).await?)
    }

    async fn list_versions(&self, bucket_id: i64, p: VersionListParams) -> Result<VersionPage> {
        in_snapshot!(self, |tx| super::listing::list_versions(&*tx, bucket_id, &p).await?)
    }

    fn blob_crc32c_blocking(&self, hash: &crate::blob::Hash) -> Result<Option<u32>> {
        self.block_on(async {
            let row = self.client().await?.query_opt("SELECT crc32c FROM blobs WHERE hash = $1", &[&&hash[..]]).await?;
            Ok(row.and_then(|r| r.get::<_, Option<i64>>(0)).map(|crc| crc as u32))
        })
    }

    async fn change_version_lock(&self, bucket_id: i64, key: &str, version_id: Option<&str>, change: LockChange, options: DeleteOptions) -> Result<String> {
        transact!(self, |tx| {
            let mut rec = version_to_change(&*tx, bucket_id, key, version_id).await?;
            if rec.delete_marker {
                return Err(StorageError::NoSuchVersion);
            }
            change.apply(&mut rec.meta.lock, now_ms(), options.bypass_governance)?;
            set_meta(&*tx, &rec).await?;
            rec.version_id
        })
    }
}

/// Records the CRC32C of the blob a write just named (when it has none yet), for reads to
/// verify against. Call inside the write's transaction.
pub(crate) async fn note_crc32c(c: &impl GenericClient, body: &Body, crc32c: Option<u32>) -> Result<()> {
    match single_blob_crc32c(body, crc32c)? {
        Some((hash, crc)) => note_blob_crc32c(c, &hash, Some(crc)).await,
        None => Ok(()),
    }
}

/// Records `crc32c` as the CRC32C of blob `hash` when it has none yet.
pub(crate) async fn note_blob_crc32c(c: &impl GenericClient, hash: &Hash, crc32c: Option<u32>) -> Result<()> {
    if let Some(crc) = crc32c {
        c.execute("UPDATE blobs SET crc32c = $2 WHERE hash = $1 AND crc32c IS NULL", &[&&hash[..], &i64::from(crc)]).await?;
    }
    Ok(())
}

/// The condition picking the latest version (no `version_id`) or a given one (`$3`).
fn version_filter(version_id: Option<&str>) -> &'static str {
    match version_id {
        Some(_) => "version_id = $3",
        None => "is_latest",
    }
}

/// The parameters of a query filtered by `version_filter`: `first` (a bucket), the key, and
/// the version id when there is one.
fn version_params<'a>(first: &'a (dyn ToSql + Sync), key: &'a &'a [u8], version_id: &'a Option<&'a str>) -> Vec<&'a (dyn ToSql + Sync)> {
    match version_id {
        Some(v) => vec![first, key, v],
        None => vec![first, key],
    }
}

/// The version (and body) in `row`, selected as `OBJECT_COLUMNS, BODY_COLUMNS`;
/// `NoSuchVersion` / `NoSuchKey` when there is none.
fn found(row: Option<&Row>, version_id: Option<&str>) -> Result<(ObjectRecord, Body)> {
    match row {
        Some(r) => Ok((object_from_row(r), body_from_row(r, AFTER_OBJECT_COLUMNS)?)),
        None => Err(StorageError::version_missing(version_id)),
    }
}

impl PgIndex {
    /// The bucket named `bucket` (`NoSuchBucket`) and, in the same row, the version's
    /// `columns` (NULL when there is none), read by one statement so in one snapshot. The
    /// bucket's columns start at `bucket_first`.
    async fn bucket_and_row(&self, bucket: &str, key: &str, version_id: Option<&str>, columns: &str, bucket_first: usize) -> Result<(Row, Bucket)> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT o.*, {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id
             LEFT JOIN LATERAL (SELECT {columns} FROM objects WHERE bucket_id = b.id AND key = $2 AND {}) o ON true
             WHERE b.name = $1",
            version_filter(version_id)
        );
        let statement = client.prepare_cached(&sql).await?;
        let row = client.query_opt(&statement, &version_params(&bucket, &key.as_bytes(), &version_id)).await?.ok_or(StorageError::NoSuchBucket)?;
        let bucket = bucket_at(&row, bucket_first);
        Ok((row, bucket))
    }
}

/// The latest version of a key or a given one, with its body; `lock` (e.g. " FOR KEY SHARE")
/// locks its row.
pub(crate) async fn version_row(c: &impl GenericClient, bucket_id: i64, key: &str, version_id: Option<&str>, lock: &str) -> Result<(ObjectRecord, Body)> {
    let sql = format!("SELECT {OBJECT_COLUMNS}, {BODY_COLUMNS} FROM objects WHERE bucket_id = $1 AND key = $2 AND {}{lock}", version_filter(version_id));
    let row = c.query_opt(&sql, &version_params(&bucket_id, &key.as_bytes(), &version_id)).await?;
    found(row.as_ref(), version_id)
}

/// The version whose metadata a change rewrites, its row locked until the change commits. The
/// latest version is found under the key's lock: a commit retiring it may be in flight, and
/// the row alone would then vanish from under the lock rather than lead to its successor.
async fn version_to_change(c: &impl GenericClient, bucket_id: i64, key: &str, version_id: Option<&str>) -> Result<ObjectRecord> {
    if version_id.is_none() && !lock_keys(c, bucket_id, &[], &[key.as_bytes()]).await? {
        return Err(StorageError::NoSuchKey);
    }
    Ok(version_row(c, bucket_id, key, version_id, " FOR NO KEY UPDATE").await?.0)
}

/// Writes the metadata of version `rec` back.
async fn set_meta(c: &impl GenericClient, rec: &ObjectRecord) -> Result<()> {
    c.execute(
        "UPDATE objects SET meta = $1 WHERE bucket_id = $2 AND key = $3 AND version_id = $4",
        &[&serde_json::to_string(&rec.meta)?, &rec.bucket_id, &rec.key.as_bytes(), &rec.version_id],
    )
    .await?;
    Ok(())
}

/// Locks the rows of `keys` in `object_keys` that exist, in key order, after creating those of
/// `create`; returns whether any exists. The batch form of `lock_key`, for deletes.
pub(crate) async fn lock_keys(c: &impl GenericClient, bucket_id: i64, create: &[&[u8]], keys: &[&[u8]]) -> Result<bool> {
    if !create.is_empty() {
        // In key order too: two batches creating the same keys wait for each other in one order.
        c.execute(
            "INSERT INTO object_keys (bucket_id, key) SELECT DISTINCT $1::bigint, k FROM unnest($2::bytea[]) AS t(k) ORDER BY k ON CONFLICT DO NOTHING",
            &[&bucket_id, &create],
        )
        .await?;
    }
    let locked = c.query("SELECT 1 FROM object_keys WHERE bucket_id = $1 AND key = ANY($2) ORDER BY key FOR UPDATE", &[&bucket_id, &keys]).await?;
    Ok(!locked.is_empty())
}

/// Locks the key's row in `object_keys` (creating it the first time), ordering the version
/// commits of one key. Take key locks before the bucket's quota turn, and several keys in
/// key order. One round trip: the lock is a statement of its own (its snapshot then sees a
/// row another commit has just created), sent right behind the insert.
pub(crate) async fn lock_key(c: &impl GenericClient, bucket_id: i64, key: &str) -> Result<()> {
    let (create, lock) = futures::try_join!(
        c.prepare("INSERT INTO object_keys (bucket_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING"),
        c.prepare("SELECT 1 FROM object_keys WHERE bucket_id = $1 AND key = $2 FOR UPDATE"),
    )?;
    let params: [&(dyn ToSql + Sync); 2] = [&bucket_id, &key.as_bytes()];
    futures::try_join!(c.execute(&create, &params), c.query_one(&lock, &params))?;
    Ok(())
}

pub(crate) struct Latest {
    pub seq: i64,
    pub delete_marker: bool,
    pub etag: String,
    /// The key's `null` version (it may be this one), which a write to an unversioned or
    /// suspended bucket replaces.
    pub null_seq: Option<i64>,
}

/// The key's latest version; read after `lock_key`, it is what the commit replaces.
pub(crate) async fn latest(c: &impl GenericClient, bucket_id: i64, key: &str) -> Result<Option<Latest>> {
    // Two index lookups in one statement: the latest version, then the null version. A key
    // with versions always has a latest one, so no latest means no null version either.
    let rows = c
        .query(
            "SELECT seq, delete_marker, etag, true FROM objects WHERE bucket_id = $1 AND key = $2 AND is_latest
             UNION ALL SELECT seq, delete_marker, etag, false FROM objects WHERE bucket_id = $1 AND key = $2 AND version_id = 'null'",
            &[&bucket_id, &key.as_bytes()],
        )
        .await?;
    let null_seq = rows.iter().find(|r| !r.get::<_, bool>(3)).map(|r| r.get(0));
    Ok(rows.iter().find(|r| r.get(3)).map(|r| Latest { seq: r.get(0), delete_marker: r.get(1), etag: r.get(2), null_seq }))
}

/// Writes a new version row according to the bucket's versioning state, after the write
/// conditions and within the bucket's quota; a version whose storage class belongs on another
/// tier than its bytes is on gets a move. Call inside the commit's transaction.
pub(crate) async fn insert_version(
    c: &impl GenericClient,
    bucket_id: i64,
    new: &NewObject,
    stored: &Stored<'_>,
    cond: &WriteConditions,
    tiers: &TierSet,
) -> Result<ObjectRecord> {
    // Statements that need not wait for each other share a round trip (they are pipelined on
    // the connection); each read that must see the key's lock comes after it.
    let (versioning, ()) = futures::try_join!(bucket_versioning(c, bucket_id), lock_key(c, bucket_id, &new.key))?;
    let (current, turn) = futures::try_join!(latest(c, bucket_id, &new.key), QuotaTurn::take(c, bucket_id))?;
    check_conditions(current.as_ref().filter(|l| !l.delete_marker).map(|l| l.etag.as_str()), cond)?;
    let now = now_ms();
    let record = new_version_record(bucket_id, new, stored, versioning, tiers, now);
    retire_latest(c, current.as_ref(), versioning, now).await?;
    insert_row(c, &record, Some(stored.body)).await?;
    turn.check(c, bucket_id).await?;
    let replication = queue_version(c, new.origin.event, &record, &new.origin.requester).await?;
    Ok(ObjectRecord { replication, ..record })
}

/// Queues the events and the replication that follow version `record`'s commit, inside that
/// commit's transaction (the two share round trips); returns its replication status.
pub(crate) async fn queue_version(c: &impl GenericClient, event: EventName, record: &ObjectRecord, requester: &Requester) -> Result<Option<String>> {
    let ((), status) = futures::try_join!(super::events::record_version(c, event, record, requester), super::replication::enqueue_new(c, record))?;
    Ok(status)
}

/// Makes room for a new latest version: unversioned and suspended buckets replace the `null`
/// version; every other latest version just stops being latest at `now`. (`current` knows the
/// null version: a key without a latest version has none.)
pub(crate) async fn retire_latest(c: &impl GenericClient, current: Option<&Latest>, versioning: Versioning, now: i64) -> Result<()> {
    let Some(l) = current else { return Ok(()) };
    match l.null_seq {
        Some(null) if versioning != Versioning::Enabled => {
            remove_row(c, null).await?;
            if null == l.seq {
                return Ok(());
            }
        }
        _ => {}
    }
    c.execute("UPDATE objects SET is_latest = false, noncurrent_ms = $2 WHERE seq = $1", &[&l.seq, &now]).await?;
    Ok(())
}

/// Inserts a version row with its inline body or its blob references.
pub(crate) async fn insert_row(c: &impl GenericClient, r: &ObjectRecord, body: Option<&Body>) -> Result<()> {
    const INSERT: &str = "INSERT INTO objects (bucket_id, key, version_id, is_latest, delete_marker, size, etag, modified_ms, owner_id, meta, manifest, tier, move_to, replication)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING seq";
    let manifest = match body {
        Some(Body::Blobs(segments)) => Some(encode_manifest(segments)),
        _ => None,
    };
    let moving = r.placement.moving_to.as_ref().map(|to| to.clone().unwrap_or_default());
    let size = r.size as i64;
    let key = r.key.as_bytes();
    let meta = serde_json::to_string(&r.meta)?;
    let row: [&(dyn ToSql + Sync); 14] = [
        &r.bucket_id,
        &key,
        &r.version_id,
        &r.is_latest,
        &r.delete_marker,
        &size,
        &r.etag,
        &r.modified_ms,
        &r.owner_id,
        &meta,
        &manifest,
        &r.placement.tier,
        &moving,
        &r.replication,
    ];
    match body {
        Some(Body::Inline { data, sha256 }) => {
            // The row and its body in one statement (the foreign key is checked at its end).
            let (data, sha256) = (data.as_ref(), sha256.as_ref().map(|h| &h[..]));
            let params: Vec<&(dyn ToSql + Sync)> = row.iter().copied().chain([&data as &(dyn ToSql + Sync), &sha256]).collect();
            c.execute(&format!("WITH o AS ({INSERT}) INSERT INTO inline_bodies (seq, data, sha256) SELECT seq, $15, $16 FROM o"), &params).await?;
        }
        Some(Body::Blobs(segments)) => {
            c.execute(INSERT, &row).await?;
            change_refs(c, r.placement.tier.as_deref(), segments, 1).await?
        }
        None => {
            c.execute(INSERT, &row).await?;
        }
    }
    Ok(())
}

/// Deletes a version row and releases its blobs, and those of its restored copy.
pub(crate) async fn remove_row(c: &impl GenericClient, seq: i64) -> Result<()> {
    let row = c.query_opt("SELECT manifest, tier, restore_done_ms FROM objects WHERE seq = $1", &[&seq]).await?;
    if let Some(row) = row {
        if let Some(manifest) = row.get::<_, Option<&str>>(0) {
            let segments = decode_manifest(manifest)?;
            change_refs(c, row.get(1), &segments, -1).await?;
            if row.get::<_, Option<i64>>(2).is_some() {
                change_refs(c, None, &segments, -1).await?;
            }
        }
    }
    c.execute("DELETE FROM inline_bodies WHERE seq = $1", &[&seq]).await?;
    c.execute(
        "DELETE FROM replication_outcomes WHERE (bucket_id, key, version_id) = (SELECT bucket_id, key, version_id FROM objects WHERE seq = $1)",
        &[&seq],
    )
    .await?;
    c.execute("DELETE FROM objects WHERE seq = $1", &[&seq]).await?;
    Ok(())
}

/// Takes (`by` 1) or drops (-1) a reference to every blob of `segments` on `tier` (None: the
/// local store). A segment that carries the generation its writer put the bytes under is
/// referenced only if that generation is still the live one; otherwise the blob was collected
/// meanwhile and the commit fails with `Busy` (see `blobs`).
pub(crate) async fn change_refs(c: &impl GenericClient, tier: Option<&str>, segments: &[Segment], by: i64) -> Result<()> {
    let (put, named): (Vec<&Segment>, Vec<&Segment>) = segments.iter().partition(|s| tier.is_none() && by > 0 && s.gen.is_some());
    if !put.is_empty() {
        reference_put_blobs(c, &put).await?;
    }
    if named.is_empty() {
        return Ok(());
    }
    let (hashes, sizes) = blob_columns(&named)?;
    // One row per distinct blob (a manifest may name one twice), in hash order so that commits
    // sharing blobs lock them in one order.
    const GROUPED: &str = "SELECT h, max(s) AS s, count(*) AS n FROM unnest($1::bytea[], $2::bigint[]) AS t(h, s) GROUP BY h ORDER BY h";
    let sql = match (tier, by > 0) {
        (None, true) => format!("INSERT INTO blobs (hash, size, refs, gen) SELECT h, s, n, nextval('blob_generations') FROM ({GROUPED}) g
             ON CONFLICT (hash) DO UPDATE SET refs = blobs.refs + excluded.refs WHERE NOT blobs.doomed"),
        (None, false) => format!("UPDATE blobs SET refs = refs - g.n FROM ({GROUPED}) g WHERE blobs.hash = g.h"),
        (Some(_), true) => format!("INSERT INTO tier_blobs (tier, hash, size, refs) SELECT $3, h, s, n FROM ({GROUPED}) g
             ON CONFLICT (tier, hash) DO UPDATE SET refs = tier_blobs.refs + excluded.refs"),
        (Some(_), false) => format!("UPDATE tier_blobs SET refs = refs - g.n FROM ({GROUPED}) g WHERE tier_blobs.tier = $3 AND tier_blobs.hash = g.h"),
    };
    let changed = match tier {
        None => c.execute(&sql, &[&hashes, &sizes]).await?,
        Some(t) => c.execute(&sql, &[&hashes, &sizes, &t]).await?,
    };
    if tier.is_none() && by > 0 && changed < distinct(&hashes) {
        return Err(collected_meanwhile());
    }
    Ok(())
}

/// Takes a reference to blobs a writer has just put, on the generation it reserved; ends their
/// holds.
async fn reference_put_blobs(c: &impl GenericClient, put: &[&Segment]) -> Result<()> {
    let (hashes, _) = blob_columns(put)?;
    let gens: Vec<i64> = put.iter().map(|s| s.gen.unwrap_or(0) as i64).collect();
    let changed = c
        .execute(
            "UPDATE blobs SET refs = refs + g.n, held_until = 0
               FROM (SELECT h, min(gen) AS gen, count(*) AS n FROM unnest($1::bytea[], $2::bigint[]) AS t(h, gen) GROUP BY h ORDER BY h) g
              WHERE blobs.hash = g.h AND blobs.gen = g.gen AND NOT blobs.doomed",
            &[&hashes, &gens],
        )
        .await?;
    if changed < distinct(&hashes) {
        return Err(collected_meanwhile());
    }
    Ok(())
}

/// The hashes and sizes of `segments`, as query parameters.
fn blob_columns(segments: &[&Segment]) -> Result<(Vec<Vec<u8>>, Vec<i64>)> {
    segments
        .iter()
        .map(|s| {
            let hash = crate::blob::parse_hash(&s.hash).ok_or_else(|| StorageError::Corrupt(format!("bad segment hash {:?}", s.hash)))?;
            Ok((hash.to_vec(), s.len as i64))
        })
        .collect()
}

fn distinct(hashes: &[Vec<u8>]) -> u64 {
    hashes.iter().collect::<std::collections::HashSet<_>>().len() as u64
}

/// A blob the commit names was collected before the commit (its writer took longer than its
/// hold, or the blob was not live any more): the client retries the whole request.
fn collected_meanwhile() -> StorageError {
    tracing::warn!("a blob was collected before the commit that names it; the request fails with SlowDown and is retried");
    StorageError::Busy
}
