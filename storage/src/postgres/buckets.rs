//! PostgreSQL's BucketIndex: buckets and their configuration documents, versioning state,
//! usage (a base row plus appended deltas, see `schema`) and quotas.

use super::{in_snapshot, transact, PgIndex};
use crate::error::{Result, StorageError};
use crate::meta::BucketIndex;
use crate::model::{Bucket, User, Versioning, LOCK_KIND};
use crate::now_ms;
use crate::columns::decode_manifest;
use crate::usage::{BucketSpace, Quota, Usage};
use std::collections::HashSet;
use tokio_postgres::error::SqlState;
use super::GenericClient;
use tokio_postgres::Row;

/// Delta rows a bucket may gather before a usage reader folds them into its base row.
const FOLD_AT: i64 = 256;

pub(crate) const BUCKET_COLUMNS: &str = "b.id, b.name, b.region, b.created_ms, b.versioning, u.id, u.name, b.config_gen";

/// The bucket's usage as base row plus deltas, its quota and how many deltas it has pending.
const USAGE: &str = "SELECT u.objects + COALESCE(SUM(d.objects), 0)::bigint, u.versions + COALESCE(SUM(d.versions), 0)::bigint,
        u.markers + COALESCE(SUM(d.markers), 0)::bigint, u.bytes + COALESCE(SUM(d.bytes), 0)::bigint,
        u.max_bytes, u.max_objects, COUNT(d.id)
     FROM bucket_usage u LEFT JOIN bucket_usage_deltas d ON d.bucket_id = u.bucket_id
     WHERE u.bucket_id = $1 GROUP BY u.bucket_id";

#[async_trait::async_trait]
impl BucketIndex for PgIndex {
    async fn create_bucket(&self, owner: User, name: &str, region: &str) -> Result<Bucket> {
        let client = self.client().await?;
        let created_ms = now_ms();
        let inserted = client
            .query_opt(
                "INSERT INTO buckets (name, owner_id, region, created_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING RETURNING id",
                &[&name, &owner.id, &region, &created_ms],
            )
            .await?;
        if let Some(row) = inserted {
            let (name, region) = (name.to_string(), region.to_string());
            return Ok(Bucket { id: row.get(0), name, owner, region, created_ms, versioning: Versioning::Unversioned, config_gen: 0 });
        }
        let holder = client.query_opt("SELECT owner_id FROM buckets WHERE name = $1", &[&name]).await?;
        Err(match holder {
            Some(row) if row.get::<_, &str>(0) == owner.id => StorageError::BucketAlreadyOwnedByYou,
            _ => StorageError::BucketAlreadyExists,
        })
    }

    async fn bucket_by_name(&self, name: &str) -> Result<Option<Bucket>> {
        bucket_by_name(&*self.client().await?, name).await
    }

    async fn list_buckets(&self, owner_id: &str) -> Result<Vec<Bucket>> {
        let sql = format!("SELECT {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id WHERE b.owner_id = $1 ORDER BY b.name");
        let rows = self.client().await?.query(&sql, &[&owner_id]).await?;
        Ok(rows.iter().map(bucket_from_row).collect())
    }

    async fn all_buckets(&self) -> Result<Vec<Bucket>> {
        let sql = format!("SELECT {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id ORDER BY b.name");
        let rows = self.client().await?.query(&sql, &[]).await?;
        Ok(rows.iter().map(bucket_from_row).collect())
    }

    async fn delete_bucket(&self, name: &str) -> Result<i64> {
        let deleted = transact!(self, |tx| {
            // The row lock waits for writes in flight into the bucket (their foreign key checks
            // share-lock it) and keeps new ones out until the bucket is gone.
            let id: i64 = tx
                .query_opt("SELECT id FROM buckets WHERE name = $1 FOR UPDATE", &[&name])
                .await?
                .ok_or(StorageError::NoSuchBucket)?
                .get(0);
            let used: bool = tx.query_one("SELECT EXISTS (SELECT 1 FROM objects WHERE bucket_id = $1)", &[&id]).await?.get(0);
            if used {
                return Err(StorageError::BucketNotEmpty);
            }
            tx.execute("DELETE FROM bucket_configs WHERE bucket_id = $1", &[&id]).await?;
            super::uploads::drop_bucket_uploads(&*tx, id).await?;
            tx.execute("DELETE FROM object_keys WHERE bucket_id = $1", &[&id]).await?;
            tx.execute("DELETE FROM leases WHERE name = $1", &[&super::lifecycle::bucket_lease(id)]).await?;
            tx.execute("DELETE FROM buckets WHERE id = $1", &[&id]).await?;
            id
        });
        deleted.map_err(|e| if is_foreign_key_violation(&e) { StorageError::BucketNotEmpty } else { e })
    }

