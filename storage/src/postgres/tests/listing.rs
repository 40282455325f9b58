//! Listing on PostgreSQL: the cases of SQLite's listing tests, the same pages as SQLite lists
//! for many parameters over keys with awkward bytes, and the time a page takes over 100k keys.

use super::TestDb;
use crate::events::{EventName, Origin};
use crate::meta::BucketIndex;
use crate::error::Result;
use crate::model::*;
use crate::objects::{new_version_id, NewObject, Stored};
use crate::postgres::listing::{list_objects, list_versions};
use crate::postgres::objects::{insert_row, insert_version, lock_key};
use crate::postgres::{transact, PgIndex};
use crate::tiers::TierSet;
use tokio_postgres::IsolationLevel;

/// A bucket on a fresh PostgreSQL index.
struct PgBucket {
    index: PgIndex,
    id: i64,
}

impl PgBucket {
    async fn new(db: &TestDb, versioning: Versioning) -> PgBucket {
        let index = PgIndex::connect(&db.url).await.unwrap();
        index.client().await.unwrap().batch_execute("INSERT INTO users (id, name, created_ms) VALUES ('u1', 'alice', 0)").await.unwrap();
        let id = index.create_bucket(User { id: "u1".into(), name: "alice".into() }, "b", "r").await.unwrap().id;
        if versioning != Versioning::Unversioned {
            index.set_versioning(id, versioning).await.unwrap();
        }
        PgBucket { index, id }
    }

    async fn put(&self, key: &str) -> Result<ObjectRecord> {
        let origin = Origin::new(EventName::ObjectCreatedPut, Requester::default());
        let new = NewObject { key: key.into(), owner_id: "u1".into(), meta: ObjectMeta::default(), origin };
        let body = Body::Inline { data: bytes::Bytes::copy_from_slice(key.as_bytes()), sha256: None };
        let stored = Stored { size: key.len() as u64, etag: "e", body: &body, tier: None };
        let (tiers, cond) = (TierSet::new(Vec::new()), WriteConditions::default());
        transact!(self.index, |tx| insert_version(&*tx, self.id, &new, &stored, &cond, &tiers).await?)
    }

    /// Places a delete marker on `key`, in a versioned bucket.
    async fn delete(&self, key: &str) -> Result<()> {
        let latest = self.put(key).await?;
        let marker = ObjectRecord { version_id: new_version_id(), delete_marker: true, size: 0, ..latest.clone() };
        transact!(self.index, |tx| {
            lock_key(&*tx, self.id, key).await?;
            tx.execute("UPDATE objects SET is_latest = false WHERE bucket_id = $1 AND key = $2 AND is_latest", &[&self.id, &key.as_bytes()]).await?;
            insert_row(&*tx, &marker, None).await?
        })
    }

    /// A page as the ObjectIndex lists it: in one read-only snapshot.
    async fn list(&self, p: &ListParams) -> ListPage {
        let mut client = self.index.client().await.unwrap();
        let tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await.unwrap();
        let page = list_objects(&tx, self.id, p).await.unwrap();
        tx.commit().await.unwrap();
        page
    }

    async fn versions(&self, p: &VersionListParams) -> VersionPage {
        let mut client = self.index.client().await.unwrap();
        let tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await.unwrap();
        let page = list_versions(&tx, self.id, p).await.unwrap();
        tx.commit().await.unwrap();
        page
    }
}

/// Keys and common prefixes (with a `*`) of a page's items.
fn listed(items: &[ListItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            ListItem::Object(o) if o.delete_marker => format!("{}!", o.key),
            ListItem::Object(o) => o.key.clone(),
            ListItem::Prefix(p) => format!("{p}*"),
        })
        .collect()
}

fn params(prefix: &str, delimiter: Option<&str>, after: Option<&str>, max_keys: usize) -> ListParams {
    ListParams { prefix: prefix.into(), delimiter: delimiter.map(Into::into), after: after.map(Into::into), max_keys }
}

