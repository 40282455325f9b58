//! Event notifications, storage side. Every change that S3 would announce is written to a
//! queue in the same transaction as the change itself (so no crash loses an event), one row
//! per (event, target), for each route of the bucket that takes it; the server's notify worker
//! drains each target's rows in commit order and renders them as S3's event records.
//!
//! Callers say what made a change (`Origin`: the S3 event and who asked); the storage layer
//! never guesses it. Routes, like replication's, are a bucket configuration document the
//! server writes from the bucket's notification configuration.

mod names;
mod queue;
mod targets;

pub use names::{EventName, EventPattern};
pub use queue::QueuedEvent;
pub(crate) use queue::note_dropped;
pub(crate) use targets::buckets_naming;
pub use targets::{NotifyTarget, TargetKind, TargetStatus, DEFAULT_MAX_BACKLOG};

use crate::error::Result;
use crate::model::{ObjectRecord, NULL_VERSION};
use crate::now_ms;
use serde::{Deserialize, Serialize};

pub use crate::model::{Requester, COFFER_PRINCIPAL};

/// The bucket configuration document (JSON) holding a bucket's notification routes.
pub const NOTIFY_ROUTES_KIND: &str = "notification-routes";

/// What made a change: the event it is, and who asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub event: EventName,
    pub requester: Requester,
}

impl Origin {
    pub fn new(event: EventName, requester: Requester) -> Origin {
        Origin { event, requester }
    }
}

/// Who removes a version or places a delete marker: a request, or lifecycle expiration. The
/// event follows from it and from what the delete did.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Remover<'a> {
    /// A request, with what it may override.
    Request(&'a Requester, crate::model::DeleteOptions),
    Lifecycle,
}

impl Remover<'_> {
    /// Whether GOVERNANCE retention yields (never for lifecycle).
    pub fn bypass_governance(self) -> bool {
        matches!(self, Remover::Request(_, o) if o.bypass_governance)
    }

    pub fn event(self, delete_marker_created: bool) -> EventName {
        match (self, delete_marker_created) {
            (Remover::Request(..), false) => EventName::ObjectRemovedDelete,
            (Remover::Request(..), true) => EventName::ObjectRemovedDeleteMarkerCreated,
            (Remover::Lifecycle, false) => EventName::LifecycleExpirationDelete,
            (Remover::Lifecycle, true) => EventName::LifecycleExpirationDeleteMarkerCreated,
        }
    }

    pub fn requester(self) -> Requester {
        match self {
            Remover::Request(r, _) => r.clone(),
            Remover::Lifecycle => Requester::coffer(),
        }
    }
}

/// Where a bucket's events of some kinds and keys go: one configuration (Queue or Topic) of
/// its notification configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyRoute {
    /// The configuration's Id (the record's `s3.configurationId`).
    pub config_id: String,
    /// The name of a registered target.
    pub target: String,
    /// The configuration's events, as written there (`s3:ObjectCreated:*`).
    pub events: Vec<String>,
    /// The key must start with this...
    #[serde(default)]
    pub prefix: String,
    /// ...and end with this.
    #[serde(default)]
    pub suffix: String,
}

impl NotifyRoute {
    pub fn takes(&self, event: EventName, key: &str) -> bool {
        key.starts_with(&self.prefix)
            && key.ends_with(&self.suffix)
            && self.events.iter().filter_map(|e| EventPattern::parse(e)).any(|p| p.covers(event))
    }
}

/// One event as recorded at commit: everything its record says except the sequencer, which is
/// its row's number in the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFacts {
    /// Unique per event (the same on every delivery of it): for consumers to drop duplicates.
    pub id: String,
    pub name: EventName,
    pub time_ms: i64,
    pub bucket: String,
    pub bucket_owner: String,
    pub region: String,
    pub key: String,
    /// Size and ETag, for events of a version with content (not of removals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// None in a bucket that never had versioning (the `null` version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    pub requester: Requester,
    pub config_id: String,
}

/// What changed, for `crate::sqlite::events::record`.
pub(crate) struct Change<'a> {
    pub event: EventName,
    pub bucket_id: i64,
    pub key: &'a str,
    pub version_id: Option<&'a str>,
    /// (size, ETag) of the version the event is about, when it has content.
    pub object: Option<(u64, &'a str)>,
    pub requester: &'a Requester,
}

impl<'a> Change<'a> {
    /// An event about version `rec` (a delete marker has no size or ETag).
    pub fn of_version(event: EventName, rec: &'a ObjectRecord, requester: &'a Requester) -> Change<'a> {
        Change {
            event,
            bucket_id: rec.bucket_id,
            key: &rec.key,
            version_id: Some(rec.version_id.as_str()).filter(|v| *v != NULL_VERSION),
            object: (!rec.delete_marker).then_some((rec.size, rec.etag.as_str())),
            requester,
        }
    }
}

/// The routes of a bucket's routes document `doc` that take `change`: where it is queued, one
/// row each, in the transaction of the change (`crate::sqlite::events::record`).
pub(crate) fn routes_taking(doc: &str, change: &Change) -> Result<Vec<NotifyRoute>> {
    let routes: Vec<NotifyRoute> = serde_json::from_str(doc)?;
    Ok(routes.into_iter().filter(|r| r.takes(change.event, change.key)).collect())
}

impl EventFacts {
    /// The facts of `change` in bucket `bucket` (its name, owner and region), with a new id,
    /// stamped now; `config_id` is the route's, set per route.
    pub(crate) fn of_change(change: &Change, bucket: String, bucket_owner: String, region: String) -> EventFacts {
        EventFacts {
            id: format!("{:032x}", rand::random::<u128>()),
            name: change.event,
            time_ms: now_ms(),
            bucket,
            bucket_owner,
            region,
            key: change.key.to_string(),
            size: change.object.map(|(size, _)| size),
            etag: change.object.map(|(_, etag)| etag.to_string()),
            version_id: change.version_id.map(str::to_string),
            requester: change.requester.clone(),
            config_id: String::new(),
        }
    }
}

#[cfg(test)]
mod tests;
