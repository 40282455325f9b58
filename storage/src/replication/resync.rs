//! Resync: replicating what a bucket already holds (a rule's ExistingObjectReplication, or
//! `coffer admin replication resync`). A cursor per bucket says where the walk stopped; each
//! step walks a page of versions in key order and queues those a route takes (with
//! `failed_only`, only FAILED ones) as resync rows, whose delivery first asks the target
//! whether it holds the version already. A page's rows and the cursor's advance commit in one
//! transaction, so a restart resumes where the walk stopped.

use super::queue::{queue, routes_of, RESYNC_KIND};
use crate::sqlite::service::{read_cursor, write_cursor};
use crate::error::Result;
use crate::sqlite::rows::{object_from_row, OBJECT_COLUMNS};
use crate::Store;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

const CURSOR_PREFIX: &str = "replication-resync:";

fn cursor_name(bucket_id: i64) -> String {
    format!("{CURSOR_PREFIX}{bucket_id}")
}

/// Where a bucket's resync stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncCursor {
    /// Only versions whose replication FAILED.
    pub failed_only: bool,
    /// The last version walked (key, version id); None before the first.
    pub after: Option<(String, String)>,
}

/// What one step of a resync did.
#[derive(Debug, PartialEq, Eq)]
pub struct ResyncStep {
    pub bucket_id: i64,
    pub walked: usize,
    pub queued: usize,
    pub finished: bool,
}

impl Store {
    /// Starts (or restarts from the beginning) a resync of the bucket.
    pub async fn start_resync(&self, bucket_id: i64, failed_only: bool) -> Result<()> {
        let cursor = serde_json::to_string(&ResyncCursor { failed_only, after: None })?;
        self.set_worker_cursor(&cursor_name(bucket_id), Some(cursor)).await
    }

    /// Where the bucket's resync stands, if one runs.
    pub async fn resync_position(&self, bucket_id: i64) -> Result<Option<ResyncCursor>> {
        match self.worker_cursor(&cursor_name(bucket_id)).await? {
            Some(text) => Ok(Some(serde_json::from_str(&text)?)),
            None => Ok(None),
        }
    }

    /// Walks up to `limit` versions of one running resync (the longest idle first).
    pub async fn resync_step(&self, limit: usize) -> Result<Option<ResyncStep>> {
        self.writer().write(move |c| step(c, limit)).await
    }
}

fn step(c: &Connection, limit: usize) -> Result<Option<ResyncStep>> {
    let running: Option<String> = c
        .prepare_cached("SELECT worker FROM worker_cursors WHERE substr(worker, 1, length(?1)) = ?1 ORDER BY updated_ms LIMIT 1")?
        .query_row([CURSOR_PREFIX], |r| r.get(0))
        .optional()?;
    let Some(name) = running else { return Ok(None) };
    let Some(bucket_id) = name[CURSOR_PREFIX.len()..].parse::<i64>().ok() else {
        write_cursor(c, &name, None)?;
        return Ok(None);
    };
    let mut cursor: ResyncCursor = match read_cursor(c, &name)?.map(|t| serde_json::from_str(&t)) {
        Some(Ok(cursor)) => cursor,
        _ => ResyncCursor::default(),
    };
    let routes = routes_of(c, bucket_id)?;
    let (key, version) = cursor.after.clone().unwrap_or_default();
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket_id = ?1 AND (key, version_id) > (?2, ?3) ORDER BY key, version_id LIMIT ?4"
    ))?;
    let page = stmt.query_map(params![bucket_id, key.as_bytes(), version, limit as i64], object_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut queued = 0;
    for rec in &page {
        let wanted = match rec.replication.as_deref() {
            Some("REPLICA") => false,
            Some("FAILED") => true,
            // Already queued: its row will deliver it.
            Some("PENDING") => false,
            _ => !cursor.failed_only,
        };
        if let (true, Some(route)) = (wanted, routes.iter().find(|r| r.takes(rec))) {
            queue(c, rec, &route.target, RESYNC_KIND)?;
            queued += 1;
        }
    }
    let finished = page.len() < limit || routes.is_empty();
    match (finished, page.last()) {
        (false, Some(last)) => {
            cursor.after = Some((last.key.clone(), last.version_id.clone()));
            write_cursor(c, &name, Some(&serde_json::to_string(&cursor)?))?;
        }
        _ => write_cursor(c, &name, None)?,
    }
    Ok(Some(ResyncStep { bucket_id, walked: page.len(), queued, finished }))
}

#[cfg(test)]
mod tests {
    use crate::replication::{ReplicationRoute, ROUTES_KIND};
    use crate::testutil::*;
    use crate::{now_ms, Versioning};

    #[tokio::test]
    async fn a_resync_walks_the_bucket_in_pages_and_queues_what_the_routes_take() {
        let t = store().await;
        let src = t.store.create_bucket(&t.owner, "src", "us-east-1").await.unwrap();
        t.store.set_versioning(src.id, Versioning::Enabled).await.unwrap();
        for i in 0..7 {
            put(&t, &src, &format!("k{i}"), b"x").await.unwrap();
        }
        put(&t, &src, "other/skip", b"x").await.unwrap();
        let route = ReplicationRoute {
            rule_id: "r".into(),
            prefixes: vec!["k".into()],
            tags: vec![],
            delete_markers: false,
            target: "arn:aws:s3:::dst".into(),
            storage_class: None,
            replica_kms_key_id: None,
        };
        t.store.set_bucket_config(src.id, ROUTES_KIND, Some(serde_json::to_string(&vec![route]).unwrap())).await.unwrap();
        assert!(t.store.due_replications(now_ms(), 100).await.unwrap().is_empty(), "versions from before the rule are not queued");

        t.store.start_resync(src.id, false).await.unwrap();
        let first = t.store.resync_step(3).await.unwrap().unwrap();
        assert_eq!((first.walked, first.queued, first.finished), (3, 3, false));
        assert_eq!(t.store.resync_position(src.id).await.unwrap().unwrap().after.unwrap().0, "k2");
        // A reopened store (a restart) resumes where the walk stopped.
        let reopened = crate::Store::open(t.store.root()).unwrap();
        let steps = [reopened.resync_step(3).await.unwrap().unwrap(), reopened.resync_step(3).await.unwrap().unwrap()];
        assert_eq!(steps.iter().map(|s| s.queued).sum::<usize>(), 4, "k3..k6; other/skip is no route's");
        assert!(steps[1].finished && reopened.resync_step(3).await.unwrap().is_none());
        let due = reopened.due_replications(now_ms(), 100).await.unwrap();
        assert_eq!(due.len(), 7);
        assert!(due.iter().all(|d| d.check_first));

        // --failed: only versions that failed are queued again; queued ones are left alone.
        reopened.fail_replication(&due[0], "refused".into()).await.unwrap();
        reopened.start_resync(src.id, true).await.unwrap();
        let step = reopened.resync_step(100).await.unwrap().unwrap();
        assert_eq!((step.queued, step.finished), (1, true));
    }
}
