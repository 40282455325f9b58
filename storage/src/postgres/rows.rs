//! Mapping between PostgreSQL's `objects` rows and model types, shared by every query module
//! (the columns match SQLite's, so both decode through `crate::columns`).

use crate::columns::{decode_body, decode_meta, PlacementColumns};
use crate::error::Result;
use crate::model::{Body, ObjectRecord};
use tokio_postgres::Row;

/// Columns of `objects` that make an `ObjectRecord`, in the order `object_from_row` reads them.
pub const OBJECT_COLUMNS: &str = "bucket_id, key, version_id, is_latest, delete_marker, size, etag, modified_ms, owner_id, meta, \
     tier, move_to, restore_days, restore_done_ms, restore_expiry_ms, replication";

/// How many columns `OBJECT_COLUMNS` names: columns selected after them start here.
pub const AFTER_OBJECT_COLUMNS: usize = 16;

/// Columns that make a `Body`, in the order `body_from_row` reads them.
pub const BODY_COLUMNS: &str = "(SELECT data FROM inline_bodies WHERE inline_bodies.seq = objects.seq), \
     (SELECT sha256 FROM inline_bodies WHERE inline_bodies.seq = objects.seq), manifest";

pub fn object_from_row(row: &Row) -> ObjectRecord {
    let key: &[u8] = row.get(1);
    ObjectRecord {
        bucket_id: row.get(0),
        key: String::from_utf8_lossy(key).into_owned(),
        version_id: row.get(2),
        is_latest: row.get(3),
        delete_marker: row.get(4),
        size: row.get::<_, i64>(5) as u64,
        etag: row.get(6),
        modified_ms: row.get(7),
        owner_id: row.get(8),
        meta: decode_meta(row.get(9)),
        placement: PlacementColumns {
            tier: row.get(10),
            move_to: row.get(11),
            restore_days: row.get(12),
            restore_done_ms: row.get(13),
            restore_expiry_ms: row.get(14),
        }
        .into(),
        replication: row.get(15),
    }
}

/// The body selected by `BODY_COLUMNS` starting at column `first`.
pub fn body_from_row(row: &Row, first: usize) -> Result<Body> {
    decode_body(row.get(first), row.get(first + 1), row.get(first + 2))
}
