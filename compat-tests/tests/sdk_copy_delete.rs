//! CopyObject (COPY and REPLACE directives, copies onto itself) and DeleteObjects through the
//! AWS Rust SDK.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{Delete, MetadataDirective, ObjectIdentifier};
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::{assert_s3_error, copy_source, TestServer};

const BUCKET: &str = "copies";

async fn server_with_bucket() -> (TestServer, Client) {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    (server, s3)
}

async fn put_with_meta(s3: &Client, key: &str, body: &'static [u8]) -> String {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from_static(body))
        .content_type("text/x-original")
        .metadata("origin", "source")
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string()
}

async fn body_of(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key:?}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_with_copy_directive_keeps_metadata() {
    let (_server, s3) = server_with_bucket().await;
    let etag = put_with_meta(&s3, "src.txt", b"copy me").await;

    let copied = s3
        .copy_object()
        .bucket(BUCKET)
        .key("dst.txt")
        .copy_source(copy_source(BUCKET, "src.txt"))
        .send()
        .await
        .unwrap();
    let result = copied.copy_object_result().expect("CopyObjectResult");
    assert_eq!(result.e_tag(), Some(etag.as_str()));
    assert!(result.last_modified().is_some());

    assert_eq!(body_of(&s3, BUCKET, "dst.txt").await, b"copy me");
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("dst.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/x-original"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("source")
    );
    assert_eq!(head.e_tag(), Some(etag.as_str()));

    // Explicit COPY behaves the same and ignores metadata sent with the request.
    s3.copy_object()
        .bucket(BUCKET)
        .key("dst2.txt")
        .copy_source(copy_source(BUCKET, "src.txt"))
        .metadata_directive(MetadataDirective::Copy)
        .metadata("ignored", "yes")
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("dst2.txt")
        .send()
        .await
        .unwrap();
    let meta = head.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("origin").map(String::as_str), Some("source"));
    assert!(!meta.contains_key("ignored"), "{meta:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_with_replace_directive_sets_new_metadata() {
    let (_server, s3) = server_with_bucket().await;
    put_with_meta(&s3, "src.txt", b"replace my metadata").await;

    s3.copy_object()
        .bucket(BUCKET)
        .key("dst.txt")
        .copy_source(copy_source(BUCKET, "src.txt"))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/x-replaced")
        .metadata("fresh", "value")
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("dst.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/x-replaced"));
    let meta = head.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("fresh").map(String::as_str), Some("value"));
    assert!(!meta.contains_key("origin"), "{meta:?}");
    assert_eq!(
        body_of(&s3, BUCKET, "dst.txt").await,
        b"replace my metadata"
    );

    // The source is untouched.
    let src = s3
        .head_object()
        .bucket(BUCKET)
        .key("src.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(src.content_type(), Some("text/x-original"));
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_onto_itself() {
    let (_server, s3) = server_with_bucket().await;
    let etag = put_with_meta(&s3, "self.txt", b"same object").await;

    // Without a change S3 refuses the copy.
    assert_s3_error(
        s3.copy_object()
            .bucket(BUCKET)
            .key("self.txt")
            .copy_source(copy_source(BUCKET, "self.txt"))
            .send()
            .await,
        400,
        "InvalidRequest",
    );

    // With REPLACE it is the way to change an object's metadata in place.
    let copied = s3
        .copy_object()
        .bucket(BUCKET)
        .key("self.txt")
        .copy_source(copy_source(BUCKET, "self.txt"))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-updated")
        .metadata("origin", "rewritten")
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.copy_object_result().and_then(|r| r.e_tag()),
        Some(etag.as_str())
    );
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("self.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/x-updated"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("rewritten")
    );
    assert_eq!(body_of(&s3, BUCKET, "self.txt").await, b"same object");
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_across_buckets_with_awkward_keys_and_errors() {
    let (_server, s3) = server_with_bucket().await;
    s3.create_bucket().bucket("other").send().await.unwrap();
    let key = "dir/with space+plus%percent/ключ.txt";
    put_with_meta(&s3, key, b"awkward source").await;

    s3.copy_object()
        .bucket("other")
        .key("copied/ключ copy.txt")
        .copy_source(copy_source(BUCKET, key))
        .send()
        .await
        .unwrap();
    assert_eq!(
        body_of(&s3, "other", "copied/ключ copy.txt").await,
        b"awkward source"
    );

    assert_s3_error(
        s3.copy_object()
            .bucket("other")
            .key("x")
            .copy_source(copy_source(BUCKET, "missing"))
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    assert_s3_error(
        s3.copy_object()
            .bucket("other")
            .key("x")
            .copy_source(copy_source("no-such-bucket", "missing"))
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
}

fn identifiers(keys: &[&str]) -> Vec<ObjectIdentifier> {
    keys.iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect()
}

async fn remaining_keys(s3: &Client) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_objects_verbose_and_quiet() {
    let (_server, s3) = server_with_bucket().await;
    for key in ["a", "b", "c", "d", "e", "keep"] {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }

    // Verbose: every requested key is reported deleted, including one that never existed.
    let out = s3
        .delete_objects()
        .bucket(BUCKET)
        .delete(
            Delete::builder()
                .set_objects(Some(identifiers(&["a", "b", "never-existed"])))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, ["a", "b", "never-existed"]);
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert_eq!(remaining_keys(&s3).await, ["c", "d", "e", "keep"]);

    // Quiet: successes are not reported.
    let out = s3
        .delete_objects()
        .bucket(BUCKET)
        .delete(
            Delete::builder()
                .set_objects(Some(identifiers(&["c", "d", "e"])))
                .quiet(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(out.deleted().is_empty(), "{:?}", out.deleted());
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert_eq!(remaining_keys(&s3).await, ["keep"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_objects_many_keys() {
    let (_server, s3) = server_with_bucket().await;
    let keys: Vec<String> = (0..150).map(|i| format!("bulk/{i:03}")).collect();
    for key in &keys {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from_static(b"bulk"))
            .send()
            .await
            .unwrap();
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let out = s3
        .delete_objects()
        .bucket(BUCKET)
        .delete(
            Delete::builder()
                .set_objects(Some(identifiers(&refs)))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 150);
    assert!(remaining_keys(&s3).await.is_empty());
}
