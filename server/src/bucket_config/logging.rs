//! A bucket's server access logging (Put/GetBucketLogging): the BucketLoggingStatus XML, and
//! where its records go, spelled as one string the access log queue groups records by.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use actix_web::http::StatusCode;
use serde::{Deserialize, Serialize};

/// The bucket configuration document holding the logging status (as JSON).
pub const LOGGING: &str = "logging";

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct BucketLoggingStatus {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: &'static str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_enabled: Option<LoggingEnabled>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingEnabled {
    pub target_bucket: String,
    #[serde(default)]
    pub target_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_object_key_format: Option<TargetObjectKeyFormat>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TargetObjectKeyFormat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simple_prefix: Option<SimplePrefix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitioned_prefix: Option<PartitionedPrefix>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SimplePrefix {}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionedPrefix {
    #[serde(default)]
    pub partition_date_source: Option<String>,
}

/// Which time a partitioned log object's date path comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateSource {
    /// When the oldest request in the object happened.
    EventTime,
    /// When the object was delivered.
    DeliveryTime,
}

/// Where a source bucket's records go, and how log objects there are named. Serialized, it
/// is the access log queue's destination: records with equal destinations share log objects.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub target_bucket: String,
    pub target_prefix: String,
    /// Partitioned keys (`prefix/owner/region/bucket/YYYY/MM/DD/...`) with their date source;
    /// None for simple keys (`prefix` + date and time).
    pub partitioned: Option<DateSource>,
    pub source_bucket: String,
    pub source_owner: String,
    pub region: String,
}

impl Destination {
    /// The queue's spelling of it.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a destination serializes")
    }

    pub fn decode(s: &str) -> Option<Destination> {
        serde_json::from_str(s).ok()
    }
}

impl LoggingEnabled {
    /// Checks the document's shape (the target bucket is checked by the handler).
    pub fn validate(&self) -> S3Result<()> {
        if self.target_bucket.is_empty() {
            return Err(S3Error::new(ErrorCode::MalformedXML));
        }
        if let Some(format) = &self.target_object_key_format {
            if format.simple_prefix.is_some() == format.partitioned_prefix.is_some() {
                return Err(S3Error::new(ErrorCode::MalformedXML).with_message("TargetObjectKeyFormat takes exactly one of SimplePrefix and PartitionedPrefix"));
            }
            self.date_source()?;
        }
        Ok(())
    }

    /// The date source of partitioned keys (None: simple keys).
    pub fn date_source(&self) -> S3Result<Option<DateSource>> {
        let Some(partitioned) = self.target_object_key_format.as_ref().and_then(|f| f.partitioned_prefix.as_ref()) else { return Ok(None) };
        match partitioned.partition_date_source.as_deref() {
            None | Some("EventTime") => Ok(Some(DateSource::EventTime)),
            Some("DeliveryTime") => Ok(Some(DateSource::DeliveryTime)),
            Some(other) => Err(S3Error::invalid_argument(&format!("PartitionDateSource {other:?} is not EventTime or DeliveryTime"))),
        }
    }
}

/// The error for a target bucket logs cannot go to.
pub fn invalid_target(message: &str) -> S3Error {
    S3Error::custom("InvalidTargetBucketForLogging", StatusCode::BAD_REQUEST, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> BucketLoggingStatus {
        crate::http::xml::parse(xml.as_bytes()).unwrap()
    }

    #[test]
    fn documents_parse_and_key_formats_are_checked() {
        let off = parse(r#"<BucketLoggingStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#);
        assert!(off.logging_enabled.is_none());
        let simple = parse("<BucketLoggingStatus><LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix>web/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>");
        let on = simple.logging_enabled.unwrap();
        assert_eq!((on.target_bucket.as_str(), on.target_prefix.as_str()), ("logs", "web/"));
        assert_eq!(on.date_source().unwrap(), None);
        let partitioned = parse(
            "<BucketLoggingStatus><LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix>p/</TargetPrefix>\
             <TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>DeliveryTime</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat>\
             </LoggingEnabled></BucketLoggingStatus>",
        );
        let on = partitioned.logging_enabled.unwrap();
        on.validate().unwrap();
        assert_eq!(on.date_source().unwrap(), Some(DateSource::DeliveryTime));
        let both = parse(
            "<BucketLoggingStatus><LoggingEnabled><TargetBucket>logs</TargetBucket>\
             <TargetObjectKeyFormat><SimplePrefix/><PartitionedPrefix/></TargetObjectKeyFormat></LoggingEnabled></BucketLoggingStatus>",
        );
        assert!(both.logging_enabled.unwrap().validate().is_err());
    }
}
