//! Listing through the AWS Rust SDK: ListObjectsV2 with prefixes, delimiters and continuation
//! tokens over 2,500 keys, ListObjects (v1) with markers, and ListObjectVersions.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::TestServer;
use futures::{StreamExt, TryStreamExt};

const BUCKET: &str = "listing";

/// 2,300 keys under `data/` and 200 under `dir/subN/`.
fn all_keys() -> Vec<String> {
    let mut keys: Vec<String> = (0..2300).map(|i| format!("data/{i:04}")).collect();
    for dir in 0..10 {
        for file in 0..20 {
            keys.push(format!("dir/sub{dir}/f{file:02}"));
        }
    }
    keys.sort();
    keys
}

async fn populated_server() -> (TestServer, Client, Vec<String>) {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let keys = all_keys();
    futures::stream::iter(keys.clone())
        .map(|key| {
            let s3 = s3.clone();
            async move {
                s3.put_object()
                    .bucket(BUCKET)
                    .key(&key)
                    .body(ByteStream::from(key.clone().into_bytes()))
                    .send()
                    .await
                    .map_err(|e| format!("put {key}: {e:?}"))
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    (server, s3, keys)
}

/// One ListObjectsV2 walk: (pages of keys, pages of common prefixes).
async fn walk_v2(
    s3: &Client,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    max_keys: Option<i32>,
) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mut key_pages = Vec::new();
    let mut prefix_pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .set_prefix(prefix.map(str::to_owned))
            .set_delimiter(delimiter.map(str::to_owned))
            .set_max_keys(max_keys)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        let keys: Vec<String> = out
            .contents()
            .iter()
            .map(|o| o.key().unwrap().to_owned())
            .collect();
        let prefixes: Vec<String> = out
            .common_prefixes()
            .iter()
            .map(|p| p.prefix().unwrap().to_owned())
            .collect();
        assert_eq!(
            out.key_count(),
            Some((keys.len() + prefixes.len()) as i32),
            "KeyCount counts keys and common prefixes"
        );
        assert_eq!(out.continuation_token(), token.as_deref());
        if let Some(max) = max_keys {
            assert!(keys.len() + prefixes.len() <= max as usize);
        }
        key_pages.push(keys);
        prefix_pages.push(prefixes);
        if out.is_truncated() == Some(true) {
            let next = out
                .next_continuation_token()
                .expect("truncated page has a NextContinuationToken");
            token = Some(next.to_owned());
        } else {
            assert!(out.next_continuation_token().is_none());
            break;
        }
        assert!(key_pages.len() < 100, "listing does not end");
    }
    (key_pages, prefix_pages)
}

fn sizes(pages: &[Vec<String>]) -> Vec<usize> {
    pages.iter().map(Vec::len).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn list_objects_v2_over_2500_keys() {
    let (_server, s3, keys) = populated_server().await;

    // Default page size is 1,000.
    let (pages, prefixes) = walk_v2(&s3, None, None, None).await;
    assert_eq!(sizes(&pages), [1000, 1000, 500]);
    assert!(prefixes.iter().all(Vec::is_empty));
    assert_eq!(pages.concat(), keys);

    // Odd page size within a prefix.
    let (pages, _) = walk_v2(&s3, Some("data/"), None, Some(333)).await;
    assert_eq!(sizes(&pages), [333, 333, 333, 333, 333, 333, 302]);
    let data_keys: Vec<String> = keys
        .iter()
        .filter(|k| k.starts_with("data/"))
        .cloned()
        .collect();
    assert_eq!(pages.concat(), data_keys);

    // Delimiter at the top level rolls everything up.
    let (pages, prefixes) = walk_v2(&s3, None, Some("/"), None).await;
    assert_eq!(pages.concat(), Vec::<String>::new());
    assert_eq!(prefixes.concat(), ["data/", "dir/"]);

    // Delimiter below a prefix.
    let (pages, prefixes) = walk_v2(&s3, Some("dir/"), Some("/"), None).await;
    assert!(pages.concat().is_empty());
    let expected: Vec<String> = (0..10).map(|d| format!("dir/sub{d}/")).collect();
    assert_eq!(prefixes.concat(), expected);

    // Common prefixes paginate too.
    let (pages, prefixes) = walk_v2(&s3, Some("dir/"), Some("/"), Some(3)).await;
    assert!(pages.concat().is_empty());
    assert_eq!(sizes(&prefixes), [3, 3, 3, 1]);
    assert_eq!(prefixes.concat(), expected);

    // A leaf directory.
    let (pages, prefixes) = walk_v2(&s3, Some("dir/sub3/"), Some("/"), None).await;
    let expected: Vec<String> = (0..20).map(|f| format!("dir/sub3/f{f:02}")).collect();
    assert_eq!(pages.concat(), expected);
    assert!(prefixes.concat().is_empty());

    // A prefix that matches nothing.
    let (pages, prefixes) = walk_v2(&s3, Some("nothing/"), Some("/"), None).await;
    assert_eq!(sizes(&pages), [0]);
    assert!(prefixes.concat().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn list_objects_v2_start_after_and_object_fields() {
    let (_server, s3, _keys) = populated_server().await;

    let out = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("data/")
        .start_after("data/2290")
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let expected: Vec<String> = (2291..2300).map(|i| format!("data/{i:04}")).collect();
    assert_eq!(got, expected);
    assert_eq!(out.start_after(), Some("data/2290"));
    assert_eq!(out.prefix(), Some("data/"));
    assert_eq!(out.name(), Some(BUCKET));

    let object = &out.contents()[0];
    // Each body is its own key.
    assert_eq!(object.size(), Some("data/2291".len() as i64));
    assert!(object
        .e_tag()
        .is_some_and(|e| e.starts_with('"') && e.len() == 34));
    assert!(object.last_modified().is_some());
    assert_eq!(object.storage_class().map(|c| c.as_str()), Some("STANDARD"));

    // fetch-owner adds the owner.
    let out = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .max_keys(1)
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    assert!(out.contents()[0].owner().and_then(|o| o.id()).is_some());

    // max-keys=0 lists no keys.
    let out = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn list_objects_v1_with_markers() {
    let (_server, s3, keys) = populated_server().await;

    // Without a delimiter there is no NextMarker: the last key is the next marker.
    let mut collected = Vec::new();
    let mut marker: Option<String> = None;
    let mut page_sizes = Vec::new();
    loop {
        let out = s3
            .list_objects()
            .bucket(BUCKET)
            .max_keys(700)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(out.marker().filter(|m| !m.is_empty()), marker.as_deref());
        let page: Vec<String> = out
            .contents()
            .iter()
            .map(|o| o.key().unwrap().to_owned())
            .collect();
        page_sizes.push(page.len());
        collected.extend(page);
        if out.is_truncated() == Some(true) {
            marker = Some(
                out.next_marker()
                    .map(str::to_owned)
                    .unwrap_or_else(|| collected.last().unwrap().clone()),
            );
        } else {
            break;
        }
        assert!(page_sizes.len() < 100, "listing does not end");
    }
    assert_eq!(page_sizes, [700, 700, 700, 400]);
    assert_eq!(collected, keys);

    // With a delimiter, a truncated page carries NextMarker.
    let out = s3
        .list_objects()
        .bucket(BUCKET)
        .prefix("dir/")
        .delimiter("/")
        .max_keys(4)
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(
        prefixes,
        ["dir/sub0/", "dir/sub1/", "dir/sub2/", "dir/sub3/"]
    );
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_marker(), Some("dir/sub3/"));
    let out = s3
        .list_objects()
        .bucket(BUCKET)
        .prefix("dir/")
        .delimiter("/")
        .marker("dir/sub3/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(
        prefixes,
        [
            "dir/sub4/",
            "dir/sub5/",
            "dir/sub6/",
            "dir/sub7/",
            "dir/sub8/",
            "dir/sub9/"
        ]
    );
    assert_eq!(out.is_truncated(), Some(false));

    // A marker in the middle of the data keys.
    let out = s3
        .list_objects()
        .bucket(BUCKET)
        .marker("data/2297")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, ["data/2298", "data/2299"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_object_versions_on_unversioned_bucket() {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    for key in ["v/a", "v/b", "w/c"] {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from_static(b"versioned?"))
            .send()
            .await
            .unwrap();
    }
    // Overwriting an unversioned key keeps one version.
    s3.put_object()
        .bucket(BUCKET)
        .key("v/a")
        .body(ByteStream::from_static(b"overwritten"))
        .send()
        .await
        .unwrap();

    let status = s3
        .get_bucket_versioning()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert!(status.status().is_none(), "{status:?}");

    let out = s3
        .list_object_versions()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let versions: Vec<(&str, &str, bool, i64)> = out
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap(),
                v.version_id().unwrap(),
                v.is_latest().unwrap(),
                v.size().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("v/a", "null", true, 11),
            ("v/b", "null", true, 10),
            ("w/c", "null", true, 10)
        ]
    );
    assert!(out.delete_markers().is_empty());

    let out = s3
        .list_object_versions()
        .bucket(BUCKET)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert!(out.versions().is_empty(), "{:?}", out.versions());
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["v/", "w/"]);
}