    async fn bucket_config_kinds(&self, bucket_id: i64) -> Result<Vec<String>> {
        let rows = self.client().await?.query("SELECT kind FROM bucket_configs WHERE bucket_id = $1 ORDER BY kind", &[&bucket_id]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn bucket_config(&self, bucket_id: i64, kind: &str) -> Result<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT document FROM bucket_configs WHERE bucket_id = $1 AND kind = $2", &[&bucket_id, &kind])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn buckets_with_config(&self, kind: &str) -> Result<Vec<(i64, String)>> {
        let rows = self
            .client()
            .await?
            .query("SELECT b.id, b.name FROM bucket_configs c JOIN buckets b ON b.id = c.bucket_id WHERE c.kind = $1 ORDER BY b.id", &[&kind])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn set_bucket_config(&self, bucket_id: i64, kind: &str, document: Option<String>) -> Result<()> {
        transact!(self, |tx| {
            // Configuration writes and versioning changes of a bucket take turns on its row, so
            // Object Lock and Suspended versioning are never set together by two nodes.
            lock_bucket(&*tx, bucket_id).await?;
            match &document {
                Some(doc) => {
                    tx.execute(
                        "INSERT INTO bucket_configs (bucket_id, kind, document) VALUES ($1, $2, $3)
                         ON CONFLICT (bucket_id, kind) DO UPDATE SET document = excluded.document",
                        &[&bucket_id, &kind, doc],
                    )
                    .await?
                }
                None => tx.execute("DELETE FROM bucket_configs WHERE bucket_id = $1 AND kind = $2", &[&bucket_id, &kind]).await?,
            };
            bump_config_gen(&*tx, bucket_id).await?;
        })
    }

    async fn set_versioning(&self, bucket_id: i64, state: Versioning) -> Result<()> {
        transact!(self, |tx| {
            lock_bucket(&*tx, bucket_id).await?;
            let locked: bool = tx
                .query_one("SELECT EXISTS (SELECT 1 FROM bucket_configs WHERE bucket_id = $1 AND kind = $2)", &[&bucket_id, &LOCK_KIND])
                .await?
                .get(0);
            crate::buckets::check_versioning_change(state, || Ok(locked))?;
            tx.execute("UPDATE buckets SET versioning = $2 WHERE id = $1", &[&bucket_id, &state.as_str()]).await?;
        })
    }

    async fn bucket_usage(&self, bucket_id: i64) -> Result<(Usage, Quota)> {
        let client = self.client().await?;
        Ok(read_usage(&*client, bucket_id).await?.unwrap_or_default())
    }

    async fn byte_quota_for_put(&self, bucket_id: i64, key: &str) -> Result<Option<(Usage, Quota, u64)>> {
        let client = self.client().await?;
        // Most buckets have no byte quota: one indexed read says so, instead of adding up the
        // bucket's pending deltas on every PUT. Their deltas are then folded by about one PUT in
        // FOLD_AT (reads of the usage fold them too).
        let limited = client.query_opt("SELECT 1 FROM bucket_usage WHERE bucket_id = $1 AND max_bytes IS NOT NULL", &[&bucket_id]).await?;
        if limited.is_none() {
            if rand::random::<u32>().is_multiple_of(FOLD_AT as u32) {
                fold_usage(&*client, bucket_id).await?;
            }
            return Ok(None);
        }
        let Some((usage, quota)) = read_usage(&*client, bucket_id).await?.filter(|(_, q)| q.max_bytes.is_some()) else { return Ok(None) };
        let replaced: i64 = match bucket_versioning(&*client, bucket_id).await? {
            Versioning::Enabled => 0,
            _ => client
                .query_opt(
                    "SELECT size FROM objects WHERE bucket_id = $1 AND key = $2 AND version_id = 'null' AND NOT delete_marker",
                    &[&bucket_id, &key.as_bytes()],
                )
                .await?
                .map_or(0, |r| r.get(0)),
        };
        Ok(Some((usage, quota, replaced.max(0) as u64)))
    }

    async fn total_usage(&self) -> Result<Usage> {
        let total = |column: &str| format!("((SELECT COALESCE(SUM({column}), 0) FROM bucket_usage) + (SELECT COALESCE(SUM({column}), 0) FROM bucket_usage_deltas))::bigint");
        let sql = format!("SELECT {}, {}, {}, {}", total("objects"), total("versions"), total("markers"), total("bytes"));
        let row = self.client().await?.query_one(&sql, &[]).await?;
        Ok(usage_from(&row))
    }

    async fn bucket_space(&self, bucket_id: i64) -> Result<BucketSpace> {
        in_snapshot!(self, |tx| {
            // One snapshot for the counters and the walk.
            let (usage, quota, _) = usage_row(&*tx, bucket_id).await?.unwrap_or_default();
            let inline: i64 = tx
                .query_one(
                    "SELECT COALESCE(SUM(length(i.data)), 0)::bigint FROM objects o JOIN inline_bodies i ON i.seq = o.seq WHERE o.bucket_id = $1",
                    &[&bucket_id],
                )
                .await?
                .get(0);
            let mut blobs = HashSet::new();
            let mut stored = inline.max(0) as u64;
            for row in tx.query("SELECT manifest FROM objects WHERE bucket_id = $1 AND manifest IS NOT NULL", &[&bucket_id]).await? {
                for segment in decode_manifest(row.get(0))? {
                    if blobs.insert(segment.hash) {
                        stored += segment.len;
                    }
                }
            }
            BucketSpace { usage, stored_bytes: stored, quota }
        })
    }

    async fn set_bucket_quota(&self, bucket_id: i64, quota: Quota) -> Result<()> {
        let to_sql = |v: Option<u64>| v.map(|n| n.min(i64::MAX as u64) as i64);
        self.client()
            .await?
            .execute(
                "INSERT INTO bucket_usage (bucket_id, max_bytes, max_objects) VALUES ($1, $2, $3)
                 ON CONFLICT (bucket_id) DO UPDATE SET max_bytes = excluded.max_bytes, max_objects = excluded.max_objects",
                &[&bucket_id, &to_sql(quota.max_bytes), &to_sql(quota.max_objects)],
            )
            .await?;
        Ok(())
    }
}

/// Notes in the bucket's row that its configuration changed (in the transaction that changes
/// it), so every node's next lookup of the bucket sees the change (`Bucket::config_gen`).
pub(crate) async fn bump_config_gen(c: &impl GenericClient, bucket_id: i64) -> Result<()> {
    c.execute("UPDATE buckets SET config_gen = config_gen + 1 WHERE id = $1", &[&bucket_id]).await?;
    Ok(())
}

fn bucket_from_row(r: &Row) -> Bucket {
    bucket_at(r, 0)
}

/// The bucket selected by `BUCKET_COLUMNS` starting at column `first`.
pub(crate) fn bucket_at(r: &Row, first: usize) -> Bucket {
    Bucket {
        id: r.get(first),
        name: r.get(first + 1),
        region: r.get(first + 2),
        created_ms: r.get(first + 3),
        versioning: Versioning::parse(r.get(first + 4)),
        owner: User { id: r.get(first + 5), name: r.get(first + 6) },
        config_gen: r.get(first + 7),
    }
}

/// The bucket called `name`, if any.
pub(crate) async fn bucket_by_name(c: &impl GenericClient, name: &str) -> Result<Option<Bucket>> {
    let sql = format!("SELECT {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id WHERE b.name = $1");
    Ok(c.query_opt(&sql, &[&name]).await?.as_ref().map(bucket_from_row))
}

/// The bucket's versioning state; `NoSuchBucket` for an unknown id.
pub(crate) async fn bucket_versioning(c: &impl GenericClient, bucket_id: i64) -> Result<Versioning> {
    let row = c.query_opt("SELECT versioning FROM buckets WHERE id = $1", &[&bucket_id]).await?;
    row.map(|r| Versioning::parse(r.get(0))).ok_or(StorageError::NoSuchBucket)
}

/// Locks the bucket's row against configuration and versioning changes of other transactions
/// (not against version writes: their foreign key checks take a weaker lock). `NoSuchBucket`.
async fn lock_bucket(c: &impl GenericClient, bucket_id: i64) -> Result<()> {
    c.query_opt("SELECT 1 FROM buckets WHERE id = $1 FOR NO KEY UPDATE", &[&bucket_id]).await?.ok_or(StorageError::NoSuchBucket)?;
    Ok(())
}

fn is_foreign_key_violation(e: &StorageError) -> bool {
    matches!(e, StorageError::Index(inner) if inner
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.code())
        .is_some_and(|c| *c == SqlState::FOREIGN_KEY_VIOLATION))
}

/// The bucket's usage and quota (None for an unknown bucket id), folding its deltas into the
/// base row afterwards when many have gathered.
async fn read_usage(c: &impl GenericClient, bucket_id: i64) -> Result<Option<(Usage, Quota)>> {
    let Some((usage, quota, pending)) = usage_row(c, bucket_id).await? else { return Ok(None) };
    if pending >= FOLD_AT {
        fold_usage(c, bucket_id).await?;
    }
    Ok(Some((usage, quota)))
}

/// The bucket's usage, quota and number of deltas not yet folded, as one snapshot sees them.
async fn usage_row(c: &impl GenericClient, bucket_id: i64) -> Result<Option<(Usage, Quota, i64)>> {
    let Some(row) = c.query_opt(USAGE, &[&bucket_id]).await? else { return Ok(None) };
    let limit = |i: usize| row.get::<_, Option<i64>>(i).map(|v| v.max(0) as u64);
    Ok(Some((usage_from(&row), Quota { max_bytes: limit(4), max_objects: limit(5) }, row.get(6))))
}

/// Usage from a row whose first four columns are the counters.
fn usage_from(row: &Row) -> Usage {
    let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
    Usage { objects: n(0), versions: n(1), delete_markers: n(2), logical_bytes: n(3) }
}

/// Adds the bucket's committed deltas into its base row and deletes them, in one statement (a
/// snapshot sees both or neither). Skipped while a writer holds the base row (a bucket with a
/// quota being written): the next reader folds. Returns whether it folded.
pub(crate) async fn fold_usage(c: &impl GenericClient, bucket_id: i64) -> Result<bool> {
    let folded = c
        .query_opt(
            "WITH base AS (SELECT bucket_id FROM bucket_usage WHERE bucket_id = $1 FOR UPDATE SKIP LOCKED),
                  gone AS (DELETE FROM bucket_usage_deltas WHERE bucket_id IN (SELECT bucket_id FROM base)
                           RETURNING objects, versions, markers, bytes),
                  sum AS (SELECT COALESCE(SUM(objects), 0)::bigint AS o, COALESCE(SUM(versions), 0)::bigint AS v,
                                 COALESCE(SUM(markers), 0)::bigint AS m, COALESCE(SUM(bytes), 0)::bigint AS b FROM gone)
             UPDATE bucket_usage SET objects = objects + sum.o, versions = versions + sum.v, markers = markers + sum.m, bytes = bytes + sum.b
             FROM sum WHERE bucket_id IN (SELECT bucket_id FROM base) RETURNING 1",
            &[&bucket_id],
        )
        .await?;
    Ok(folded.is_some())
}

/// A version write's turn in a bucket with a quota: `take` locks the bucket's usage row (so
/// the bucket's writers on every node take turns) and reads its usage before the write;
/// `check` reads it after and refuses the write with `QuotaExceeded` when it takes the bucket
/// past its quota (the caller's transaction then rolls back). Buckets without a quota pay one
/// indexed read and take no lock.
pub(crate) struct QuotaTurn(Option<(Usage, Quota)>);

impl QuotaTurn {
    pub(crate) async fn take(c: &impl GenericClient, bucket_id: i64) -> Result<QuotaTurn> {
        let limited = c
            .query_opt(
                "SELECT 1 FROM bucket_usage WHERE bucket_id = $1 AND (max_bytes IS NOT NULL OR max_objects IS NOT NULL) FOR UPDATE",
                &[&bucket_id],
            )
            .await?;
        if limited.is_none() {
            return Ok(QuotaTurn(None));
        }
        // A statement of its own: its snapshot is taken after the lock, so it sees the deltas of
        // the writer whose turn came before.
        Ok(QuotaTurn(read_usage(c, bucket_id).await?.filter(|(_, quota)| quota.is_set())))
    }

    pub(crate) async fn check(self, c: &impl GenericClient, bucket_id: i64) -> Result<()> {
        if let Some((before, quota)) = self.0 {
            let (after, _) = read_usage(c, bucket_id).await?.unwrap_or_default();
            quota.check(&before, &after)?;
        }
        Ok(())
    }
}
