//! S3's event names (the `Event` values of a notification configuration, without `s3:`) and
//! the patterns configurations name them by: one name, or a family such as `ObjectCreated:*`.

use serde::{Deserialize, Serialize};

/// One kind of event, named as S3 sends it in a record's `eventName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventName {
    #[serde(rename = "ObjectCreated:Put")]
    ObjectCreatedPut,
    #[serde(rename = "ObjectCreated:Post")]
    ObjectCreatedPost,
    #[serde(rename = "ObjectCreated:Copy")]
    ObjectCreatedCopy,
    #[serde(rename = "ObjectCreated:CompleteMultipartUpload")]
    ObjectCreatedCompleteMultipartUpload,
    #[serde(rename = "ObjectRemoved:Delete")]
    ObjectRemovedDelete,
    #[serde(rename = "ObjectRemoved:DeleteMarkerCreated")]
    ObjectRemovedDeleteMarkerCreated,
    #[serde(rename = "ObjectRestore:Post")]
    ObjectRestorePost,
    #[serde(rename = "ObjectRestore:Completed")]
    ObjectRestoreCompleted,
    #[serde(rename = "ObjectRestore:Delete")]
    ObjectRestoreDelete,
    #[serde(rename = "ObjectTagging:Put")]
    ObjectTaggingPut,
    #[serde(rename = "ObjectTagging:Delete")]
    ObjectTaggingDelete,
    #[serde(rename = "ObjectAcl:Put")]
    ObjectAclPut,
    #[serde(rename = "LifecycleExpiration:Delete")]
    LifecycleExpirationDelete,
    #[serde(rename = "LifecycleExpiration:DeleteMarkerCreated")]
    LifecycleExpirationDeleteMarkerCreated,
    #[serde(rename = "LifecycleTransition")]
    LifecycleTransition,
    #[serde(rename = "Replication:OperationFailedReplication")]
    ReplicationOperationFailedReplication,
    // Named by S3 and accepted in configurations; Coffer has nothing that raises them.
    #[serde(rename = "Replication:OperationNotTracked")]
    ReplicationOperationNotTracked,
    #[serde(rename = "Replication:OperationMissedThreshold")]
    ReplicationOperationMissedThreshold,
    #[serde(rename = "Replication:OperationReplicatedAfterThreshold")]
    ReplicationOperationReplicatedAfterThreshold,
    #[serde(rename = "ReducedRedundancyLostObject")]
    ReducedRedundancyLostObject,
    #[serde(rename = "IntelligentTiering")]
    IntelligentTiering,
}

use EventName::*;

/// Every name with its text, in the order S3's model lists them (roughly).
const NAMES: &[(EventName, &str)] = &[
    (ObjectCreatedPut, "ObjectCreated:Put"),
    (ObjectCreatedPost, "ObjectCreated:Post"),
    (ObjectCreatedCopy, "ObjectCreated:Copy"),
    (ObjectCreatedCompleteMultipartUpload, "ObjectCreated:CompleteMultipartUpload"),
    (ObjectRemovedDelete, "ObjectRemoved:Delete"),
    (ObjectRemovedDeleteMarkerCreated, "ObjectRemoved:DeleteMarkerCreated"),
    (ObjectRestorePost, "ObjectRestore:Post"),
    (ObjectRestoreCompleted, "ObjectRestore:Completed"),
    (ObjectRestoreDelete, "ObjectRestore:Delete"),
    (ObjectTaggingPut, "ObjectTagging:Put"),
    (ObjectTaggingDelete, "ObjectTagging:Delete"),
    (ObjectAclPut, "ObjectAcl:Put"),
    (LifecycleExpirationDelete, "LifecycleExpiration:Delete"),
    (LifecycleExpirationDeleteMarkerCreated, "LifecycleExpiration:DeleteMarkerCreated"),
    (LifecycleTransition, "LifecycleTransition"),
    (ReplicationOperationFailedReplication, "Replication:OperationFailedReplication"),
    (ReplicationOperationNotTracked, "Replication:OperationNotTracked"),
    (ReplicationOperationMissedThreshold, "Replication:OperationMissedThreshold"),
    (ReplicationOperationReplicatedAfterThreshold, "Replication:OperationReplicatedAfterThreshold"),
    (ReducedRedundancyLostObject, "ReducedRedundancyLostObject"),
    (IntelligentTiering, "IntelligentTiering"),
];

/// The families a configuration may name with `:*`.
const FAMILIES: &[&str] = &["ObjectCreated", "ObjectRemoved", "ObjectRestore", "ObjectTagging", "LifecycleExpiration", "Replication"];

impl EventName {
    /// The name as S3 sends it in a record (`ObjectCreated:Put`).
    pub fn as_str(self) -> &'static str {
        NAMES.iter().find(|(n, _)| *n == self).map(|(_, s)| *s).unwrap_or("")
    }

    /// Every event name.
    pub fn all() -> impl Iterator<Item = EventName> {
        NAMES.iter().map(|(n, _)| *n)
    }
}

/// An `Event` of a notification configuration: `s3:` and a name, or a family and `:*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventPattern {
    One(EventName),
    Family(&'static str),
}

impl EventPattern {
    /// Reads a configuration's `Event` (`s3:ObjectCreated:*`); None for names S3 does not have.
    pub fn parse(text: &str) -> Option<EventPattern> {
        let name = text.strip_prefix("s3:")?;
        if let Some(family) = name.strip_suffix(":*") {
            return FAMILIES.iter().find(|f| **f == family).map(|f| EventPattern::Family(f));
        }
        NAMES.iter().find(|(_, s)| *s == name).map(|(n, _)| EventPattern::One(*n))
    }

    /// Whether events named `name` are among those this pattern names.
    pub fn covers(self, name: EventName) -> bool {
        match self {
            EventPattern::One(n) => n == name,
            EventPattern::Family(f) => name.as_str().strip_prefix(f).is_some_and(|rest| rest.starts_with(':')),
        }
    }

    /// Whether some event is named by both patterns.
    pub fn overlaps(self, other: EventPattern) -> bool {
        self == other || EventName::all().any(|n| self.covers(n) && other.covers(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns() {
        for n in EventName::all() {
            let text = serde_json::to_string(&n).unwrap();
            assert_eq!(text, format!("\"{}\"", n.as_str()), "serde and as_str agree");
            assert_eq!(EventPattern::parse(&format!("s3:{}", n.as_str())), Some(EventPattern::One(n)));
        }
        let created = EventPattern::parse("s3:ObjectCreated:*").unwrap();
        assert!(created.covers(ObjectCreatedCompleteMultipartUpload));
        assert!(!created.covers(ObjectRemovedDelete));
        let expiry = EventPattern::parse("s3:LifecycleExpiration:*").unwrap();
        assert!(expiry.covers(LifecycleExpirationDeleteMarkerCreated) && !expiry.covers(LifecycleTransition));
        for bad in ["ObjectCreated:Put", "s3:ObjectCreated", "s3:ObjectCreated:Patch", "s3:Lifecycle*", "s3:LifecycleTransition:*", "s3:*"] {
            assert_eq!(EventPattern::parse(bad), None, "{bad}");
        }
        let put = EventPattern::parse("s3:ObjectCreated:Put").unwrap();
        assert!(put.overlaps(created) && created.overlaps(put) && put.overlaps(put));
        assert!(!put.overlaps(EventPattern::parse("s3:ObjectCreated:Copy").unwrap()));
        assert!(!created.overlaps(EventPattern::parse("s3:ObjectRemoved:*").unwrap()));
    }
}
