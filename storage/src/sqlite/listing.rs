//! Listing keys and versions on SQLite: the range queries `crate::listing`'s scans ask for, over
//! the `objects` index in raw byte order of keys.

use crate::error::Result;
use crate::listing::{Fetch, LatestScan, VersionScan};
use crate::model::*;
use crate::sqlite::rows::{object_from_row, AFTER_OBJECT_COLUMNS, OBJECT_COLUMNS};
use rusqlite::{params, Connection, OptionalExtension};

/// The SQL of a range scan over `objects` with `filter`, with or without an upper bound, so
/// that SQLite can use both bounds of the index range.
fn range_sql(columns: &str, filter: &str, bounded: bool, order: &str) -> String {
    let upper = if bounded { "AND key < ?3" } else { "AND ?3 IS NULL" };
    format!("SELECT {columns} FROM objects WHERE bucket_id = ?1 AND {filter} AND key >= ?2 {upper} ORDER BY {order} LIMIT ?4")
}

pub(crate) fn list_latest(c: &Connection, bucket_id: i64, p: &ListParams) -> Result<ListPage> {
    let mut scan = LatestScan::new(p);
    let mut stmt = c.prepare_cached(&range_sql(OBJECT_COLUMNS, "is_latest = 1", scan.bounded(), "key"))?;
    while let Some(Fetch { lower, upper, limit, .. }) = scan.fetch() {
        let rows = stmt.query_map(params![bucket_id, lower, upper, limit as i64], object_from_row)?.collect::<rusqlite::Result<_>>()?;
        scan.feed(rows);
    }
    Ok(scan.finish())
}

pub(crate) fn list_all_versions(c: &Connection, bucket_id: i64, p: &VersionListParams) -> Result<VersionPage> {
    let mut scan = VersionScan::new(p);
    if let Some((key, version_id)) = scan.version_marker() {
        let seq = c
            .query_row(
                "SELECT seq FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3",
                params![bucket_id, key.as_bytes(), version_id],
                |r| r.get(0),
            )
            .optional()?;
        scan.resume_after(seq);
    }
    let columns = format!("{OBJECT_COLUMNS}, seq");
    let filter = "(?5 IS NULL OR key != ?5 OR seq < ?6)";
    let mut stmt = c.prepare_cached(&range_sql(&columns, filter, scan.bounded(), "key, seq DESC"))?;
    while let Some(f) = scan.fetch() {
        let (rkey, rseq) = f.resume.unzip();
        let rows = stmt
            .query_map(params![bucket_id, f.lower, f.upper, f.limit as i64, rkey, rseq.unwrap_or(0)], |r| {
                Ok((object_from_row(r)?, r.get(AFTER_OBJECT_COLUMNS)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        scan.feed(rows);
    }
    Ok(scan.finish())
}

#[cfg(test)]
mod store_tests {
    use crate::testutil::*;
    use crate::*;

    fn names(page: &ListPage) -> Vec<String> {
        page.items
            .iter()
            .map(|i| match i {
                ListItem::Object(o) => o.key.clone(),
                ListItem::Prefix(p) => format!("{p}*"),
            })
            .collect()
    }

    #[tokio::test]
    async fn delimiter_prefix_and_markers() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        for k in ["a", "b/1", "b/2", "b/c/3", "c", "d/1", "é", "a+b"] {
            put(&t, &b, k, b"x").await.unwrap();
        }
        let all = |after: Option<&str>, max| ListParams { prefix: String::new(), delimiter: Some("/".into()), after: after.map(Into::into), max_keys: max };
        let page = t.store.list_objects(b.id, all(None, 1000)).await.unwrap();
        assert_eq!(names(&page), ["a", "a+b", "b/*", "c", "d/*", "é"]);
        assert!(!page.is_truncated);
        let page = t.store.list_objects(b.id, all(None, 3)).await.unwrap();
        assert_eq!(names(&page), ["a", "a+b", "b/*"]);
        assert!(page.is_truncated);
        let page = t.store.list_objects(b.id, all(Some("b/"), 2)).await.unwrap();
        assert_eq!(names(&page), ["c", "d/*"], "a marker that is a common prefix skips its keys");
        let page = t.store.list_objects(b.id, ListParams { prefix: "b/".into(), delimiter: Some("/".into()), after: None, max_keys: 10 }).await.unwrap();
        assert_eq!(names(&page), ["b/1", "b/2", "b/c/*"]);
        let page = t.store.list_objects(b.id, ListParams { prefix: "b".into(), delimiter: None, after: Some("b/1".into()), max_keys: 10 }).await.unwrap();
        assert_eq!(names(&page), ["b/2", "b/c/3"]);
        let page = t.store.list_objects(b.id, ListParams { max_keys: 0, ..all(None, 0) }).await.unwrap();
        assert!(page.items.is_empty() && !page.is_truncated);
    }

    #[tokio::test]
    async fn long_listing_pages_through_scan_batches() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        for i in 0..2500 {
            put(&t, &b, &format!("dir{}/k{i:05}", i % 3), b"x").await.unwrap();
        }
        let page = t.store.list_objects(b.id, ListParams { prefix: String::new(), delimiter: Some("/".into()), after: None, max_keys: 1000 }).await.unwrap();
        assert_eq!(names(&page), ["dir0/*", "dir1/*", "dir2/*"]);
        let mut after = None;
        let mut seen = 0;
        loop {
            let p = t.store.list_objects(b.id, ListParams { prefix: "dir1/".into(), delimiter: None, after: after.clone(), max_keys: 300 }).await.unwrap();
            seen += p.items.len();
            if !p.is_truncated {
                break;
            }
            after = p.last_name().map(str::to_string);
        }
        assert_eq!(seen, 833);
    }

    #[tokio::test]
    async fn versions_page_with_markers() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
        let b = t.store.bucket("b").await.unwrap();
        for k in ["a", "a", "b", "b", "b"] {
            put(&t, &b, k, k.as_bytes()).await.unwrap();
        }
        t.store.delete_object(b.id, "a", None, Default::default(), crate::DeleteOptions::default()).await.unwrap();
        let mut params = VersionListParams { max_keys: 2, ..Default::default() };
        let mut got = Vec::new();
        loop {
            let page = t.store.list_versions(b.id, params.clone()).await.unwrap();
            for i in &page.items {
                if let ListItem::Object(o) = i {
                    got.push((o.key.clone(), o.delete_marker, o.is_latest));
                }
            }
            if !page.is_truncated {
                break;
            }
            params.key_marker = page.next_key_marker;
            params.version_id_marker = page.next_version_id_marker;
        }
        let want = [("a", true, true), ("a", false, false), ("a", false, false), ("b", false, true), ("b", false, false), ("b", false, false)];
        let want: Vec<_> = want.iter().map(|(k, d, l)| (k.to_string(), *d, *l)).collect();
        assert_eq!(got, want);
    }
}
