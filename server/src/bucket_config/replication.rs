//! A bucket's replication configuration: the XML document as S3 defines it (kept as put) and
//! S3's validation of it, including where each rule's destination is: a bucket on this server
//! (`arn:aws:s3:::BUCKET`) or a bucket on a registered remote
//! (`arn:coffer:replication::REMOTE:BUCKET`).

use crate::bucket_config::tagging::Tag;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use serde::{Deserialize, Serialize};

/// The bucket configuration document holding the rules (as JSON).
pub const KIND: &str = "replication";
const MAX_RULES: usize = 1000;
const MAX_ID_CHARS: usize = 255;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationConfiguration {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: &'static str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(rename = "Rule", default)]
    pub rules: Vec<Rule>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// The first schema's rule-level prefix (instead of a Filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_selection_criteria: Option<SourceSelectionCriteria>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_object_replication: Option<StatusOnly>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_marker_replication: Option<StatusOnly>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<And>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct And {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(rename = "Tag", default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct StatusOnly {
    pub status: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SourceSelectionCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_kms_encrypted_objects: Option<StatusOnly>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_modifications: Option<StatusOnly>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Destination {
    #[serde(default)]
    pub bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_control_translation: Option<AccessControlTranslation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_configuration: Option<EncryptionConfiguration>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlTranslation {
    pub owner: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionConfiguration {
    #[serde(rename = "ReplicaKmsKeyID", default, skip_serializing_if = "Option::is_none")]
    pub replica_kms_key_id: Option<String>,
}

/// Where a rule replicates to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A bucket on this server.
    Local { bucket: String },
    /// A bucket on a remote registered with `coffer admin remote add`.
    Remote { remote: String, bucket: String },
}

impl Target {
    /// Reads a destination bucket ARN.
    pub fn parse(arn: &str) -> S3Result<Target> {
        let invalid = || S3Error::invalid_argument(format!("Invalid bucket ARN {arn:?}")).with("ArgumentName", "Bucket");
        if let Some(bucket) = arn.strip_prefix("arn:aws:s3:::") {
            return match bucket.is_empty() || bucket.contains('/') {
                true => Err(invalid()),
                false => Ok(Target::Local { bucket: bucket.to_string() }),
            };
        }
        let rest = arn.strip_prefix("arn:coffer:replication::").ok_or_else(invalid)?;
        match rest.split_once(':') {
            Some((remote, bucket)) if !remote.is_empty() && !bucket.is_empty() && !bucket.contains([':', '/']) => {
                Ok(Target::Remote { remote: remote.to_string(), bucket: bucket.to_string() })
            }
            _ => Err(invalid()),
        }
    }
}

impl ReplicationConfiguration {
    /// Whether an enabled rule asks for the objects the bucket already holds.
    pub fn replicates_existing_objects(&self) -> bool {
        self.rules.iter().any(|r| r.status == "Enabled" && r.existing_object_replication.as_ref().is_some_and(|e| e.status == "Enabled"))
    }

    /// The routes the storage layer queues versions by: the enabled rules, the highest
    /// Priority first (the first schema's rules in order, replicating delete markers as it did).
    pub fn routes(&self) -> Vec<coffer_storage::ReplicationRoute> {
        let mut rules: Vec<&Rule> = self.rules.iter().filter(|r| r.status == "Enabled").collect();
        rules.sort_by_key(|r| std::cmp::Reverse(r.priority.unwrap_or(0)));
        rules
            .into_iter()
            .map(|r| {
                let filter = r.filter.as_ref();
                let and = filter.and_then(|f| f.and.as_ref());
                let prefixes = [r.prefix.as_deref(), filter.and_then(|f| f.prefix.as_deref()), and.and_then(|a| a.prefix.as_deref())];
                let tags = filter.and_then(|f| f.tag.as_ref()).into_iter().chain(and.into_iter().flat_map(|a| a.tags.iter()));
                coffer_storage::ReplicationRoute {
                    rule_id: r.id.clone().unwrap_or_default(),
                    prefixes: prefixes.into_iter().flatten().filter(|p| !p.is_empty()).map(str::to_string).collect(),
                    tags: tags.map(|t| (t.key.clone(), t.value.clone())).collect(),
                    delete_markers: match &r.delete_marker_replication {
                        Some(d) => d.status == "Enabled",
                        None => r.filter.is_none(),
                    },
                    target: r.destination.as_ref().map(|d| d.bucket.clone()).unwrap_or_default(),
                    storage_class: r.destination.as_ref().and_then(|d| d.storage_class.clone()),
                    replica_kms_key_id: r
                        .destination
                        .as_ref()
                        .and_then(|d| d.encryption_configuration.as_ref())
                        .and_then(|e| e.replica_kms_key_id.clone()),
                }
            })
            .collect()
    }
}

fn malformed() -> S3Error {
    S3Error::new(ErrorCode::MalformedXML)
}

fn status_ok(status: &str) -> S3Result<()> {
    match status {
        "Enabled" | "Disabled" => Ok(()),
        _ => Err(malformed()),
    }
}

impl ReplicationConfiguration {
    /// Checks the document as S3 does (what does not need other buckets), and gives every rule
    /// without an ID a generated one. Returns each rule's destination.
    pub fn validate(&mut self) -> S3Result<Vec<Target>> {
        if self.role.as_deref().is_none_or(str::is_empty) || self.rules.is_empty() || self.rules.len() > MAX_RULES {
            return Err(malformed());
        }
        let mut ids = std::collections::HashSet::new();
        let mut priorities = std::collections::HashSet::new();
        let mut targets = Vec::with_capacity(self.rules.len());
        let filtered = self.rules.iter().any(|r| r.filter.is_some());
        for rule in &mut self.rules {
            if rule.id.as_deref().is_none_or(str::is_empty) {
                rule.id = Some(format!("{:016x}", rand::random::<u64>()));
            }
            let id = rule.id.clone().unwrap_or_default();
            if id.chars().count() > MAX_ID_CHARS {
                return Err(S3Error::invalid_argument("ID length should not exceed allowed limit of 255"));
            }
            if !ids.insert(id) {
                return Err(S3Error::invalid_argument("Rule Id must be unique"));
            }
            targets.push(rule.validate(filtered)?);
            if let Some(p) = rule.priority.filter(|_| filtered) {
                if !priorities.insert(p) {
                    return Err(S3Error::invalid_request(format!("Found duplicate priority {p}")));
                }
            }
        }
        if !filtered {
            // The first schema: rules by prefix alone, which must not overlap.
            let prefixes: Vec<&str> = self.rules.iter().map(|r| r.prefix.as_deref().unwrap_or("")).collect();
            for (i, a) in prefixes.iter().enumerate() {
                if prefixes[i + 1..].iter().any(|b| a.starts_with(b) || b.starts_with(a)) {
                    return Err(S3Error::invalid_request("Found overlapping prefixes"));
                }
            }
        }
        Ok(targets)
    }
}

impl Rule {
    fn validate(&self, filtered_schema: bool) -> S3Result<Target> {
        status_ok(&self.status)?;
        if self.filter.is_some() && self.prefix.is_some() {
            return Err(malformed());
        }
        for s in [&self.existing_object_replication, &self.delete_marker_replication].into_iter().flatten() {
            status_ok(&s.status)?;
        }
        if let Some(c) = &self.source_selection_criteria {
            for s in [&c.sse_kms_encrypted_objects, &c.replica_modifications].into_iter().flatten() {
                status_ok(&s.status)?;
            }
        }
        if filtered_schema {
            if self.priority.is_none() {
                return Err(S3Error::invalid_request("Priority must be specified for this version of Cross Region Replication configuration schema."));
            }
            if self.delete_marker_replication.is_none() {
                return Err(S3Error::invalid_request(
                    "DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema.",
                ));
            }
        }
        if let Some(f) = &self.filter {
            f.validate()?;
        }
        let has_tags = self.filter.as_ref().is_some_and(|f| f.tag.is_some() || f.and.as_ref().is_some_and(|a| !a.tags.is_empty()));
        if has_tags && self.delete_marker_replication.as_ref().is_some_and(|d| d.status == "Enabled") {
            return Err(S3Error::invalid_request("Delete marker replication is not supported if any Tag filter is specified."));
        }
        let destination = self.destination.as_ref().ok_or_else(malformed)?;
        if let Some(class) = &destination.storage_class {
            if !crate::request::object_headers::STORAGE_CLASSES.contains(&class.as_str()) {
                return Err(S3Error::new(ErrorCode::InvalidStorageClass));
            }
        }
        if destination.access_control_translation.as_ref().is_some_and(|a| a.owner != "Destination") {
            return Err(malformed());
        }
        Target::parse(&destination.bucket)
    }
}

impl Filter {
    fn validate(&self) -> S3Result<()> {
        // One condition here; more than one go in And.
        if [self.prefix.is_some(), self.tag.is_some(), self.and.is_some()].iter().filter(|&&p| p).count() > 1 {
            return Err(malformed());
        }
        let tags: Vec<&Tag> = self.tag.iter().chain(self.and.iter().flat_map(|a| a.tags.iter())).collect();
        let mut keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(S3Error::invalid_request("Duplicate Tag Keys are not allowed."));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::xml;

    fn check(rules: &str) -> Result<Vec<Target>, String> {
        let body = format!("<ReplicationConfiguration><Role>arn:aws:iam::1:role/r</Role>{rules}</ReplicationConfiguration>");
        let mut c: ReplicationConfiguration = xml::parse(body.as_bytes()).map_err(|e| e.code.to_string())?;
        c.validate().map_err(|e| e.code.to_string())
    }

    const DEST: &str = "<Destination><Bucket>arn:aws:s3:::copy</Bucket></Destination>";

    #[test]
    fn destinations_on_this_server_and_on_remotes() {
        assert_eq!(Target::parse("arn:aws:s3:::b").unwrap(), Target::Local { bucket: "b".into() });
        assert_eq!(Target::parse("arn:coffer:replication::offsite:b").unwrap(), Target::Remote { remote: "offsite".into(), bucket: "b".into() });
        for bad in ["b", "arn:aws:s3:::", "arn:coffer:replication::offsite", "arn:coffer:replication:::b", "arn:aws:s3:::b/k"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn s3s_rules_for_the_document() {
        let v2 = |extra: &str| format!("<Rule><ID>a</ID><Priority>1</Priority><Status>Enabled</Status><Filter>{extra}</Filter><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>{DEST}</Rule>");
        assert!(check(&v2("<Prefix>logs/</Prefix>")).is_ok());
        assert!(check(&format!("<Rule><Status>Enabled</Status><Prefix>x</Prefix>{DEST}</Rule>")).is_ok());
        let cases = [
            (format!("<Rule><Status>On</Status><Prefix></Prefix>{DEST}</Rule>"), "MalformedXML"),
            ("<Rule><Status>Enabled</Status><Prefix></Prefix></Rule>".to_string(), "MalformedXML"),
            (format!("<Rule><Status>Enabled</Status><Filter></Filter><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>{DEST}</Rule>"), "InvalidRequest"),
            (format!("<Rule><Priority>1</Priority><Status>Enabled</Status><Filter></Filter>{DEST}</Rule>"), "InvalidRequest"),
            (format!("{}{}", v2(""), v2("").replace("<ID>a</ID>", "<ID>b</ID>")), "InvalidRequest"),
            (format!("{}{}", v2(""), v2("").replace("<Priority>1", "<Priority>2")), "InvalidArgument"),
            (format!("<Rule><Status>Enabled</Status><Prefix>a</Prefix>{DEST}</Rule><Rule><Status>Enabled</Status><Prefix>ab</Prefix>{DEST}</Rule>"), "InvalidRequest"),
            (v2("<Tag><Key>k</Key><Value>v</Value></Tag>").replace("<DeleteMarkerReplication><Status>Disabled", "<DeleteMarkerReplication><Status>Enabled"), "InvalidRequest"),
            (v2("<Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>"), "MalformedXML"),
            (v2("").replace("arn:aws:s3:::copy", "copy"), "InvalidArgument"),
            (v2("").replace("</Bucket>", "</Bucket><StorageClass>PLATINUM</StorageClass>"), "InvalidStorageClass"),
        ];
        for (rules, code) in cases {
            assert_eq!(check(&rules).unwrap_err(), code, "{rules}");
        }
        let no_role = "<ReplicationConfiguration><Rule><Status>Enabled</Status><Prefix></Prefix></Rule></ReplicationConfiguration>";
        let mut c: ReplicationConfiguration = xml::parse(no_role.as_bytes()).unwrap();
        assert_eq!(c.validate().unwrap_err().code, "MalformedXML");
    }
}
