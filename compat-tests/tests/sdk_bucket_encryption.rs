//! Bucket default encryption through the AWS Rust SDK: Put/Get/DeleteBucketEncryption round
//! trips, the error for a bucket without one, refused documents, and who may use them.

use coffer_compat_tests::aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::{assert_s3_error, TestServer};

const ALICE_KEY: &str = "ALICEACCESSKEY000001";
const ALICE_SECRET: &str = "alice-secret-key-0123456789abcdefghijklm";

fn config(algorithm: ServerSideEncryption, key_id: Option<&str>, bucket_key: Option<bool>) -> ServerSideEncryptionConfiguration {
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(algorithm)
        .set_kms_master_key_id(key_id.map(str::to_string))
        .build()
        .unwrap();
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(by_default)
        .set_bucket_key_enabled(bucket_key)
        .build();
    ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap()
}

/// The (algorithm, key id, bucket key) GetBucketEncryption reports.
async fn get(s3: &Client, bucket: &str) -> (String, Option<String>, Option<bool>) {
    let out = s3.get_bucket_encryption().bucket(bucket).send().await.unwrap();
    let rules = out.server_side_encryption_configuration().unwrap().rules();
    assert_eq!(rules.len(), 1, "{rules:?}");
    let by_default = rules[0].apply_server_side_encryption_by_default().unwrap();
    (by_default.sse_algorithm().as_str().to_string(), by_default.kms_master_key_id().map(str::to_string), rules[0].bucket_key_enabled())
}

#[tokio::test(flavor = "multi_thread")]
async fn put_get_delete_round_trip() {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("enc").send().await.unwrap();

    assert_s3_error(s3.get_bucket_encryption().bucket("enc").send().await, 404, "ServerSideEncryptionConfigurationNotFoundError");

    s3.put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(config(ServerSideEncryption::Aes256, None, None))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&s3, "enc").await, ("AES256".into(), None, Some(false)));

    // A second Put replaces the first.
    s3.put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(config(ServerSideEncryption::AwsKms, Some("app-key"), Some(true)))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&s3, "enc").await, ("aws:kms".into(), Some("app-key".into()), Some(true)));

    // aws:kms without a key id (the server's default KMS key).
    s3.put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(config(ServerSideEncryption::AwsKms, None, Some(false)))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&s3, "enc").await, ("aws:kms".into(), None, Some(false)));

    s3.delete_bucket_encryption().bucket("enc").send().await.unwrap();
    assert_s3_error(s3.get_bucket_encryption().bucket("enc").send().await, 404, "ServerSideEncryptionConfigurationNotFoundError");
    // Deleting again is fine, as in S3.
    s3.delete_bucket_encryption().bucket("enc").send().await.unwrap();

    assert_s3_error(s3.get_bucket_encryption().bucket("no-such-bucket").send().await, 404, "NoSuchBucket");
    assert_s3_error(
        s3.put_bucket_encryption()
            .bucket("no-such-bucket")
            .server_side_encryption_configuration(config(ServerSideEncryption::Aes256, None, None))
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_documents_change_nothing() {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("enc").send().await.unwrap();
    s3.put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(config(ServerSideEncryption::Aes256, None, Some(true)))
        .send()
        .await
        .unwrap();

    let put = |c: ServerSideEncryptionConfiguration| s3.put_bucket_encryption().bucket("enc").server_side_encryption_configuration(c).send();

    // No Rule at all.
    let empty = ServerSideEncryptionConfiguration::builder().set_rules(Some(vec![])).build().unwrap();
    assert_s3_error(put(empty).await, 400, "MalformedXML");
    // A Rule without ApplyServerSideEncryptionByDefault.
    let bare = ServerSideEncryptionConfiguration::builder()
        .rules(ServerSideEncryptionRule::builder().bucket_key_enabled(true).build())
        .build()
        .unwrap();
    assert_s3_error(put(bare).await, 400, "MalformedXML");
    // A KMS key only goes with aws:kms.
    assert_s3_error(put(config(ServerSideEncryption::Aes256, Some("app-key"), None)).await, 400, "InvalidArgument");
    // An algorithm Coffer does not offer.
    assert_s3_error(put(config(ServerSideEncryption::AwsKmsDsse, None, None)).await, 400, "InvalidArgument");
    // Content-MD5 that is not the body's.
    assert_s3_error(
        s3.put_bucket_encryption()
            .bucket("enc")
            .content_md5("AAAAAAAAAAAAAAAAAAAAAA==")
            .server_side_encryption_configuration(config(ServerSideEncryption::AwsKms, None, None))
            .send()
            .await,
        400,
        "BadDigest",
    );

    assert_eq!(get(&s3, "enc").await, ("AES256".into(), None, Some(true)));
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_owner_may_configure() {
    let server = TestServer::start();
    let root = server.client();
    root.create_bucket().bucket("roots").send().await.unwrap();
    root.put_bucket_encryption()
        .bucket("roots")
        .server_side_encryption_configuration(config(ServerSideEncryption::AwsKms, Some("root-key"), None))
        .send()
        .await
        .unwrap();

    server.create_user("alice", ALICE_KEY, ALICE_SECRET);
    let alice = server.client_with(ALICE_KEY, ALICE_SECRET);
    assert_s3_error(alice.get_bucket_encryption().bucket("roots").send().await, 403, "AccessDenied");
    assert_s3_error(
        alice
            .put_bucket_encryption()
            .bucket("roots")
            .server_side_encryption_configuration(config(ServerSideEncryption::Aes256, None, None))
            .send()
            .await,
        403,
        "AccessDenied",
    );
    assert_s3_error(alice.delete_bucket_encryption().bucket("roots").send().await, 403, "AccessDenied");

    assert_eq!(get(&root, "roots").await, ("aws:kms".into(), Some("root-key".into()), Some(false)));
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_bucket_forgets_its_configuration() {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("again").send().await.unwrap();
    s3.put_bucket_encryption()
        .bucket("again")
        .server_side_encryption_configuration(config(ServerSideEncryption::Aes256, None, None))
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket("again").send().await.unwrap();
    s3.create_bucket().bucket("again").send().await.unwrap();
    assert_s3_error(s3.get_bucket_encryption().bucket("again").send().await, 404, "ServerSideEncryptionConfigurationNotFoundError");
}
