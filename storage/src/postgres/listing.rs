//! Listing keys and versions on PostgreSQL: the range queries `crate::listing`'s scans ask for,
//! over the `bytea` B-tree indexes of `objects` (bytewise, the order SQLite's listing has).

use super::rows::{object_from_row, AFTER_OBJECT_COLUMNS, OBJECT_COLUMNS};
use crate::error::Result;
use crate::listing::{LatestScan, VersionScan};
use crate::model::{ListPage, ListParams, VersionListParams, VersionPage};
use super::GenericClient;

/// The SQL of a range scan over `objects` with `filter`, with or without an upper bound (two
/// statements, so that the planner always has both bounds of the index range).
pub(super) fn range_sql(columns: &str, filter: &str, bounded: bool, order: &str) -> String {
    let upper = if bounded { "AND key < $3" } else { "AND $3::bytea IS NULL" };
    format!("SELECT {columns} FROM objects WHERE bucket_id = $1 AND {filter} AND key >= $2 {upper} ORDER BY {order} LIMIT $4")
}

/// A page of the bucket's latest versions (ListObjects), over the `objects_latest` index.
///
/// A page takes several queries: run it in one REPEATABLE READ READ ONLY transaction so that
/// they all read one snapshot, and a page never shows a key twice or half of a commit.
pub(crate) async fn list_objects(c: &impl GenericClient, bucket_id: i64, p: &ListParams) -> Result<ListPage> {
    let mut scan = LatestScan::new(p);
    if scan.fetch().is_none() {
        return Ok(scan.finish());
    }
    let stmt = c.prepare(&range_sql(OBJECT_COLUMNS, "is_latest", scan.bounded(), "key")).await?;
    while let Some(f) = scan.fetch() {
        let rows = c.query(&stmt, &[&bucket_id, &f.lower, &f.upper, &(f.limit as i64)]).await?;
        scan.feed(rows.iter().map(object_from_row).collect());
    }
    Ok(scan.finish())
}

/// A page of every version and delete marker of the bucket (ListObjectVersions), over the
/// `objects_by_key_seq` index: keys in byte order, each key's versions newest first.
///
/// A page takes several queries: run it in one REPEATABLE READ READ ONLY transaction so that
/// they all read one snapshot (the version marker's lookup included).
pub(crate) async fn list_versions(c: &impl GenericClient, bucket_id: i64, p: &VersionListParams) -> Result<VersionPage> {
    let mut scan = VersionScan::new(p);
    if let Some((key, version_id)) = scan.version_marker() {
        let row = c
            .query_opt("SELECT seq FROM objects WHERE bucket_id = $1 AND key = $2 AND version_id = $3", &[&bucket_id, &key.as_bytes(), &version_id])
            .await?;
        scan.resume_after(row.map(|r| r.get(0)));
    }
    if scan.fetch().is_none() {
        return Ok(scan.finish());
    }
    let columns = format!("{OBJECT_COLUMNS}, seq");
    let filter = "($5::bytea IS NULL OR key <> $5 OR seq < $6)";
    let stmt = c.prepare(&range_sql(&columns, filter, scan.bounded(), "key, seq DESC")).await?;
    while let Some(f) = scan.fetch() {
        let (resume_key, resume_seq) = f.resume.unzip();
        let rows = c.query(&stmt, &[&bucket_id, &f.lower, &f.upper, &(f.limit as i64), &resume_key, &resume_seq.unwrap_or(0)]).await?;
        scan.feed(rows.iter().map(|r| (object_from_row(r), r.get(AFTER_OBJECT_COLUMNS))).collect());
    }
    Ok(scan.finish())
}