#[tokio::test]
async fn delimiter_prefix_and_markers() {
    let Some(db) = TestDb::create().await else { return };
    let b = PgBucket::new(&db, Versioning::Unversioned).await;
    for k in ["a", "b/1", "b/2", "b/c/3", "c", "d/1", "é", "a+b", "a.b", "a/x", "a0"] {
        b.put(k).await.unwrap();
    }
    let slash = Some("/");
    let page = b.list(&params("", slash, None, 1000)).await;
    assert_eq!(listed(&page.items), ["a", "a+b", "a.b", "a/*", "a0", "b/*", "c", "d/*", "é"]);
    assert!(!page.is_truncated);
    let page = b.list(&params("", slash, None, 4)).await;
    assert_eq!(listed(&page.items), ["a", "a+b", "a.b", "a/*"]);
    assert!(page.is_truncated);
    let page = b.list(&params("", slash, Some("b/"), 2)).await;
    assert_eq!(listed(&page.items), ["c", "d/*"], "a marker that is a common prefix skips its keys");
    assert!(page.is_truncated);
    let page = b.list(&params("", slash, Some("a/"), 2)).await;
    assert_eq!(listed(&page.items), ["a0", "b/*"]);
    let page = b.list(&params("", slash, Some("a/zzz"), 1)).await;
    assert_eq!(listed(&page.items), ["a0"], "a marker inside a common prefix skips the whole prefix");
    let page = b.list(&params("b/", slash, None, 10)).await;
    assert_eq!(listed(&page.items), ["b/1", "b/2", "b/c/*"]);
    let page = b.list(&params("b", None, Some("b/1"), 10)).await;
    assert_eq!(listed(&page.items), ["b/2", "b/c/3"]);
    let page = b.list(&params("a", None, None, 10)).await;
    assert_eq!(listed(&page.items), ["a", "a+b", "a.b", "a/x", "a0"], "bytes just below and above '/' sort around it");
    let page = b.list(&params("é", slash, None, 10)).await;
    assert_eq!(listed(&page.items), ["é"]);
    let page = b.list(&params("", slash, Some("é"), 10)).await;
    assert!(page.items.is_empty() && !page.is_truncated);
    let page = b.list(&params("", slash, None, 0)).await;
    assert!(page.items.is_empty() && !page.is_truncated);
}

#[tokio::test]
async fn long_listing_pages_through_scan_batches() {
    let Some(db) = TestDb::create().await else { return };
    let b = PgBucket::new(&db, Versioning::Unversioned).await;
    for i in 0..2500 {
        b.put(&format!("dir{}/k{i:05}", i % 3)).await.unwrap();
    }
    let page = b.list(&params("", Some("/"), None, 1000)).await;
    assert_eq!(listed(&page.items), ["dir0/*", "dir1/*", "dir2/*"]);
    let all = b.list(&params("dir1/", None, None, 1000)).await;
    assert_eq!(all.items.len(), 833);
    let mut after = None;
    let mut paged = Vec::new();
    loop {
        let p = b.list(&params("dir1/", None, after.as_deref(), 300)).await;
        paged.extend(listed(&p.items));
        if !p.is_truncated {
            break;
        }
        after = p.last_name().map(str::to_string);
    }
    assert_eq!(paged, listed(&all.items));
}

#[tokio::test]
async fn versions_page_with_markers() {
    let Some(db) = TestDb::create().await else { return };
    let b = PgBucket::new(&db, Versioning::Enabled).await;
    for k in ["a", "b", "b", "b"] {
        b.put(k).await.unwrap();
    }
    b.delete("a").await.unwrap();
    let mut p = VersionListParams { max_keys: 2, ..Default::default() };
    let mut got = Vec::new();
    loop {
        let page = b.versions(&p).await;
        for i in &page.items {
            if let ListItem::Object(o) = i {
                got.push((o.key.clone(), o.delete_marker, o.is_latest));
            }
        }
        if !page.is_truncated {
            break;
        }
        assert!(page.next_version_id_marker.is_some());
        p.key_marker = page.next_key_marker;
        p.version_id_marker = page.next_version_id_marker;
    }
    let want = [("a", true, true), ("a", false, false), ("a", false, false), ("b", false, true), ("b", false, false), ("b", false, false)];
    let want: Vec<_> = want.iter().map(|(k, d, l)| (k.to_string(), *d, *l)).collect();
    assert_eq!(got, want);
    let page = b.versions(&VersionListParams { key_marker: Some("a".into()), max_keys: 10, ..Default::default() }).await;
    assert_eq!(listed(&page.items), ["b", "b", "b"], "a key marker alone skips every version of the key");
    let gone = VersionListParams { key_marker: Some("a".into()), version_id_marker: Some("nope".into()), max_keys: 10, ..Default::default() };
    assert_eq!(listed(&b.versions(&gone).await.items), ["b", "b", "b"], "an unknown version marker continues after the key");
}

