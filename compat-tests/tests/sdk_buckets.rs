//! Bucket lifecycle through the AWS Rust SDK: create, list, head, delete, and their errors.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::{assert_http_error, assert_s3_error, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn create_list_head_delete_bucket() {
    let server = TestServer::start();
    let s3 = server.client();

    let before = s3.list_buckets().send().await.unwrap();
    assert!(before.buckets().is_empty(), "{:?}", before.buckets());

    let created = s3.create_bucket().bucket("alpha").send().await.unwrap();
    // S3 answers with the bucket's path in Location.
    assert_eq!(created.location(), Some("/alpha"));
    s3.create_bucket().bucket("beta-2").send().await.unwrap();

    let listed = s3.list_buckets().send().await.unwrap();
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["alpha", "beta-2"]);
    assert!(listed.buckets().iter().all(|b| b.creation_date().is_some()));
    assert!(listed.owner().and_then(|o| o.id()).is_some());

    s3.head_bucket().bucket("alpha").send().await.unwrap();
    let region = s3
        .get_bucket_location()
        .bucket("alpha")
        .send()
        .await
        .unwrap();
    // us-east-1 is reported as an empty LocationConstraint.
    assert!(
        region.location_constraint().is_none()
            || region.location_constraint().map(|c| c.as_str()) == Some(""),
        "{region:?}"
    );

    s3.delete_bucket().bucket("alpha").send().await.unwrap();
    assert_http_error(s3.head_bucket().bucket("alpha").send().await, 404);
    let listed = s3.list_buckets().send().await.unwrap();
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["beta-2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn recreate_own_bucket_in_us_east_1_succeeds() {
    // S3 in us-east-1 answers 200 to re-creating a bucket you own (a legacy it keeps);
    // Coffer, whose default region is us-east-1, does the same. The bucket is untouched.
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("twice").send().await.unwrap();
    s3.put_object().bucket("twice").key("k").body(b"kept".to_vec().into()).send().await.unwrap();
    s3.create_bucket().bucket("twice").send().await.unwrap();
    let got = s3.get_object().bucket("twice").key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_non_empty_bucket_is_bucket_not_empty() {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("full").send().await.unwrap();
    s3.put_object()
        .bucket("full")
        .key("thing")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_s3_error(
        s3.delete_bucket().bucket("full").send().await,
        409,
        "BucketNotEmpty",
    );
    s3.delete_object()
        .bucket("full")
        .key("thing")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket("full").send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_bucket_is_no_such_bucket() {
    let server = TestServer::start();
    let s3 = server.client();
    assert_s3_error(
        s3.delete_bucket().bucket("nowhere").send().await,
        404,
        "NoSuchBucket",
    );
    assert_s3_error(
        s3.list_objects_v2().bucket("nowhere").send().await,
        404,
        "NoSuchBucket",
    );
    assert_s3_error(
        s3.get_object().bucket("nowhere").key("k").send().await,
        404,
        "NoSuchBucket",
    );
    assert_s3_error(
        s3.put_object()
            .bucket("nowhere")
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
    // HEAD has no body, so only the status tells.
    assert_http_error(s3.head_bucket().bucket("nowhere").send().await, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_bucket_names_are_rejected() {
    let server = TestServer::start();
    let s3 = server.client();
    for name in [
        "ab",
        "Upper-Case",
        "under_score",
        "-leading-dash",
        "192.168.1.1",
    ] {
        assert_s3_error(
            s3.create_bucket().bucket(name).send().await,
            400,
            "InvalidBucketName",
        );
    }
    let listed = s3.list_buckets().send().await.unwrap();
    assert!(listed.buckets().is_empty());
}
