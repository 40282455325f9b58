//! What a request uploads, checked the same way by every handler that takes a body: its
//! Content-MD5, its signed SHA-256, its declared length, and how the store ingests it.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::request::ctx::Ctx;
use crate::request::sse::Sealing;
use actix_web::http::header::HeaderMap;
use base64::Engine;
use coffer_auth::Payload;
use coffer_crypto::checksum::ChecksumAlgorithm;
use coffer_storage::{IngestOptions, Ingested, WriteConditions};
use sha2::{Digest, Sha256};

/// Largest single PUT S3 accepts: 5 GiB.
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// The Content-MD5 header, decoded; InvalidDigest if it is not 16 bytes of base64.
pub fn content_md5(ctx: &Ctx<'_>) -> S3Result<Option<[u8; 16]>> {
    let Some(v) = ctx.header("content-md5") else { return Ok(None) };
    base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
        .map(Some)
        .ok_or_else(|| S3Error::new(ErrorCode::InvalidDigest))
}

/// A body read whole must match its Content-MD5, if one was sent (BadDigest otherwise).
pub fn check_content_md5(ctx: &Ctx<'_>, body: &[u8]) -> S3Result<()> {
    use md5::Digest as _;
    match content_md5(ctx)? {
        Some(md5) if md5[..] != md5::Md5::digest(body)[..] => Err(S3Error::new(ErrorCode::BadDigest)),
        _ => Ok(()),
    }
}

/// For a signed payload, the body must hash to the signed value.
pub fn check_sha256(payload: &Payload, actual: &[u8; 32]) -> S3Result<()> {
    match payload {
        Payload::Sha256(expected) if expected != actual => Err(S3Error::new(ErrorCode::XAmzContentSHA256Mismatch)
            .with("ClientComputedContentSHA256", hex::encode(expected))
            .with("S3ComputedContentSHA256", hex::encode(actual))),
        _ => Ok(()),
    }
}

/// `check_sha256` for an ingested body: its plaintext hash (a sealed body hashes otherwise).
pub fn check_ingested_sha256(payload: &Payload, ingested: &Ingested) -> S3Result<()> {
    match (payload, &ingested.plain_sha256) {
        (Payload::Sha256(_), Some(actual)) => check_sha256(payload, actual),
        (Payload::Sha256(_), None) => Err(S3Error::internal("a signed payload was ingested without its plaintext hash")),
        _ => Ok(()),
    }
}

/// Ingest options for an object or part body: the checksums to compute, the size limit, and
/// the data key to seal it under (hashing the plaintext too when a signed hash must match).
pub fn ingest_options(payload: &Payload, checksums: Vec<ChecksumAlgorithm>, seal: Option<&Sealing>) -> IngestOptions {
    IngestOptions {
        checksums,
        max_size: MAX_PUT_SIZE,
        seal: seal.map(|s| s.key.clone()),
        hash_plaintext: matches!(payload, Payload::Sha256(_)),
    }
}

/// `check_sha256` for a body read whole.
pub fn check_payload_hash(payload: &Payload, body: &[u8]) -> S3Result<()> {
    if let Payload::Sha256(_) = payload {
        check_sha256(payload, &Sha256::digest(body).into())?;
    }
    Ok(())
}

/// Conditional-write headers of a PUT: If-None-Match and If-Match, checked at commit.
pub fn write_conditions(ctx: &Ctx<'_>) -> WriteConditions {
    WriteConditions {
        if_none_match: ctx.header("if-none-match").map(str::to_string),
        if_match: ctx.header("if-match").map(str::to_string),
    }
}

pub fn declared_length(headers: &HeaderMap, payload: &Payload) -> S3Result<Option<u64>> {
    // An aws-chunked body's own length includes the framing; the object's is declared apart.
    let name = match payload {
        Payload::Streaming(_) => "x-amz-decoded-content-length",
        _ => "content-length",
    };
    headers
        .get(name)
        .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).ok_or_else(|| S3Error::invalid_argument("Invalid Content-Length")))
        .transpose()
}

/// The declared length of a single PUT's body, refused with EntityTooLarge past 5 GiB.
pub fn checked_put_length(headers: &HeaderMap, payload: &Payload) -> S3Result<Option<u64>> {
    let length = declared_length(headers, payload)?;
    match length {
        Some(l) if l > MAX_PUT_SIZE => Err(S3Error::new(ErrorCode::EntityTooLarge)
            .with("ProposedSize", l.to_string())
            .with("MaxSizeAllowed", MAX_PUT_SIZE.to_string())),
        _ => Ok(length),
    }
}

/// The tags a new object gets from its x-amz-tagging header.
pub fn tags(ctx: &Ctx<'_>) -> S3Result<Vec<(String, String)>> {
    ctx.header("x-amz-tagging").map(crate::bucket_config::tagging::from_header).transpose().map(Option::unwrap_or_default)
}
