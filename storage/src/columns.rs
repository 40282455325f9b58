//! How an index's stored columns become model values and back, for every backend: the JSON
//! manifest of blob segments, a version's placement, its body, its metadata document, an
//! upload's checksum.

use crate::error::{Result, StorageError};
use crate::model::{Body, ChecksumType, ObjectMeta, Placement, RestoreState, Segment, UploadChecksum};
use coffer_crypto::checksum::ChecksumAlgorithm;

pub fn decode_manifest(m: &str) -> Result<Vec<Segment>> {
    serde_json::from_str(m).map_err(|e| StorageError::Corrupt(format!("manifest: {e}")))
}

pub fn encode_manifest(segments: &[Segment]) -> String {
    serde_json::to_string(segments).expect("segments serialize")
}

/// A version's metadata document; an unreadable one reads as empty metadata.
pub fn decode_meta(meta: &str) -> ObjectMeta {
    serde_json::from_str::<ObjectMeta>(meta).unwrap_or_default()
}

/// An upload's checksum column: its algorithm and its type, separated by a space.
pub fn encode_upload_checksum(c: Option<UploadChecksum>) -> Option<String> {
    c.map(|c| format!("{} {}", c.algorithm.as_str(), c.kind.as_str()))
}

pub fn decode_upload_checksum(s: Option<&str>) -> Option<UploadChecksum> {
    let (alg, kind) = s?.split_once(' ')?;
    Some(UploadChecksum { algorithm: ChecksumAlgorithm::parse(alg)?, kind: ChecksumType::parse(kind)? })
}

/// The stored placement columns: the tier, a due move (an empty name moves back to the local
/// store), and a restore (asked for `days`, done at, expiring at).
pub struct PlacementColumns {
    pub tier: Option<String>,
    pub move_to: Option<String>,
    pub restore_days: Option<i64>,
    pub restore_done_ms: Option<i64>,
    pub restore_expiry_ms: Option<i64>,
}

impl From<PlacementColumns> for Placement {
    fn from(c: PlacementColumns) -> Placement {
        Placement {
            tier: c.tier,
            moving_to: c.move_to.map(|t| Some(t).filter(|t| !t.is_empty())),
            restore: c.restore_days.map(|days| RestoreState { days: days as u32, done_ms: c.restore_done_ms, expiry_ms: c.restore_expiry_ms }),
        }
    }
}

/// A version's body from its inline bytes (with their SHA-256) or its manifest; a version with
/// neither (a delete marker) has an empty inline body.
pub fn decode_body(inline: Option<Vec<u8>>, sha256: Option<Vec<u8>>, manifest: Option<&str>) -> Result<Body> {
    match (inline, manifest) {
        (Some(data), _) => Ok(Body::Inline { data: data.into(), sha256: sha256.and_then(|h| h.try_into().ok()) }),
        (None, Some(m)) => decode_manifest(m).map(Body::Blobs),
        (None, None) => Ok(Body::Inline { data: bytes::Bytes::new(), sha256: None }),
    }
}
