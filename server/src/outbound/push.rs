//! Sending one version to a bucket on a remote endpoint: a delete marker as a DELETE, an
//! object uploaded in parts replayed part by part with the same sizes (so the remote computes
//! the same ETag), any other object as one streamed PUT. Bytes are read decrypted and the
//! remote encrypts them again as the version asks (SSE-S3, or SSE-KMS under the rule's
//! ReplicaKmsKeyID); SSE-C versions cannot be sent, since their key is never stored.

use super::{classify, PushError, RemoteEndpoint};
use crate::request::replica;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_runtime_api::http::Request;
use coffer_crypto::envelope::Key256;
use coffer_storage::{Body, BodyStream, EncryptionMode, Grant, Grantee, ObjectRecord, Part, Permission, Store};
use futures::TryStreamExt;
use http::{HeaderName, HeaderValue};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// The version to send.
pub struct Source<'a> {
    pub record: &'a ObjectRecord,
    pub body: &'a Body,
    /// Its parts, if it was uploaded in parts.
    pub parts: Option<&'a [Part]>,
    /// Its data key, if it is encrypted.
    pub data_key: Option<&'a Key256>,
}

/// What the replication rule asks of the replica.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub storage_class: Option<String>,
    pub kms_key_id: Option<String>,
}

/// What the remote answered.
#[derive(Debug)]
pub struct Pushed {
    /// The version id the replica has there.
    pub version_id: Option<String>,
}

type Headers = Vec<(HeaderName, HeaderValue)>;

pub async fn push(endpoint: &RemoteEndpoint, bucket: &str, store: &Store, src: Source<'_>, opts: &WriteOptions) -> Result<Pushed, PushError> {
    let coffer = endpoint.is_coffer(bucket).await?;
    let rec = src.record;
    let client = &endpoint.client;
    if rec.delete_marker {
        let identity = if coffer { identity_headers(rec, false)? } else { Vec::new() };
        let out = client
            .delete_object()
            .bucket(bucket)
            .key(&rec.key)
            .customize()
            .mutate_request(move |r| add_headers(r, &identity))
            .send()
            .await
            .map_err(|e| classify("delete marker", e))?;
        return Ok(Pushed { version_id: out.version_id().map(str::to_string) });
    }
    let headers = object_headers(rec, opts, coffer)?;
    let identity = if coffer { identity_headers(rec, true)? } else { Vec::new() };
    match src.parts {
        Some(parts) => replay_parts(endpoint, bucket, store, &src, parts, headers, identity).await,
        None => {
            let all: Headers = headers.into_iter().chain(identity).collect();
            let out = client
                .put_object()
                .bucket(bucket)
                .key(&rec.key)
                .content_length(rec.size as i64)
                .body(byte_stream(store.read_body(rec, src.body, 0, rec.size, src.data_key)))
                .customize()
                .mutate_request(move |r| add_headers(r, &all))
                .send()
                .await
                .map_err(|e| classify("upload", e))?;
            Ok(Pushed { version_id: out.version_id().map(str::to_string) })
        }
    }
}

/// Whether the remote bucket holds the version already (a Coffer under the same version id,
/// any other service under the one it chose when it was sent, `mapped`); that version id if so.
pub async fn find_replica(endpoint: &RemoteEndpoint, bucket: &str, rec: &ObjectRecord, mapped: Option<&str>) -> Result<Option<String>, PushError> {
    let version = match (endpoint.is_coffer(bucket).await?, mapped) {
        (true, _) => rec.version_id.clone(),
        (false, Some(v)) => v.to_string(),
        (false, None) => return Ok(None),
    };
    match endpoint.client.head_object().bucket(bucket).key(&rec.key).version_id(&version).send().await {
        Ok(_) => Ok(Some(version)),
        Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
            // A delete marker's version answers HEAD with 405.
            Some(405) => Ok(Some(version)),
            Some(400 | 404) => Ok(None),
            _ => Err(classify("lookup", e)),
        },
    }
}

