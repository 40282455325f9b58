//! Resync: replicating what a bucket already holds (a rule's ExistingObjectReplication, or
//! `coffer admin replication resync`). A cursor per bucket says where the walk stopped; each
//! step walks a page of versions in key order and queues those a route takes (with
//! `failed_only`, only FAILED ones) as resync rows, whose delivery first asks the target
//! whether it holds the version already. A page's rows and the cursor's advance commit in one
//! transaction, so a restart resumes where the walk stopped.

use crate::error::Result;
use crate::model::ObjectRecord;
use crate::Store;
use serde::{Deserialize, Serialize};

/// The worker cursors of running resyncs are named this and the bucket's id.
pub(crate) const RESYNC_CURSOR_PREFIX: &str = "replication-resync:";

fn cursor_name(bucket_id: i64) -> String {
    format!("{RESYNC_CURSOR_PREFIX}{bucket_id}")
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
        self.index().resync_step(limit).await
    }
}

/// Whether a resync (of FAILED versions only, with `failed_only`) queues version `rec`
/// again, given its replication status; a route must take it too.
pub(crate) fn resync_wants(rec: &ObjectRecord, failed_only: bool) -> bool {
    match rec.replication.as_deref() {
        Some("REPLICA") => false,
        Some("FAILED") => true,
        // Already queued: its row will deliver it.
        Some("PENDING") => false,
        _ => !failed_only,
    }
}

/// The bucket whose resync the worker cursor `name` is, if it is one.
pub(crate) fn resync_bucket(name: &str) -> Option<i64> {
    name.strip_prefix(RESYNC_CURSOR_PREFIX)?.parse().ok()
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
        let reopened = t.reopen();
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
