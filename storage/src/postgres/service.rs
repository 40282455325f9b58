//! PostgreSQL's ServiceIndex: whole-store facts and worker bookkeeping (health, statistics,
//! worker cursors, the tier and remote catalogs, the access-log queue).

use super::{transact, PgIndex};
use crate::blob_store::BlobLocation;
use crate::error::{Result, TierError};
use crate::meta::ServiceIndex;
use crate::tiers::{RemoteSpec, TierKind, TierSpec};
use crate::{now_ms, IndexCounts, AccessLogBacklog, AccessLogBatch, Backlogs, BucketUsage, StoreUsage};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use super::GenericClient;

const BLOB_LOCATION: &str = "blob_location";

#[async_trait::async_trait]
impl ServiceIndex for PgIndex {
    async fn worker_cursor(&self, worker: &str) -> Result<Option<String>> {
        let row = self.client().await?.query_opt("SELECT cursor FROM worker_cursors WHERE worker = $1", &[&worker]).await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn forget_worker_cursors(&self, prefix: &str, keep: &str) -> Result<()> {
        self.client()
            .await?
            .execute("DELETE FROM worker_cursors WHERE starts_with(worker, $1) AND NOT starts_with(worker, $2)", &[&prefix, &keep])
            .await?;
        Ok(())
    }

    async fn set_worker_cursor(&self, worker: &str, cursor: Option<String>) -> Result<()> {
        let client = self.client().await?;
        match cursor {
            Some(cursor) => {
                client
                    .execute(
                        "INSERT INTO worker_cursors (worker, cursor, updated_ms) VALUES ($1, $2, $3)
                         ON CONFLICT (worker) DO UPDATE SET cursor = excluded.cursor, updated_ms = excluded.updated_ms",
                        &[&worker, &cursor, &now_ms()],
                    )
                    .await?
            }
            None => client.execute("DELETE FROM worker_cursors WHERE worker = $1", &[&worker]).await?,
        };
        Ok(())
    }

    async fn queue_access_records(&self, records: Vec<(String, String)>) -> Result<()> {
        let (destinations, lines): (Vec<String>, Vec<String>) = records.into_iter().unzip();
        self.client()
            .await?
            .execute(
                "INSERT INTO access_log_queue (destination, line, created_ms) SELECT d, l, $3 FROM unnest($1::text[], $2::text[]) AS r(d, l)",
                &[&destinations, &lines, &now_ms()],
            )
            .await?;
        Ok(())
    }

    async fn access_log_backlog(&self) -> Result<Vec<AccessLogBacklog>> {
        let rows = self
            .client()
            .await?
            .query("SELECT destination, COUNT(*), MIN(created_ms) FROM access_log_queue GROUP BY destination ORDER BY MIN(seq)", &[])
            .await?;
        Ok(rows.iter().map(|r| AccessLogBacklog { destination: r.get(0), records: r.get::<_, i64>(1) as u64, oldest_ms: r.get(2) }).collect())
    }

    async fn queued_access_records(&self, destination: &str, limit: usize) -> Result<AccessLogBatch> {
        let rows = self
            .client()
            .await?
            .query("SELECT seq, line FROM access_log_queue WHERE destination = $1 ORDER BY seq LIMIT $2", &[&destination, &(limit as i64)])
            .await?;
        let mut batch = AccessLogBatch::default();
        for row in rows {
            batch.through_seq = row.get(0);
            batch.lines.push(row.get(1));
        }
        Ok(batch)
    }

    async fn forget_access_records(&self, destination: &str, through_seq: i64) -> Result<u64> {
        let client = self.client().await?;
        Ok(client.execute("DELETE FROM access_log_queue WHERE destination = $1 AND seq <= $2", &[&destination, &through_seq]).await?)
    }

    fn index_bytes(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    async fn index_counts(&self) -> Result<IndexCounts> {
        let c = self.client().await?;
        Ok(IndexCounts {
            users: count(&*c, "SELECT COUNT(*) FROM users").await?,
            buckets: count(&*c, "SELECT COUNT(*) FROM buckets").await?,
            objects: count(&*c, "SELECT COUNT(*) FROM objects WHERE NOT delete_marker").await?,
            inline_objects: count(&*c, "SELECT COUNT(*) FROM inline_bodies").await?,
            blobs: count(&*c, "SELECT COUNT(*) FROM blobs WHERE refs > 0").await?,
            blob_bytes: count(&*c, "SELECT COALESCE(SUM(size), 0)::bigint FROM blobs WHERE refs > 0").await?,
        })
    }

    async fn reclaim_space(&self, _max_pages: u32) -> Result<u64> {
        // Autovacuum makes dead rows' space reusable; shrinking files is VACUUM FULL's, an
        // operator's decision (it locks the table).
        Ok(0)
    }

    async fn store_usage(&self) -> Result<StoreUsage> {
        let client = self.client().await?;
        self.note_size(&client).await?;
        usage(&*client).await
    }

    async fn backlogs(&self) -> Result<Backlogs> {
        backlogs(&*self.client().await?).await
    }

    async fn hold_lease(&self, name: &str, ttl: std::time::Duration) -> Result<bool> {
        let now = now_ms();
        let until = now + ttl.as_millis() as i64;
        let client = self.client().await?;
        let held = client
            .query_opt(
                "INSERT INTO leases (name, node, until_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET node = EXCLUDED.node, until_ms = EXCLUDED.until_ms
                 WHERE leases.node = EXCLUDED.node OR leases.until_ms < $4
                 RETURNING 1",
                &[&name, &self.node, &until, &now],
            )
            .await?;
        Ok(held.is_some())
    }

    async fn ping(&self) -> Result<()> {
        self.client().await?.query_one("SELECT count(*) FROM buckets", &[]).await?;
        Ok(())
    }

    async fn tier_specs(&self) -> Result<Vec<TierSpec>> {
        let rows = self.client().await?.query("SELECT spec FROM tiers ORDER BY name", &[]).await?;
        rows.iter().map(|r| Ok(serde_json::from_str(r.get(0))?)).collect()
    }

    async fn add_tier(&self, spec: TierSpec) -> Result<()> {
        let document = serde_json::to_string(&spec)?;
        transact!(self, |tx| {
            if let TierKind::Remote { remote, .. } = &spec.kind {
                // FOR SHARE keeps the remote from being removed before this commits.
                if tx.query_opt("SELECT 1 FROM remotes WHERE name = $1 FOR SHARE", &[remote]).await?.is_none() {
                    return Err(TierError::Missing { kind: "remote", name: remote.clone() }.into());
                }
            }
            let added = tx
                .execute("INSERT INTO tiers (name, spec, created_ms) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING", &[&spec.name, &document, &now_ms()])
                .await?;
            if added == 0 {
                return Err(TierError::Exists { kind: "tier", name: spec.name.clone() }.into());
            }
        })
    }

    async fn remove_tier(&self, name: &str) -> Result<()> {
        transact!(self, |tx| {
            if tx.query_opt("SELECT 1 FROM tiers WHERE name = $1 FOR UPDATE", &[&name]).await?.is_none() {
                return Err(TierError::Missing { kind: "tier", name: name.to_string() }.into());
            }
            let versions: i64 = tx
                .query_one("SELECT (SELECT COUNT(*) FROM objects WHERE tier = $1) + (SELECT COUNT(*) FROM objects WHERE move_to = $1)", &[&name])
                .await?
                .get(0);
            if versions > 0 {
                let what = format!("{versions} object version(s) (move them back by copying them to STANDARD)");
                return Err(TierError::InUse { kind: "tier", name: name.to_string(), what }.into());
            }
            tx.execute("DELETE FROM tiers WHERE name = $1", &[&name]).await?;
            tx.execute("DELETE FROM tier_blobs WHERE tier = $1", &[&name]).await?;
        })
    }

    async fn remotes(&self) -> Result<Vec<(RemoteSpec, Vec<u8>)>> {
        let rows = self.client().await?.query("SELECT spec, secret FROM remotes ORDER BY name", &[]).await?;
        rows.iter().map(|r| Ok((serde_json::from_str(r.get(0))?, r.get(1)))).collect()
    }

    async fn add_remote(&self, spec: RemoteSpec, sealed_secret: Vec<u8>) -> Result<()> {
        let added = self
            .client()
            .await?
            .execute(
                "INSERT INTO remotes (name, spec, secret, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
                &[&spec.name, &serde_json::to_string(&spec)?, &sealed_secret, &now_ms()],
            )
            .await?;
        match added {
            0 => Err(TierError::Exists { kind: "remote", name: spec.name.clone() }.into()),
            _ => Ok(()),
        }
    }

    async fn remove_remote(&self, name: &str) -> Result<()> {
        transact!(self, |tx| {
            if tx.query_opt("SELECT 1 FROM remotes WHERE name = $1 FOR UPDATE", &[&name]).await?.is_none() {
                return Err(TierError::Missing { kind: "remote", name: name.to_string() }.into());
            }
            for row in tx.query("SELECT spec FROM tiers", &[]).await? {
                let spec: TierSpec = serde_json::from_str(row.get(0))?;
                if matches!(&spec.kind, TierKind::Remote { remote, .. } if remote == name) {
                    return Err(TierError::InUse { kind: "remote", name: name.to_string(), what: format!("tier {}", spec.name) }.into());
                }
            }
            if let Some(BlobLocation::S3 { remote, .. }) = read_location(&*tx).await? {
                if remote == name {
                    return Err(TierError::InUse { kind: "remote", name: name.to_string(), what: "the store's blobs (--blobs)".into() }.into());
                }
            }
            tx.execute("DELETE FROM remotes WHERE name = $1", &[&name]).await?;
        })
    }

    async fn recorded_blob_location(&self) -> Result<Option<BlobLocation>> {
        read_location(&*self.client().await?).await
    }

    async fn record_blob_location(&self, location: &BlobLocation) -> Result<std::result::Result<(), BlobLocation>> {
        let document = serde_json::to_string(location)?;
        transact!(self, |tx| {
            // The row lock orders nodes recording their location at the same time.
            tx.execute("INSERT INTO store_settings (name, value) VALUES ($1, 'null') ON CONFLICT (name) DO NOTHING", &[&BLOB_LOCATION]).await?;
            let recorded: String = tx.query_one("SELECT value FROM store_settings WHERE name = $1 FOR UPDATE", &[&BLOB_LOCATION]).await?.get(0);
            let recorded: BlobLocation = serde_json::from_str::<Option<BlobLocation>>(&recorded)?.unwrap_or_default();
            let has_blobs: bool = tx.query_one("SELECT EXISTS (SELECT 1 FROM blobs)", &[]).await?.get(0);
            if recorded != *location && has_blobs {
                Err(recorded)
            } else {
                tx.execute("UPDATE store_settings SET value = $2 WHERE name = $1", &[&BLOB_LOCATION, &document]).await?;
                Ok(())
            }
        })
    }
}

async fn read_location(c: &impl GenericClient) -> Result<Option<BlobLocation>> {
    let row = c.query_opt("SELECT value FROM store_settings WHERE name = $1", &[&BLOB_LOCATION]).await?;
    Ok(row.map(|r| serde_json::from_str::<Option<BlobLocation>>(r.get(0))).transpose()?.flatten())
}

async fn usage(c: &impl GenericClient) -> Result<StoreUsage> {
    let mut by_id: HashMap<i64, BucketUsage> = HashMap::new();
    for row in c.query("SELECT id, name FROM buckets", &[]).await? {
        by_id.insert(row.get(0), BucketUsage { bucket: row.get(1), ..Default::default() });
    }
    let versions = c
        .query(
            "SELECT bucket_id, COUNT(*) FILTER (WHERE is_latest AND NOT delete_marker), COUNT(*) FILTER (WHERE NOT delete_marker),
                    COUNT(*) FILTER (WHERE delete_marker), COALESCE(SUM(size) FILTER (WHERE NOT delete_marker), 0)::bigint
             FROM objects GROUP BY bucket_id",
            &[],
        )
        .await?;
    for row in versions {
        if let Some(b) = by_id.get_mut(&row.get::<_, i64>(0)) {
            (b.objects, b.versions, b.delete_markers, b.logical_bytes) =
                (row.get::<_, i64>(1) as u64, row.get::<_, i64>(2) as u64, row.get::<_, i64>(3) as u64, row.get::<_, i64>(4) as u64);
        }
    }
    // Each distinct blob of a bucket once, then its inline bodies.
    let stored = [
        "SELECT bucket_id, COALESCE(SUM(len), 0)::bigint FROM (
            SELECT DISTINCT o.bucket_id, s->>'hash' AS hash, (s->>'len')::bigint AS len
            FROM objects o, json_array_elements(o.manifest::json) s WHERE o.manifest IS NOT NULL) d
         GROUP BY bucket_id",
        "SELECT o.bucket_id, COALESCE(SUM(length(i.data)), 0)::bigint FROM inline_bodies i JOIN objects o ON o.seq = i.seq GROUP BY o.bucket_id",
    ];
    for sql in stored {
        for row in c.query(sql, &[]).await? {
            if let Some(b) = by_id.get_mut(&row.get::<_, i64>(0)) {
                b.stored_bytes += row.get::<_, i64>(1) as u64;
            }
        }
    }
    let mut buckets: Vec<BucketUsage> = by_id.into_values().collect();
    buckets.sort_by(|a, b| a.bucket.cmp(&b.bucket));
    let (blobs, blob_bytes) = pair(c, "SELECT count(*), COALESCE(SUM(size), 0)::bigint FROM blobs WHERE refs > 0").await?;
    let (tier_blobs, tier_blob_bytes) = pair(c, "SELECT count(*), COALESCE(SUM(size), 0)::bigint FROM tier_blobs WHERE refs > 0").await?;
    let inline_bytes = count(c, "SELECT COALESCE(SUM(length(data)), 0)::bigint FROM inline_bodies").await?;
    Ok(StoreUsage { buckets, blobs, blob_bytes, inline_bytes, tier_blobs, tier_blob_bytes })
}

async fn backlogs(c: &impl GenericClient) -> Result<Backlogs> {
    let (gc_blobs, gc_bytes) = pair(c, "SELECT count(*), COALESCE(SUM(size), 0)::bigint FROM blobs WHERE refs <= 0").await?;
    let oldest = |table: &'static str| async move {
        let row = c.query_opt(&format!("SELECT created_ms FROM {table} ORDER BY seq LIMIT 1"), &[]).await?;
        Ok::<_, crate::StorageError>(row.map(|r| r.get::<_, i64>(0)))
    };
    Ok(Backlogs {
        gc_blobs,
        gc_bytes,
        tier_gc_blobs: count(c, "SELECT count(*) FROM tier_blobs WHERE refs <= 0").await?,
        replication: count(c, "SELECT count(*) FROM outbox").await?,
        replication_oldest_ms: oldest("outbox").await?,
        notify: count(c, "SELECT count(*) FROM notify_queue").await?,
        notify_oldest_ms: oldest("notify_queue").await?,
        tier_moves: count(c, "SELECT count(*) FROM objects WHERE move_to IS NOT NULL").await?,
        restores: count(c, "SELECT count(*) FROM objects WHERE restore_days IS NOT NULL AND restore_done_ms IS NULL").await?,
        corrupt_blobs: count(c, "SELECT count(*) FROM corrupt_blobs").await?,
    })
}

async fn count(c: &impl GenericClient, sql: &str) -> Result<u64> {
    Ok(c.query_one(sql, &[]).await?.get::<_, i64>(0) as u64)
}

async fn pair(c: &impl GenericClient, sql: &str) -> Result<(u64, u64)> {
    let row = c.query_one(sql, &[]).await?;
    Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
}