async fn replay_parts(
    endpoint: &RemoteEndpoint,
    bucket: &str,
    store: &Store,
    src: &Source<'_>,
    parts: &[Part],
    headers: Headers,
    identity: Headers,
) -> Result<Pushed, PushError> {
    let (client, rec) = (&endpoint.client, src.record);
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(&rec.key)
        .customize()
        .mutate_request(move |r| add_headers(r, &headers))
        .send()
        .await
        .map_err(|e| classify("multipart upload", e))?;
    let upload_id = created.upload_id().unwrap_or_default().to_string();
    let sent = async {
        let mut completed = Vec::with_capacity(parts.len());
        let mut offset = 0;
        for part in parts {
            let out = client
                .upload_part()
                .bucket(bucket)
                .key(&rec.key)
                .upload_id(&upload_id)
                .part_number(part.number as i32)
                .content_length(part.size as i64)
                .body(byte_stream(store.read_body(rec, src.body, offset, part.size, src.data_key)))
                .send()
                .await
                .map_err(|e| classify("upload part", e))?;
            completed.push(CompletedPart::builder().part_number(part.number as i32).set_e_tag(out.e_tag().map(str::to_string)).build());
            offset += part.size;
        }
        let out = client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(&rec.key)
            .upload_id(&upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .customize()
            .mutate_request(move |r| add_headers(r, &identity))
            .send()
            .await
            .map_err(|e| classify("complete multipart upload", e))?;
        Ok(Pushed { version_id: out.version_id().map(str::to_string) })
    }
    .await;
    if sent.is_err() {
        // Best effort: the remote's own lifecycle can clean up what this leaves.
        let _ = client.abort_multipart_upload().bucket(bucket).key(&rec.key).upload_id(&upload_id).send().await;
    }
    sent
}

fn byte_stream(body: BodyStream) -> ByteStream {
    ByteStream::from_body_1_x(http_body_util::StreamBody::new(body.map_ok(http_body::Frame::data)))
}

fn add_headers(req: &mut Request, headers: &Headers) {
    for (name, value) in headers {
        req.headers_mut().insert(name.as_str().to_string(), value.to_str().unwrap_or_default().to_string());
    }
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), PushError> {
    let bad = || PushError::Permanent(format!("the value of {name} cannot be sent as an HTTP header"));
    Ok((HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?, HeaderValue::from_str(value).map_err(|_| bad())?))
}

/// The version's grants to groups (everyone, signed-in users, log delivery) as
/// `x-amz-grant-*` headers. Grants to users are left out: a canonical user id names a user of
/// this server, not of the destination.
fn group_grants(grants: &[Grant]) -> Result<Headers, PushError> {
    let uri = |g: &Grantee| match g {
        Grantee::AllUsers => Some("http://acs.amazonaws.com/groups/global/AllUsers"),
        Grantee::AuthenticatedUsers => Some("http://acs.amazonaws.com/groups/global/AuthenticatedUsers"),
        Grantee::LogDelivery => Some("http://acs.amazonaws.com/groups/s3/LogDelivery"),
        Grantee::User(_) => None,
    };
    let mut out = Vec::new();
    for (name, permission) in [
        ("x-amz-grant-read", Permission::Read),
        ("x-amz-grant-read-acp", Permission::ReadAcp),
        ("x-amz-grant-write-acp", Permission::WriteAcp),
        ("x-amz-grant-full-control", Permission::FullControl),
    ] {
        let uris: Vec<String> = grants.iter().filter(|g| g.permission == permission).filter_map(|g| uri(&g.grantee)).map(|u| format!("uri=\"{u}\"")).collect();
        if !uris.is_empty() {
            out.push(header(name, &uris.join(", "))?);
        }
    }
    Ok(out)
}

/// The identity a Coffer destination keeps (see `crate::request::replica`).
fn identity_headers(rec: &ObjectRecord, with_etag: bool) -> Result<Headers, PushError> {
    let mut out = vec![header(replica::VERSION_ID, &rec.version_id)?, header(replica::MODIFIED_MS, &rec.modified_ms.to_string())?];
    if with_etag {
        out.push(header(replica::ETAG, &rec.etag)?);
    }
    Ok(out)
}

/// The version's metadata, tags, group grants, Object Lock, storage class and encryption as request headers; to a
/// destination that is not Coffer also the source's identity, as metadata.
fn object_headers(rec: &ObjectRecord, opts: &WriteOptions, coffer: bool) -> Result<Headers, PushError> {
    let m = &rec.meta;
    let mut out = Vec::new();
    let content = [
        ("content-type", &m.content_type),
        ("content-encoding", &m.content_encoding),
        ("content-disposition", &m.content_disposition),
        ("content-language", &m.content_language),
        ("cache-control", &m.cache_control),
        ("expires", &m.expires),
        ("x-amz-website-redirect-location", &m.website_redirect),
    ];
    for (name, value) in content {
        if let Some(v) = value {
            out.push(header(name, v)?);
        }
    }
    for (k, v) in &m.user {
        out.push(header(&format!("x-amz-meta-{k}"), v)?);
    }
    if !coffer {
        out.push(header("x-amz-meta-coffer-source-version-id", &rec.version_id)?);
        out.push(header("x-amz-meta-coffer-source-modified-ms", &rec.modified_ms.to_string())?);
    }
    if !m.tags.is_empty() {
        let encoded: Vec<String> =
            m.tags.iter().map(|(k, v)| format!("{}={}", utf8_percent_encode(k, NON_ALPHANUMERIC), utf8_percent_encode(v, NON_ALPHANUMERIC))).collect();
        out.push(header("x-amz-tagging", &encoded.join("&"))?);
    }
    out.extend(group_grants(m.acl.as_deref().unwrap_or_default())?);
    if let Some((mode, until)) = m.lock.retention {
        out.push(header("x-amz-object-lock-mode", crate::bucket_config::object_lock::mode_name(mode))?);
        out.push(header("x-amz-object-lock-retain-until-date", &crate::bucket_config::object_lock::format_date(until))?);
    }
    if m.lock.legal_hold {
        out.push(header("x-amz-object-lock-legal-hold", "ON")?);
    }
    if let Some(class) = opts.storage_class.as_ref().or(m.storage_class.as_ref()).filter(|c| c.as_str() != "STANDARD") {
        out.push(header("x-amz-storage-class", class)?);
    }
    match m.encryption.as_ref().map(|e| e.mode) {
        None => {}
        Some(EncryptionMode::S3) => out.push(header("x-amz-server-side-encryption", "AES256")?),
        Some(EncryptionMode::Kms) => {
            out.push(header("x-amz-server-side-encryption", "aws:kms")?);
            if let Some(key) = &opts.kms_key_id {
                out.push(header("x-amz-server-side-encryption-aws-kms-key-id", key)?);
            }
        }
        Some(EncryptionMode::Customer) => {
            return Err(PushError::Permanent(
                "an SSE-C version cannot be replicated to a remote: its key is never stored, so its bytes cannot be read".into(),
            ))
        }
    }
    Ok(out)
}
