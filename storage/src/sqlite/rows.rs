//! Mapping between index rows and model types, shared by every query module.

use crate::error::{Result, StorageError};
use crate::model::{Body, ObjectMeta, ObjectRecord, Placement, RestoreState, Segment};
use rusqlite::Row;

/// Columns of `objects` that make an `ObjectRecord`, in the order `object_from_row` reads them.
pub const OBJECT_COLUMNS: &str = "bucket_id, key, version_id, is_latest, delete_marker, size, etag, modified_ms, owner_id, meta, \
     tier, move_to, restore_days, restore_done_ms, restore_expiry_ms, replication";

/// How many columns `OBJECT_COLUMNS` names: columns selected after them start here.
pub const AFTER_OBJECT_COLUMNS: usize = 16;

/// Columns that make a `Body`, in the order `body_from_row` reads them, starting at `first`.
pub const BODY_COLUMNS: &str = "(SELECT data FROM inline_bodies WHERE inline_bodies.seq = objects.seq), \
     (SELECT sha256 FROM inline_bodies WHERE inline_bodies.seq = objects.seq), manifest";

pub fn object_from_row(row: &Row) -> rusqlite::Result<ObjectRecord> {
    let key: Vec<u8> = row.get(1)?;
    let meta: String = row.get(9)?;
    Ok(ObjectRecord {
        bucket_id: row.get(0)?,
        key: String::from_utf8_lossy(&key).into_owned(),
        version_id: row.get(2)?,
        is_latest: row.get(3)?,
        delete_marker: row.get(4)?,
        size: row.get::<_, i64>(5)? as u64,
        etag: row.get(6)?,
        modified_ms: row.get(7)?,
        owner_id: row.get(8)?,
        meta: serde_json::from_str::<ObjectMeta>(&meta).unwrap_or_default(),
        placement: placement_from_row(row, 10)?,
        replication: row.get(15)?,
    })
}

fn placement_from_row(row: &Row, first: usize) -> rusqlite::Result<Placement> {
    let move_to: Option<String> = row.get(first + 1)?;
    let days: Option<i64> = row.get(first + 2)?;
    Ok(Placement {
        tier: row.get(first)?,
        moving_to: move_to.map(|t| Some(t).filter(|t| !t.is_empty())),
        restore: match days {
            Some(days) => Some(RestoreState { days: days as u32, done_ms: row.get(first + 3)?, expiry_ms: row.get(first + 4)? }),
            None => None,
        },
    })
}

pub fn body_from_row(row: &Row, first: usize) -> rusqlite::Result<Result<Body>> {
    let inline: Option<Vec<u8>> = row.get(first)?;
    let sha256: Option<Vec<u8>> = row.get(first + 1)?;
    let manifest: Option<String> = row.get(first + 2)?;
    Ok(match (inline, manifest) {
        (Some(data), _) => Ok(Body::Inline { data: data.into(), sha256: sha256.and_then(|h| h.try_into().ok()) }),
        (None, Some(m)) => decode_manifest(&m).map(Body::Blobs),
        (None, None) => Ok(Body::Inline { data: bytes::Bytes::new(), sha256: None }),
    })
}

pub fn decode_manifest(m: &str) -> Result<Vec<Segment>> {
    serde_json::from_str(m).map_err(|e| StorageError::Corrupt(format!("manifest: {e}")))
}

pub fn encode_manifest(segments: &[Segment]) -> String {
    serde_json::to_string(segments).expect("segments serialize")
}
