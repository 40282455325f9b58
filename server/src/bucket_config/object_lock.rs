//! A bucket's Object Lock configuration (Put/GetObjectLockConfiguration) and the per-version
//! documents (Put/GetObjectRetention, Put/GetObjectLegalHold): the XML, S3's validation, and
//! the stored setting. Lock, once enabled on a bucket, is never disabled; the default
//! retention decides the lock of versions written without lock headers of their own.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use coffer_storage::{LockMode, Store};
use serde::{Deserialize, Serialize};

/// The request headers (and POST form fields) of Object Lock.
pub const MODE: &str = "x-amz-object-lock-mode";
pub const RETAIN_UNTIL: &str = "x-amz-object-lock-retain-until-date";
pub const LEGAL_HOLD: &str = "x-amz-object-lock-legal-hold";
pub const BYPASS: &str = "x-amz-bypass-governance-retention";

const DAY_MS: i64 = 86_400_000;

/// A bucket's lock setting, as stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct BucketLock {
    /// The retention new versions get unless they ask for their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetention>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DefaultRetention {
    pub mode: LockMode,
    pub period: Period,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Days(u32),
    Years(u32),
}

impl DefaultRetention {
    /// When a version written at `now_ms` is retained until.
    pub fn until_ms(&self, now_ms: i64) -> i64 {
        match self.period {
            Period::Days(d) => now_ms + d as i64 * DAY_MS,
            // As S3 counts a year for retention: 365 days.
            Period::Years(y) => now_ms + y as i64 * 365 * DAY_MS,
        }
    }
}

/// The bucket's lock setting; None when lock is not enabled on it.
pub async fn bucket_lock(store: &Store, bucket_id: i64) -> S3Result<Option<BucketLock>> {
    crate::bucket_config::load(store, bucket_id, coffer_storage::LOCK_KIND).await
}

/// Enables lock on the bucket (for good: the storage layer refuses it unless versioning is
/// Enabled, and refuses to suspend versioning after) with this setting.
pub async fn set_bucket_lock(store: &Store, bucket_id: i64, lock: &BucketLock) -> S3Result<()> {
    Ok(store.set_bucket_lock(bucket_id, serde_json::to_string(lock).map_err(S3Error::internal)?).await?)
}

/// The error of a lock call on a bucket without lock.
pub fn not_enabled() -> S3Error {
    S3Error::invalid_request("Bucket is missing Object Lock Configuration")
}

fn malformed() -> S3Error {
    S3Error::new(ErrorCode::MalformedXML)
}

pub fn parse_mode(text: &str) -> Option<LockMode> {
    match text {
        "GOVERNANCE" => Some(LockMode::Governance),
        "COMPLIANCE" => Some(LockMode::Compliance),
        _ => None,
    }
}

pub fn mode_name(mode: LockMode) -> &'static str {
    match mode {
        LockMode::Governance => "GOVERNANCE",
        LockMode::Compliance => "COMPLIANCE",
    }
}

// ---------------------------------------------------------------- ObjectLockConfiguration

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Document {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    xmlns: &'static str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    object_lock_enabled: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rule: Option<RuleXml>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
struct RuleXml {
    #[serde(default)]
    default_retention: Option<DefaultRetentionXml>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
struct DefaultRetentionXml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    years: Option<i64>,
}

fn invalid_period() -> S3Error {
    S3Error::custom("InvalidRetentionPeriod", actix_web::http::StatusCode::BAD_REQUEST, "Default retention period must be a positive integer value.")
}

impl BucketLock {
    /// Parses and validates a PutObjectLockConfiguration body.
    pub fn from_xml(body: &[u8]) -> S3Result<BucketLock> {
        let doc: Document = crate::http::xml::parse(body)?;
        if doc.object_lock_enabled.as_deref() != Some("Enabled") {
            return Err(malformed());
        }
        let Some(rule) = doc.rule else { return Ok(BucketLock::default()) };
        let d = rule.default_retention.ok_or_else(malformed)?;
        let mode = d.mode.as_deref().and_then(parse_mode).ok_or_else(malformed)?;
        let period = match (d.days, d.years) {
            (Some(_), Some(_)) | (None, None) => return Err(malformed()),
            (Some(days), None) => Period::Days(positive(days, 36_500)?),
            (None, Some(years)) => Period::Years(positive(years, 100)?),
        };
        Ok(BucketLock { default_retention: Some(DefaultRetention { mode, period }) })
    }

    /// The document GetObjectLockConfiguration answers with.
    pub fn to_document(&self) -> Document {
        let rule = self.default_retention.as_ref().map(|d| RuleXml {
            default_retention: Some(DefaultRetentionXml {
                mode: Some(mode_name(d.mode).to_string()),
                days: match d.period {
                    Period::Days(n) => Some(n as i64),
                    Period::Years(_) => None,
                },
                years: match d.period {
                    Period::Years(n) => Some(n as i64),
                    Period::Days(_) => None,
                },
            }),
        });
        Document { xmlns: crate::http::xml::S3_NAMESPACE, object_lock_enabled: Some("Enabled".into()), rule }
    }
}

fn positive(n: i64, max: i64) -> S3Result<u32> {
    match n {
        n if n <= 0 => Err(invalid_period()),
        n if n > max => Err(S3Error::custom(
            "InvalidRetentionPeriod",
            actix_web::http::StatusCode::BAD_REQUEST,
            "Default retention period is too large.",
        )),
        n => Ok(n as u32),
    }
}

// ---------------------------------------------------------------- Retention and LegalHold

/// `Retention`: PutObjectRetention's body, GetObjectRetention's answer.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RetentionXml {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: &'static str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until_date: Option<String>,
}

