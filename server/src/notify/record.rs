//! A queued event as S3's event record (eventVersion 2.1): the JSON a target receives, one
//! record per message as `{"Records": [record]}`. Coffer adds `eventId`, the same on every
//! delivery of one event, for consumers to drop duplicates by.

use crate::http::key_encoding::url_path;
use crate::http::xml::timestamp;
use coffer_storage::QueuedEvent;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    event_version: &'static str,
    event_source: &'static str,
    aws_region: &'a str,
    event_time: String,
    event_name: &'static str,
    user_identity: Principal<'a>,
    request_parameters: RequestParameters<'a>,
    response_elements: ResponseElements<'a>,
    s3: S3<'a>,
    event_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Principal<'a> {
    principal_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestParameters<'a> {
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
}

#[derive(Serialize)]
struct ResponseElements<'a> {
    #[serde(rename = "x-amz-request-id")]
    request_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct S3<'a> {
    s3_schema_version: &'static str,
    configuration_id: &'a str,
    bucket: Bucket<'a>,
    object: Object<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bucket<'a> {
    name: &'a str,
    owner_identity: Principal<'a>,
    arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<'a> {
    /// URL-encoded as S3 sends it (a space as '+').
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e_tag: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<&'a str>,
    sequencer: String,
}

/// The sequencer of queue row `seq`: fixed-width hex, so that of two events of one key the
/// later one has the greater sequencer, compared as strings.
pub fn sequencer(seq: i64) -> String {
    format!("{:016X}", seq)
}

impl<'a> Record<'a> {
    pub fn of(event: &'a QueuedEvent) -> Record<'a> {
        let f = &event.facts;
        Record {
            event_version: "2.1",
            event_source: "aws:s3",
            aws_region: &f.region,
            event_time: timestamp(f.time_ms),
            event_name: f.name.as_str(),
            user_identity: Principal { principal_id: &f.requester.principal_id },
            request_parameters: RequestParameters { source_ip_address: &f.requester.source_ip },
            response_elements: ResponseElements { request_id: &f.requester.request_id },
            s3: S3 {
                s3_schema_version: "1.0",
                configuration_id: &f.config_id,
                bucket: Bucket { name: &f.bucket, owner_identity: Principal { principal_id: &f.bucket_owner }, arn: format!("arn:aws:s3:::{}", f.bucket) },
                object: Object {
                    key: url_path(&f.key).replace("%20", "+"),
                    size: f.size,
                    e_tag: f.etag.as_deref(),
                    version_id: f.version_id.as_deref(),
                    sequencer: sequencer(event.seq),
                },
            },
            event_id: &f.id,
        }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    #[serde(rename = "Records")]
    records: [Record<'a>; 1],
}

/// The body of the message that carries `event`: `{"Records": [record]}`.
pub fn message(event: &QueuedEvent) -> Vec<u8> {
    serde_json::to_vec(&Message { records: [Record::of(event)] }).expect("an event record serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_storage::{EventFacts, EventName, Requester};

    #[test]
    fn s3s_record_shape() {
        let facts = EventFacts {
            id: "e1".into(),
            name: EventName::ObjectCreatedPut,
            time_ms: 1_700_000_000_123,
            bucket: "photos".into(),
            bucket_owner: "owner-id".into(),
            region: "eu-west-1".into(),
            key: "2024/a b+c.jpg".into(),
            size: Some(5),
            etag: Some("0123abc".into()),
            version_id: Some("v1".into()),
            requester: Requester { principal_id: "user-id".into(), source_ip: "127.0.0.1".into(), request_id: "REQ".into() },
            config_id: "new-photos".into(),
        };
        let body: serde_json::Value = serde_json::from_slice(&message(&QueuedEvent { seq: 42, facts, attempts: 0 })).unwrap();
        let expected = serde_json::json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "eu-west-1",
            "eventTime": "2023-11-14T22:13:20.123Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "user-id"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "REQ"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "new-photos",
                "bucket": {"name": "photos", "ownerIdentity": {"principalId": "owner-id"}, "arn": "arn:aws:s3:::photos"},
                "object": {"key": "2024/a+b%2Bc.jpg", "size": 5, "eTag": "0123abc", "versionId": "v1", "sequencer": "000000000000002A"}
            },
            "eventId": "e1"
        }]});
        assert_eq!(body, expected);
        assert!(sequencer(9) < sequencer(10) && sequencer(255) < sequencer(256), "later rows sort later as strings");
    }
}