/// Keys with bytes on both sides of the delimiter, multi-byte characters and empty segments.
const AWKWARD: [&str; 16] = ["a", "a+b", "a.b", "a/", "a//b", "a/x", "a/y/z", "a0", "ab", "b/1", "b/c/3", "c", "é", "é/1", "z/é/1", "\u{ffff}/k"];

/// Common prefixes and points in between that markers name besides the keys themselves.
const BETWEEN: [&str; 6] = ["a/y/", "b/", "é/", "a/w", "", "zz"];

/// PostgreSQL lists exactly the pages SQLite lists, over keys with awkward bytes, versions and
/// delete markers, for every prefix, delimiter, marker and page size here.
#[tokio::test]
async fn pages_match_sqlite() {
    let Some(db) = TestDb::create().await else { return };
    let pg = PgBucket::new(&db, Versioning::Enabled).await;
    let t = crate::testutil::store().await;
    let sq = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    t.store.set_versioning(sq.id, Versioning::Enabled).await.unwrap();
    let sq = t.store.bucket("b").await.unwrap();
    for (i, k) in AWKWARD.iter().enumerate() {
        for _ in 0..=i % 3 {
            pg.put(k).await.unwrap();
            crate::testutil::put(&t, &sq, k, b"x").await.unwrap();
        }
        if i % 4 == 1 {
            pg.delete(k).await.unwrap();
            crate::testutil::put(&t, &sq, k, b"x").await.unwrap();
            t.store.delete_object(sq.id, k, None, Requester::default(), DeleteOptions::default()).await.unwrap();
        }
    }
    let mut compared = 0;
    for prefix in ["", "a", "a/", "b/", "é", "z/"] {
        for delimiter in [None, Some("/"), Some("b"), Some("//")] {
            for marker in std::iter::once(None).chain(AWKWARD.iter().chain(BETWEEN.iter()).map(Some)) {
                for max_keys in [0, 1, 2, 5, 1000] {
                    let p = params(prefix, delimiter, marker.copied(), max_keys);
                    let (mine, theirs) = (pg.list(&p).await, t.store.list_objects(sq.id, p.clone()).await.unwrap());
                    assert_eq!((listed(&mine.items), mine.is_truncated), (listed(&theirs.items), theirs.is_truncated), "{p:?}");
                    let vp = VersionListParams { prefix: p.prefix, delimiter: p.delimiter, key_marker: p.after, version_id_marker: None, max_keys };
                    assert_eq!(Backend::Pg(&pg).version_pages(&vp).await, Backend::Sqlite(&t, sq.id).version_pages(&vp).await, "{vp:?}");
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 6 * 4 * 23 * 5);
}

/// The index a version listing runs on.
enum Backend<'a> {
    Pg(&'a PgBucket),
    Sqlite(&'a crate::testutil::TestStore, i64),
}

impl Backend<'_> {
    async fn versions(&self, p: &VersionListParams) -> VersionPage {
        match self {
            Backend::Pg(b) => b.versions(p).await,
            Backend::Sqlite(t, bucket) => t.store.list_versions(*bucket, p.clone()).await.unwrap(),
        }
    }

    /// The pages of a version listing from `p` on (at most 8), without version ids (each
    /// backend makes its own): items and whether they are latest, the key marker, and whether a
    /// version marker follows.
    async fn version_pages(&self, p: &VersionListParams) -> Vec<(Vec<String>, Vec<bool>, Option<String>, bool)> {
        let mut p = p.clone();
        let mut pages = Vec::new();
        for _ in 0..8 {
            let page = self.versions(&p).await;
            let latest = page.items.iter().map(|i| matches!(i, ListItem::Object(o) if o.is_latest)).collect();
            pages.push((listed(&page.items), latest, page.next_key_marker.clone(), page.next_version_id_marker.is_some()));
            if !page.is_truncated {
                break;
            }
            p.key_marker = page.next_key_marker;
            p.version_id_marker = page.next_version_id_marker;
        }
        pages
    }
}

/// How long a page of 1,000 takes over 100,000 keys in 10 prefixes (and over 100,000 more in
/// 1,000 prefixes), and that its queries run on the listing indexes. `cargo test --release -p coffer-storage page_over_100k -- --nocapture`
#[tokio::test]
async fn page_over_100k_keys() {
    let Some(db) = TestDb::create().await else { return };
    let b = PgBucket::new(&db, Versioning::Unversioned).await;
    b.put("template").await.unwrap();
    let client = b.index.client().await.unwrap();
    // Writing 200k rows may outlast the index's statement timeout on a busy machine.
    client.batch_execute("SET statement_timeout = 0").await.unwrap();
    for (name, prefixes) in [("p", 10), ("q", 1000)] {
        client
            .execute(
                "INSERT INTO objects (bucket_id, key, version_id, is_latest, delete_marker, size, etag, modified_ms, owner_id, meta)
                 SELECT bucket_id, convert_to(format('%s%s/k%s', $2::text, i % $3, lpad(i::text, 6, '0')), 'UTF8'), version_id, is_latest,
                        delete_marker, size, etag, modified_ms, owner_id, meta
                 FROM objects, generate_series(0, 99999) AS i WHERE bucket_id = $1 AND key = 'template'::bytea",
                &[&b.id, &name, &prefixes],
            )
            .await
            .unwrap();
    }
    client.batch_execute("ANALYZE objects").await.unwrap();
    for (name, sql) in [
        ("latest", crate::postgres::listing::range_sql("key", "is_latest", true, "key")),
        ("versions", crate::postgres::listing::range_sql("key", "($5::bytea IS NULL OR key <> $5 OR seq < $6)", true, "key, seq DESC")),
    ] {
        client.batch_execute(&format!("PREPARE {name} AS {sql}")).await.unwrap();
        let args = if name == "latest" { "" } else { ", NULL, 0" };
        let plan = client.simple_query(&format!("EXPLAIN EXECUTE {name}({}, 'p3/', 'p30', 1001{args})", b.id)).await.unwrap();
        let plan: Vec<String> = plan.iter().filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        }).collect();
        let index = if name == "latest" { "objects_latest" } else { "objects_by_key_seq" };
        assert!(plan.iter().any(|l| l.contains(index)), "{name}: {plan:#?}");
    }
    let cases = [
        ("10 common prefixes", params("p", Some("/"), None, 1000), 10),
        ("1,000 common prefixes", params("q", Some("/"), None, 1000), 1000),
        ("1,000 keys of a prefix", params("p3/", None, None, 1000), 1000),
        ("1,000 keys of a prefix, with a delimiter", params("p3/", Some("/"), None, 1000), 1000),
        ("1,000 keys from a marker", params("p3/", None, Some("p3/k050003"), 1000), 1000),
        ("1,000 keys of the bucket", params("", None, None, 1000), 1000),
    ];
    for (what, p, items) in cases {
        let page = b.list(&p).await;
        assert_eq!(page.items.len(), items, "{what}");
        let started = std::time::Instant::now();
        for _ in 0..20 {
            b.list(&p).await;
        }
        println!("ListObjects, {what}: {:.2} ms a page", started.elapsed().as_secs_f64() * 1000.0 / 20.0);
    }
    let vp = VersionListParams { prefix: "p3/".into(), max_keys: 1000, ..Default::default() };
    let page = b.versions(&vp).await;
    assert_eq!(page.items.len(), 1000);
    let started = std::time::Instant::now();
    for _ in 0..20 {
        b.versions(&vp).await;
    }
    println!("ListObjectVersions, 1,000 versions of a prefix: {:.2} ms a page", started.elapsed().as_secs_f64() * 1000.0 / 20.0);
}
