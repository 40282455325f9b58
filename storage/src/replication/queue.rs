//! Queuing versions for replication, inside the commit that writes them: a bucket's routes
//! (written by the server from its replication rules), the outbox row and the PENDING status.

use crate::error::Result;
use crate::model::ObjectRecord;
use crate::now_ms;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// The bucket configuration document (JSON) holding a bucket's routes.
pub const ROUTES_KIND: &str = "replication-routes";

/// Where versions of some keys replicate to: the first route (in order) that takes a version
/// is the one used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationRoute {
    pub rule_id: String,
    /// Every one must prefix the key.
    pub prefixes: Vec<String>,
    /// Every one must be among the version's tags.
    pub tags: Vec<(String, String)>,
    pub delete_markers: bool,
    /// The destination, as the rule names it (a bucket ARN).
    pub target: String,
    /// The storage class replicas get (else the source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// The KMS key SSE-KMS replicas are encrypted under at the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_kms_key_id: Option<String>,
}

impl ReplicationRoute {
    pub(super) fn takes(&self, rec: &ObjectRecord) -> bool {
        self.prefixes.iter().all(|p| rec.key.starts_with(p.as_str()))
            && match rec.delete_marker {
                true => self.delete_markers && self.tags.is_empty(),
                false => self.tags.iter().all(|(k, v)| rec.meta.tags.iter().any(|(tk, tv)| tk == k && tv == v)),
            }
    }
}

/// Queues `rec` (just written, not a replica) if a route of its bucket takes it, and marks it
/// PENDING. Returns its replication status.
pub(crate) fn enqueue_new(c: &Connection, rec: &ObjectRecord) -> Result<Option<String>> {
    let Some(route) = routes_of(c, rec.bucket_id)?.into_iter().find(|r| r.takes(rec)) else { return Ok(None) };
    queue(c, rec, &route.target, REPLICATE_KIND)?;
    Ok(Some("PENDING".into()))
}

pub(super) const REPLICATE_KIND: &str = "replicate";
pub(super) const RESYNC_KIND: &str = "resync";

/// A bucket's routes, read in the caller's transaction.
pub(super) fn routes_of(c: &Connection, bucket_id: i64) -> Result<Vec<ReplicationRoute>> {
    let doc: Option<String> = c
        .prepare_cached("SELECT document FROM bucket_configs WHERE bucket_id = ?1 AND kind = ?2")?
        .query_row(params![bucket_id, ROUTES_KIND], |r| r.get(0))
        .optional()?;
    Ok(match doc {
        Some(doc) => serde_json::from_str(&doc)?,
        None => Vec::new(),
    })
}

/// An outbox row for `rec` and the status PENDING.
pub(super) fn queue(c: &Connection, rec: &ObjectRecord, target: &str, kind: &str) -> Result<()> {
    c.prepare_cached("INSERT INTO outbox (kind, bucket_id, key, version_id, target, created_ms, due_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)")?
        .execute(params![kind, rec.bucket_id, rec.key.as_bytes(), rec.version_id, target, now_ms()])?;
    set_status(c, rec.bucket_id, &rec.key, &rec.version_id, "PENDING")
}

pub(super) fn set_status(c: &Connection, bucket_id: i64, key: &str, version_id: &str, status: &str) -> Result<()> {
    c.prepare_cached("UPDATE objects SET replication = ?4 WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3")?
        .execute(params![bucket_id, key.as_bytes(), version_id, status])?;
    Ok(())
}
