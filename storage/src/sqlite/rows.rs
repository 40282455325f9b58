//! Mapping between index rows and model types, shared by every query module.

use crate::columns::{decode_body, decode_meta, PlacementColumns};
use crate::error::Result;
use crate::model::{Body, ObjectRecord, Placement};
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
        meta: decode_meta(&meta),
        placement: placement_from_row(row, 10)?,
        replication: row.get(15)?,
    })
}

fn placement_from_row(row: &Row, first: usize) -> rusqlite::Result<Placement> {
    Ok(PlacementColumns {
        tier: row.get(first)?,
        move_to: row.get(first + 1)?,
        restore_days: row.get(first + 2)?,
        restore_done_ms: row.get(first + 3)?,
        restore_expiry_ms: row.get(first + 4)?,
    }
    .into())
}

pub fn body_from_row(row: &Row, first: usize) -> rusqlite::Result<Result<Body>> {
    let manifest: Option<String> = row.get(first + 2)?;
    Ok(decode_body(row.get(first)?, row.get(first + 1)?, manifest.as_deref()))
}