/// `LegalHold`: PutObjectLegalHold's body, GetObjectLegalHold's answer.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct LegalHoldXml {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: &'static str,
    #[serde(default)]
    pub status: Option<String>,
}

/// A retention asked for: a mode and a date, both or neither (neither removes it).
pub fn parse_retention(body: &[u8]) -> S3Result<Option<(LockMode, i64)>> {
    let doc: RetentionXml = crate::http::xml::parse(body)?;
    match (doc.mode.as_deref(), doc.retain_until_date.as_deref()) {
        (None, None) => Ok(None),
        (Some(mode), Some(date)) => {
            let mode = parse_mode(mode).ok_or_else(malformed)?;
            Ok(Some((mode, parse_date(date)?)))
        }
        _ => Err(malformed()),
    }
}

/// A legal hold asked for: ON or OFF.
pub fn parse_legal_hold(body: &[u8]) -> S3Result<bool> {
    let doc: LegalHoldXml = crate::http::xml::parse(body)?;
    match doc.status.as_deref() {
        Some("ON") => Ok(true),
        Some("OFF") => Ok(false),
        _ => Err(malformed()),
    }
}

/// An ISO 8601 date-time (RFC 3339, as S3's clients send it) in ms since the epoch.
pub fn parse_date(text: &str) -> S3Result<i64> {
    let t = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Iso8601::DEFAULT)
        .map_err(|_| S3Error::invalid_argument("The retain until date must be in ISO 8601 format").with("ArgumentName", "RetainUntilDate"))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A date as S3 writes RetainUntilDate: ISO 8601 in UTC with milliseconds.
pub fn format_date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(inner: &str) -> Vec<u8> {
        format!("<ObjectLockConfiguration>{inner}</ObjectLockConfiguration>").into_bytes()
    }

    #[test]
    fn configurations_as_s3_checks_them() {
        let ok = BucketLock::from_xml(&doc("<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention></Rule>")).unwrap();
        assert_eq!(ok.default_retention, Some(DefaultRetention { mode: LockMode::Governance, period: Period::Days(1) }));
        assert_eq!(BucketLock::from_xml(&doc("<ObjectLockEnabled>Enabled</ObjectLockEnabled>")).unwrap(), BucketLock::default());
        let code = |inner: &str| BucketLock::from_xml(&doc(inner)).unwrap_err().code.to_string();
        assert_eq!(code("<ObjectLockEnabled>Disabled</ObjectLockEnabled>"), "MalformedXML");
        assert_eq!(code("<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>governance</Mode><Days>1</Days></DefaultRetention></Rule>"), "MalformedXML");
        assert_eq!(code("<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>1</Days><Years>1</Years></DefaultRetention></Rule>"), "MalformedXML");
        assert_eq!(code("<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>0</Days></DefaultRetention></Rule>"), "InvalidRetentionPeriod");
        assert_eq!(code("<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>-1</Years></DefaultRetention></Rule>"), "InvalidRetentionPeriod");
    }

    #[test]
    fn dates_round_trip_in_iso_8601() {
        let ms = parse_date("2030-01-02T03:04:05.678Z").unwrap();
        assert_eq!(format_date(ms), "2030-01-02T03:04:05.678Z");
        assert_eq!(parse_date("2030-01-02T03:04:05Z").unwrap() % 1000, 0);
        assert!(parse_date("tomorrow").is_err());
    }
}
