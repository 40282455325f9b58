//! A bucket's lifecycle configuration: the XML document as S3 defines it (kept exactly as put,
//! rule order and a rule-level Prefix included) and S3's validation of it.

mod cache;
mod rules;

pub use cache::{save, Cache, Entry};
pub use rules::{Clock, Decision, Lifecycle, Scan, DAY_MS};

use crate::bucket_config::tagging::Tag;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use serde::{Deserialize, Serialize};

/// The bucket configuration document holding the rules (as JSON).
pub const KIND: &str = "lifecycle";
const MAX_RULES: usize = 1000;
const MAX_ID_CHARS: usize = 255;
/// Storage classes a transition may name (S3's TransitionStorageClass).
const TRANSITION_CLASSES: &[&str] = &["GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE", "GLACIER_IR"];

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct LifecycleConfiguration {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: &'static str,
    #[serde(rename = "Rule", default)]
    pub rules: Vec<Rule>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// The legacy rule-level prefix (instead of a Filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    pub status: String,
    #[serde(rename = "Transition", default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    #[serde(rename = "NoncurrentVersionTransition", default, skip_serializing_if = "Vec::is_empty")]
    pub noncurrent_transitions: Vec<NoncurrentTransition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_version_expiration: Option<NoncurrentExpiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_multipart_upload: Option<AbortUpload>,
}

/// Which objects a rule applies to: one of its parts, or none (several conditions go in `And`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_greater_than: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_less_than: Option<i64>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_greater_than: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_less_than: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Expiration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_object_delete_marker: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Transition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NoncurrentTransition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NoncurrentExpiration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AbortUpload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_after_initiation: Option<i64>,
}

fn malformed() -> S3Error {
    S3Error::new(ErrorCode::MalformedXML)
}

/// A lifecycle Date: ISO 8601 at midnight UTC (`2030-01-01T00:00:00Z`, or a bare date).
/// Returns its milliseconds since the epoch.
pub fn parse_date(text: &str) -> S3Result<i64> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    let at = match time::OffsetDateTime::parse(text, &Rfc3339) {
        Ok(t) => t,
        Err(_) => {
            let day = time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]")).map_err(|_| {
                S3Error::invalid_argument("'Date' must be in ISO 8601 format").with("ArgumentName", "Date")
            })?;
            day.midnight().assume_utc()
        }
    };
    let ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    if ms.rem_euclid(DAY_MS) != 0 {
        return Err(S3Error::invalid_argument("'Date' must be at midnight GMT").with("ArgumentName", "Date"));
    }
    Ok(ms)
}

fn positive(value: Option<i64>, what: &str) -> S3Result<()> {
    match value {
        Some(v) if v <= 0 => Err(S3Error::invalid_argument(format!("'{what}' must be a positive integer"))),
        _ => Ok(()),
    }
}

impl LifecycleConfiguration {
    /// Checks the rules as S3 does and gives every rule without an ID a generated one.
    pub fn validate(&mut self) -> S3Result<()> {
        if self.rules.is_empty() || self.rules.len() > MAX_RULES {
            return Err(malformed());
        }
        let mut ids = std::collections::HashSet::new();
        for rule in &mut self.rules {
            if rule.id.as_deref().is_none_or(str::is_empty) {
                rule.id = Some(generated_id());
            }
            let id = rule.id.as_deref().unwrap_or_default();
            if id.chars().count() > MAX_ID_CHARS {
                return Err(S3Error::invalid_argument("ID length should not exceed allowed limit of 255"));
            }
            if !ids.insert(id.to_string()) {
                return Err(S3Error::invalid_argument("Rule ID must be unique. Found same ID for more than one rule"));
            }
            rule.validate()?;
        }
        Ok(())
    }
}

