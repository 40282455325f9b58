//! CompleteMultipartUpload: checks the client's part list against the stored parts, then names
//! the parts' blobs as one object version in a single transaction, copying no data.

use crate::error::{MultipartError, Result, StorageError};
use crate::events::{EventName, Origin};
use crate::model::*;
use crate::objects::NewObject;
use crate::Store;
use coffer_crypto::checksum::{combine_crc, Checksum};
use md5::{Digest, Md5};

/// How long the result of a completed upload is kept for repeated Complete requests.
pub(crate) const COMPLETED_KEPT_MS: i64 = 24 * 3600 * 1000;

/// The parts chosen for the object, in order, with their blob hashes.
struct Chosen<'a> {
    parts: Vec<&'a (Part, Vec<u8>)>,
}

impl Store {
    /// Completes an upload into a new version of its key. Completing an upload that was
    /// already completed (within a day) returns the first completion's result.
    pub async fn complete_upload(&self, bucket_id: i64, key: &str, upload_id: &str, req: CompleteRequest) -> Result<CompletedUpload> {
        self.index().complete_upload(bucket_id, key, upload_id, req, self.tiers()).await
    }
}

/// The version completing an upload writes, decided from the upload, its stored parts and the
/// request before anything is written.
pub(crate) struct Plan {
    pub new: NewObject,
    pub size: u64,
    pub etag: String,
    /// The chosen parts' blobs, in order.
    pub body: Body,
    /// The chosen parts, as the version records them.
    pub parts: Vec<Part>,
    checksum: Option<StoredChecksum>,
    encryption: Option<Encryption>,
}

impl Plan {
    /// What Complete answers once `record` is written (and later repeats of it too).
    pub(crate) fn result(self, record: ObjectRecord) -> CompletedUpload {
        CompletedUpload { etag: record.etag, version_id: record.version_id, size: self.size, checksum: self.checksum, encryption: self.encryption }
    }
}

/// Checks the client's part list (`req`) against the upload's stored parts (with their blob
/// hashes, by number) and decides the version: its parts, size, ETag, checksum and metadata.
pub(crate) fn plan(key: &str, upload: &Upload, stored: &[(Part, Vec<u8>)], req: &CompleteRequest) -> Result<Plan> {
    let chosen = choose_parts(stored, req, upload.checksum)?;
    let parts: Vec<Part> = chosen.parts.iter().map(|(p, _)| p.clone()).collect();
    let size: u64 = parts.iter().map(|p| p.size).sum();
    if let Some(expected) = req.expected_size.filter(|e| *e != size) {
        return Err(MultipartError::SizeMismatch { expected, actual: size }.into());
    }
    let checksum = upload.checksum.and_then(|u| object_checksum(u, &parts));
    verify_checksum(req, checksum.as_ref())?;
    let etag = multipart_etag(&parts)?;
    let body = Body::Blobs(chosen.parts.iter().map(|(p, hash)| Segment::named(hex::encode(hash), p.size)).collect());

    let mut meta = upload.meta.clone();
    meta.checksum = checksum.clone();
    let encryption = meta.encryption.clone();
    let origin = Origin::new(EventName::ObjectCreatedCompleteMultipartUpload, req.requester.clone());
    let new = NewObject { key: key.to_string(), owner_id: upload.owner_id.clone(), meta, origin };
    Ok(Plan { new, size, etag, body, parts, checksum, encryption })
}

/// Matches the requested parts with the stored ones: ascending numbers, known parts with
/// matching ETags (and checksums, when listed), and every part but the last large enough.
fn choose_parts<'a>(stored: &'a [(Part, Vec<u8>)], req: &CompleteRequest, checksum: Option<UploadChecksum>) -> Result<Chosen<'a>> {
    if req.parts.windows(2).any(|w| w[0].number > w[1].number) {
        return Err(MultipartError::InvalidPartOrder.into());
    }
    // A part number listed more than once counts once, as its last entry says.
    let listed = req.parts.iter().enumerate().filter(|(i, p)| req.parts.get(i + 1).is_none_or(|next| next.number != p.number));
    let mut parts = Vec::with_capacity(req.parts.len());
    for (_, wanted) in listed {
        let found = stored.iter().find(|(p, _)| p.number == wanted.number).filter(|(p, _)| p.etag == wanted.etag.trim().trim_matches('"'));
        let Some(found) = found else { return Err(MultipartError::InvalidPart(wanted.number).into()) };
        let listed_mismatch =
            checksum.is_some() && wanted.checksum.as_deref().is_some_and(|c| Some(c.trim()) != found.0.checksum.as_deref());
        if listed_mismatch {
            return Err(MultipartError::InvalidPart(wanted.number).into());
        }
        parts.push(found);
    }
    let all_but_last = &parts[..parts.len().saturating_sub(1)];
    if let Some((p, _)) = all_but_last.iter().copied().find(|(p, _)| p.size < req.min_part_size) {
        return Err(MultipartError::EntityTooSmall { number: p.number, size: p.size, min: req.min_part_size }.into());
    }
    Ok(Chosen { parts })
}

/// S3's multipart ETag: MD5 of the concatenated binary part MD5s, then `-N`.
fn multipart_etag(parts: &[Part]) -> Result<String> {
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(hex::decode(&p.etag).map_err(|_| StorageError::Corrupt("part etag".into()))?);
    }
    Ok(format!("{}-{}", hex::encode(md5.finalize()), parts.len()))
}

/// The object's checksum from its parts': combined CRCs for FULL_OBJECT, a checksum of the
/// part checksums (with `-N`) for COMPOSITE. `None` if a part has no checksum.
pub(crate) fn object_checksum(upload: UploadChecksum, parts: &[Part]) -> Option<StoredChecksum> {
    let alg = upload.algorithm;
    let sums: Vec<Checksum> = parts.iter().map(|p| Checksum::from_base64(alg, p.checksum.as_deref()?)).collect::<Option<_>>()?;
    let value = match upload.kind {
        ChecksumType::FullObject => {
            let mut acc = Checksum::compute(alg, b"").bytes;
            for (sum, part) in sums.iter().zip(parts) {
                acc = combine_crc(alg, &acc, &sum.bytes, part.size);
            }
            Checksum { algorithm: alg, bytes: acc }.to_base64()
        }
        ChecksumType::Composite => {
            let mut hasher = alg.hasher();
            for sum in &sums {
                hasher.update(&sum.bytes);
            }
            format!("{}-{}", hasher.finish().to_base64(), parts.len())
        }
    };
    Some(StoredChecksum { algorithm: alg.as_str().to_string(), value, kind: upload.kind })
}

/// A whole-object checksum sent with Complete must equal the computed one.
fn verify_checksum(req: &CompleteRequest, computed: Option<&StoredChecksum>) -> Result<()> {
    let Some((alg, sent)) = &req.expected_checksum else { return Ok(()) };
    let matches = computed.is_some_and(|c| c.algorithm == alg.as_str() && strip_count(&c.value) == strip_count(sent.trim()));
    if matches {
        return Ok(());
    }
    let computed = computed.map(|c| c.value.clone()).unwrap_or_default();
    Err(MultipartError::ChecksumMismatch { computed }.into())
}

/// A composite checksum without its `-N` part count.
fn strip_count(value: &str) -> &str {
    value.split_once('-').map(|(v, _)| v).unwrap_or(value)
}
