//! Authentication and ownership through the AWS Rust SDK: a second user made with
//! `coffer admin user create`, bad secrets and unknown access keys.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::{assert_s3_error, TestServer, ROOT_ACCESS_KEY};

const ALICE_KEY: &str = "ALICEACCESSKEY000001";
const ALICE_SECRET: &str = "alice-secret-key-0123456789abcdefghijklm";

#[tokio::test(flavor = "multi_thread")]
async fn second_user_is_denied_root_bucket() {
    let server = TestServer::start();
    let root = server.client();
    root.create_bucket()
        .bucket("root-only")
        .send()
        .await
        .unwrap();
    root.put_object()
        .bucket("root-only")
        .key("secret.txt")
        .body(ByteStream::from_static(b"root data"))
        .send()
        .await
        .unwrap();

    server.create_user("alice", ALICE_KEY, ALICE_SECRET);
    let alice = server.client_with(ALICE_KEY, ALICE_SECRET);

    // Alice is a valid user: she can make and use her own bucket.
    alice
        .create_bucket()
        .bucket("alice-bucket")
        .send()
        .await
        .unwrap();
    alice
        .put_object()
        .bucket("alice-bucket")
        .key("mine.txt")
        .body(ByteStream::from_static(b"alice data"))
        .send()
        .await
        .unwrap();
    let mine = alice
        .get_object()
        .bucket("alice-bucket")
        .key("mine.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &mine.body.collect().await.unwrap().into_bytes()[..],
        b"alice data"
    );

    // She sees only her own buckets.
    let listed = alice.list_buckets().send().await.unwrap();
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["alice-bucket"]);

    // And nothing of root's.
    assert_s3_error(
        alice
            .get_object()
            .bucket("root-only")
            .key("secret.txt")
            .send()
            .await,
        403,
        "AccessDenied",
    );
    assert_s3_error(
        alice
            .put_object()
            .bucket("root-only")
            .key("intruder.txt")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        "AccessDenied",
    );
    assert_s3_error(
        alice.list_objects_v2().bucket("root-only").send().await,
        403,
        "AccessDenied",
    );
    assert_s3_error(
        alice
            .delete_object()
            .bucket("root-only")
            .key("secret.txt")
            .send()
            .await,
        403,
        "AccessDenied",
    );
    assert_s3_error(
        alice.delete_bucket().bucket("root-only").send().await,
        403,
        "AccessDenied",
    );
    // The name is taken by someone else.
    assert_s3_error(
        alice.create_bucket().bucket("root-only").send().await,
        409,
        "BucketAlreadyExists",
    );

    // Root's object is still there, unchanged.
    let out = root
        .get_object()
        .bucket("root-only")
        .key("secret.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &out.body.collect().await.unwrap().into_bytes()[..],
        b"root data"
    );
    let keys = root
        .list_objects_v2()
        .bucket("root-only")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = keys.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["secret.txt"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secret_is_signature_does_not_match() {
    let server = TestServer::start();
    server
        .client()
        .create_bucket()
        .bucket("bucket-b")
        .send()
        .await
        .unwrap();
    let bad = server.client_with(ROOT_ACCESS_KEY, "not-the-right-secret-key-at-all-000000");
    assert_s3_error(
        bad.list_buckets().send().await,
        403,
        "SignatureDoesNotMatch",
    );
    assert_s3_error(
        bad.put_object()
            .bucket("bucket-b")
            .key("k")
            .body(ByteStream::from_static(b"payload"))
            .send()
            .await,
        403,
        "SignatureDoesNotMatch",
    );
    assert_s3_error(
        bad.get_object().bucket("bucket-b").key("k").send().await,
        403,
        "SignatureDoesNotMatch",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_access_key_is_invalid_access_key_id() {
    let server = TestServer::start();
    let stranger = server.client_with("NOSUCHACCESSKEY00000", "whatever-secret");
    assert_s3_error(
        stranger.list_buckets().send().await,
        403,
        "InvalidAccessKeyId",
    );
    assert_s3_error(
        stranger.create_bucket().bucket("nope").send().await,
        403,
        "InvalidAccessKeyId",
    );
}
