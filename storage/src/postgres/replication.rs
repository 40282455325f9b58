//! PostgreSQL's replication outbox, as far as version commits need it: queuing a new version
//! for the routes of its bucket, inside the commit's transaction. (ReplicationIndex is not on
//! PostgreSQL yet.)

use crate::error::Result;
use crate::model::ObjectRecord;
use crate::replication::REPLICATE_KIND;
use crate::replication::ReplicationRoute;
use crate::{now_ms, ROUTES_KIND};
use tokio_postgres::GenericClient;

/// Queues `rec` (just written, not a replica) if a route of its bucket takes it, and marks it
/// PENDING, inside the transaction that wrote it. Returns its replication status.
pub(crate) async fn enqueue_new(c: &impl GenericClient, rec: &ObjectRecord) -> Result<Option<String>> {
    let doc = c.query_opt("SELECT document FROM bucket_configs WHERE bucket_id = $1 AND kind = $2", &[&rec.bucket_id, &ROUTES_KIND]).await?;
    let routes: Vec<ReplicationRoute> = match doc {
        Some(row) => serde_json::from_str(row.get(0))?,
        None => return Ok(None),
    };
    let Some(route) = routes.into_iter().find(|r| r.takes(rec)) else { return Ok(None) };
    let key = rec.key.as_bytes();
    c.execute(
        "INSERT INTO outbox (kind, bucket_id, key, version_id, target, created_ms, due_ms) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        &[&REPLICATE_KIND, &rec.bucket_id, &key, &rec.version_id, &route.target, &now_ms()],
    )
    .await?;
    c.execute("UPDATE objects SET replication = 'PENDING' WHERE bucket_id = $1 AND key = $2 AND version_id = $3", &[&rec.bucket_id, &key, &rec.version_id])
        .await?;
    Ok(Some("PENDING".into()))
}