fn generated_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Rule {
    fn validate(&self) -> S3Result<()> {
        if self.status != "Enabled" && self.status != "Disabled" {
            return Err(malformed());
        }
        if self.filter.is_some() && self.prefix.is_some() {
            return Err(malformed());
        }
        let has_tags = self.filter.as_ref().is_some_and(Filter::has_tags);
        if let Some(f) = &self.filter {
            f.validate()?;
        }
        let no_action = self.expiration.is_none()
            && self.noncurrent_version_expiration.is_none()
            && self.transitions.is_empty()
            && self.noncurrent_transitions.is_empty()
            && self.abort_incomplete_multipart_upload.is_none();
        if no_action {
            return Err(S3Error::invalid_request("At least one action needs to be specified in a rule"));
        }
        if let Some(e) = &self.expiration {
            e.validate(has_tags)?;
        }
        if let Some(n) = &self.noncurrent_version_expiration {
            if n.noncurrent_days.is_none() {
                return Err(malformed());
            }
            positive(n.noncurrent_days, "NoncurrentDays")?;
            positive(n.newer_noncurrent_versions, "NewerNoncurrentVersions")?;
        }
        self.validate_transitions()?;
        if let Some(a) = &self.abort_incomplete_multipart_upload {
            if has_tags {
                return Err(S3Error::invalid_request("AbortIncompleteMultipartUpload cannot be specified with Tags."));
            }
            if a.days_after_initiation.is_none() {
                return Err(malformed());
            }
            positive(a.days_after_initiation, "DaysAfterInitiation")?;
        }
        Ok(())
    }

    fn validate_transitions(&self) -> S3Result<()> {
        let class = |c: &Option<String>| match c.as_deref() {
            None => Err(malformed()),
            Some(c) if TRANSITION_CLASSES.contains(&c) => Ok(c.to_string()),
            Some(_) => Err(S3Error::new(ErrorCode::InvalidStorageClass)),
        };
        let mut classes = Vec::new();
        for t in &self.transitions {
            match (t.days, &t.date) {
                (Some(d), None) if d < 0 => return Err(S3Error::invalid_argument("'Days' in Transition action must be nonnegative")),
                (Some(_), None) => {}
                (None, Some(date)) => {
                    parse_date(date)?;
                }
                _ => return Err(malformed()),
            }
            classes.push(class(&t.storage_class)?);
        }
        if self.transitions.iter().any(|t| t.days.is_some()) && self.transitions.iter().any(|t| t.date.is_some()) {
            return Err(S3Error::invalid_request("Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule"));
        }
        if let (Some(exp_days), Some(max)) =
            (self.expiration.as_ref().and_then(|e| e.days), self.transitions.iter().filter_map(|t| t.days).max())
        {
            if exp_days <= max {
                return Err(S3Error::invalid_argument(
                    "'Days' in the Expiration action must be greater than 'Days' in the Transition action",
                ));
            }
        }
        let mut noncurrent_classes = Vec::new();
        for t in &self.noncurrent_transitions {
            match t.noncurrent_days {
                None => return Err(malformed()),
                Some(d) if d < 0 => return Err(S3Error::invalid_argument("'NoncurrentDays' in NoncurrentVersionTransition action must be nonnegative")),
                Some(_) => {}
            }
            positive(t.newer_noncurrent_versions, "NewerNoncurrentVersions")?;
            noncurrent_classes.push(class(&t.storage_class)?);
        }
        for list in [&mut classes, &mut noncurrent_classes] {
            let n = list.len();
            list.sort();
            list.dedup();
            if list.len() != n {
                return Err(S3Error::invalid_request("'StorageClass' must be different for Transition actions in the same rule"));
            }
        }
        Ok(())
    }
}

impl Filter {
    fn has_tags(&self) -> bool {
        self.tag.is_some() || self.and.as_ref().is_some_and(|a| !a.tags.is_empty())
    }

    fn validate(&self) -> S3Result<()> {
        // S3 takes one condition here; more than one must be combined with And.
        let parts = [self.prefix.is_some(), self.tag.is_some(), self.object_size_greater_than.is_some(), self.object_size_less_than.is_some(), self.and.is_some()];
        if parts.iter().filter(|&&p| p).count() > 1 {
            return Err(malformed());
        }
        let and = self.and.as_ref();
        let tags: Vec<&Tag> = self.tag.iter().chain(and.into_iter().flat_map(|a| a.tags.iter())).collect();
        let mut keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
        if keys.iter().any(|k| k.is_empty() || k.chars().count() > 128) || tags.iter().any(|t| t.value.chars().count() > 256) {
            return Err(S3Error::invalid_argument("The TagKey or TagValue you have provided is invalid"));
        }
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(S3Error::invalid_argument("Duplicate Tag Keys are not allowed."));
        }
        let greater = [self.object_size_greater_than, and.and_then(|a| a.object_size_greater_than)];
        let less = [self.object_size_less_than, and.and_then(|a| a.object_size_less_than)];
        if greater.iter().chain(less.iter()).flatten().any(|&v| v < 0) {
            return Err(S3Error::invalid_argument("Object size filters must be nonnegative"));
        }
        if let (Some(g), Some(l)) = (greater.iter().flatten().max(), less.iter().flatten().min()) {
            if g >= l {
                return Err(S3Error::invalid_argument("ObjectSizeGreaterThan must be less than ObjectSizeLessThan"));
            }
        }
        Ok(())
    }
}

impl Expiration {
    fn validate(&self, has_tags: bool) -> S3Result<()> {
        match (self.days, &self.date, self.expired_object_delete_marker) {
            (Some(d), None, None) if d <= 0 => {
                Err(S3Error::invalid_argument("'Days' for Expiration action must be a positive integer"))
            }
            (Some(_), None, None) => Ok(()),
            (None, Some(date), None) => parse_date(date).map(|_| ()),
            (None, None, Some(_)) if has_tags => {
                Err(S3Error::invalid_request("ExpiredObjectDeleteMarker cannot be specified with a tag-based filter"))
            }
            (None, None, Some(_)) => Ok(()),
            _ => Err(malformed()),
        }
    }
}

#[cfg(test)]
mod tests;
