//! PostgreSQL's version commit (work in progress toward its ObjectIndex): a new version of a
//! key is written under a row lock on the key, so conditional writes of one key from several
//! nodes take turns while different keys commit in parallel.

use super::buckets::{bucket_versioning, QuotaTurn};
use crate::error::{Result, StorageError};
use crate::events::{EventName, Requester};
use crate::model::{Body, ObjectRecord, Segment, Versioning, WriteConditions};
use crate::objects::{check_conditions, new_version_record, NewObject, Stored};
use crate::columns::{decode_manifest, encode_manifest};
use crate::tiers::TierSet;
use crate::now_ms;
use tokio_postgres::GenericClient;

/// Locks the key's row in `object_keys` (creating it the first time), ordering the version
/// commits of one key. Take key locks before the bucket's quota turn, and several keys in
/// key order.
pub(crate) async fn lock_key(c: &impl GenericClient, bucket_id: i64, key: &str) -> Result<()> {
    c.execute("INSERT INTO object_keys (bucket_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&bucket_id, &key.as_bytes()]).await?;
    c.query_one("SELECT 1 FROM object_keys WHERE bucket_id = $1 AND key = $2 FOR UPDATE", &[&bucket_id, &key.as_bytes()]).await?;
    Ok(())
}

struct Latest {
    seq: i64,
    delete_marker: bool,
    etag: String,
}

/// The key's latest version; read after `lock_key`, it is what the commit replaces.
async fn latest(c: &impl GenericClient, bucket_id: i64, key: &str) -> Result<Option<Latest>> {
    let row = c
        .query_opt("SELECT seq, delete_marker, etag FROM objects WHERE bucket_id = $1 AND key = $2 AND is_latest", &[&bucket_id, &key.as_bytes()])
        .await?;
    Ok(row.map(|r| Latest { seq: r.get(0), delete_marker: r.get(1), etag: r.get(2) }))
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
    let versioning = bucket_versioning(c, bucket_id).await?;
    lock_key(c, bucket_id, &new.key).await?;
    let current = latest(c, bucket_id, &new.key).await?;
    check_conditions(current.as_ref().filter(|l| !l.delete_marker).map(|l| l.etag.as_str()), cond)?;
    let now = now_ms();
    let record = new_version_record(bucket_id, new, stored, versioning, tiers, now);
    let turn = QuotaTurn::take(c, bucket_id).await?;
    retire_latest(c, bucket_id, &new.key, current.as_ref(), versioning, now).await?;
    insert_row(c, &record, Some(stored.body)).await?;
    turn.check(c, bucket_id).await?;
    let replication = queue_version(c, new.origin.event, &record, &new.origin.requester).await?;
    Ok(ObjectRecord { replication, ..record })
}

/// Queues the events and the replication that follow version `record`'s commit, inside that
/// commit's transaction; returns its replication status.
pub(crate) async fn queue_version(c: &impl GenericClient, event: EventName, record: &ObjectRecord, requester: &Requester) -> Result<Option<String>> {
    super::events::record_version(c, event, record, requester).await?;
    super::replication::enqueue_new(c, record).await
}

/// Makes room for a new latest version: unversioned and suspended buckets replace the `null`
/// version; every other latest version just stops being latest at `now`.
async fn retire_latest(c: &impl GenericClient, bucket_id: i64, key: &str, current: Option<&Latest>, versioning: Versioning, now: i64) -> Result<()> {
    if versioning != Versioning::Enabled {
        let null = c
            .query_opt("SELECT seq FROM objects WHERE bucket_id = $1 AND key = $2 AND version_id = 'null'", &[&bucket_id, &key.as_bytes()])
            .await?;
        if let Some(row) = null {
            remove_row(c, row.get(0)).await?;
        }
    }
    if let Some(l) = current {
        c.execute("UPDATE objects SET is_latest = false, noncurrent_ms = $2 WHERE seq = $1", &[&l.seq, &now]).await?;
    }
    Ok(())
}

/// Inserts a version row with its inline body or its blob references.
pub(crate) async fn insert_row(c: &impl GenericClient, r: &ObjectRecord, body: Option<&Body>) -> Result<()> {
    let manifest = match body {
        Some(Body::Blobs(segments)) => Some(encode_manifest(segments)),
        _ => None,
    };
    let moving = r.placement.moving_to.as_ref().map(|to| to.clone().unwrap_or_default());
    let seq: i64 = c
        .query_one(
            "INSERT INTO objects (bucket_id, key, version_id, is_latest, delete_marker, size, etag, modified_ms, owner_id, meta, manifest, tier, move_to, replication)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING seq",
            &[
                &r.bucket_id,
                &r.key.as_bytes(),
                &r.version_id,
                &r.is_latest,
                &r.delete_marker,
                &(r.size as i64),
                &r.etag,
                &r.modified_ms,
                &r.owner_id,
                &serde_json::to_string(&r.meta)?,
                &manifest,
                &r.placement.tier,
                &moving,
                &r.replication,
            ],
        )
        .await?
        .get(0);
    match body {
        Some(Body::Inline { data, sha256 }) => {
            c.execute("INSERT INTO inline_bodies (seq, data, sha256) VALUES ($1, $2, $3)", &[&seq, &data.as_ref(), &sha256.as_ref().map(|h| &h[..])])
                .await?;
        }
        Some(Body::Blobs(segments)) => change_refs(c, r.placement.tier.as_deref(), segments, 1).await?,
        None => {}
    }
    Ok(())
}

/// Deletes a version row and releases its blobs, and those of its restored copy.
async fn remove_row(c: &impl GenericClient, seq: i64) -> Result<()> {
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
/// local store).
pub(crate) async fn change_refs(c: &impl GenericClient, tier: Option<&str>, segments: &[Segment], by: i64) -> Result<()> {
    let mut hashes = Vec::with_capacity(segments.len());
    for s in segments {
        let hash = crate::blob::parse_hash(&s.hash).ok_or_else(|| StorageError::Corrupt(format!("bad segment hash {:?}", s.hash)))?;
        hashes.push((hash.to_vec(), s.len as i64));
    }
    let (hashes, sizes): (Vec<Vec<u8>>, Vec<i64>) = hashes.into_iter().unzip();
    // One row per distinct blob (a manifest may name one twice), in hash order so that commits
    // sharing blobs lock them in one order.
    const GROUPED: &str = "SELECT h, max(s) AS s, count(*) AS n FROM unnest($1::bytea[], $2::bigint[]) AS t(h, s) GROUP BY h ORDER BY h";
    let sql = match (tier, by > 0) {
        (None, true) => format!("INSERT INTO blobs (hash, size, refs) SELECT h, s, n FROM ({GROUPED}) g
             ON CONFLICT (hash) DO UPDATE SET refs = blobs.refs + excluded.refs"),
        (None, false) => format!("UPDATE blobs SET refs = refs - g.n FROM ({GROUPED}) g WHERE blobs.hash = g.h"),
        (Some(_), true) => format!("INSERT INTO tier_blobs (tier, hash, size, refs) SELECT $3, h, s, n FROM ({GROUPED}) g
             ON CONFLICT (tier, hash) DO UPDATE SET refs = tier_blobs.refs + excluded.refs"),
        (Some(_), false) => format!("UPDATE tier_blobs SET refs = refs - g.n FROM ({GROUPED}) g WHERE tier_blobs.tier = $3 AND tier_blobs.hash = g.h"),
    };
    match tier {
        None => c.execute(&sql, &[&hashes, &sizes]).await?,
        Some(t) => c.execute(&sql, &[&hashes, &sizes, &t]).await?,
    };
    Ok(())
}
