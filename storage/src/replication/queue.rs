//! A bucket's replication routes (written by the server from its replication rules) and which
//! versions they take; the index queues those inside the commit that writes them.

use crate::model::ObjectRecord;
use serde::{Deserialize, Serialize};

/// The bucket configuration document (JSON) holding a bucket's routes.
pub const ROUTES_KIND: &str = "replication-routes";
/// The outbox kind of a version to replicate.
pub(crate) const REPLICATE_KIND: &str = "replicate";

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
    pub(crate) fn takes(&self, rec: &ObjectRecord) -> bool {
        self.prefixes.iter().all(|p| rec.key.starts_with(p.as_str()))
            && match rec.delete_marker {
                true => self.delete_markers && self.tags.is_empty(),
                false => self.tags.iter().all(|(k, v)| rec.meta.tags.iter().any(|(tk, tv)| tk == k && tv == v)),
            }
    }
}
