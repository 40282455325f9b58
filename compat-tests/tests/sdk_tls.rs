//! The AWS Rust SDK over HTTPS, with a CA and server certificate generated for the test; the
//! client trusts only that CA.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::{random_bytes, TestServer, TestTls};

#[tokio::test(flavor = "multi_thread")]
async fn put_get_over_https() {
    let tls = TestTls::generate();
    let server = TestServer::start_tls(&tls);
    assert!(server.endpoint().starts_with("https://"));
    let s3 = server.client();

    s3.create_bucket().bucket("secure").send().await.unwrap();
    let data = random_bytes(3 * 1024 * 1024 + 17);
    s3.put_object()
        .bucket("secure")
        .key("over/tls.bin")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("secure")
        .key("over/tls.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(data.len() as i64));
    let body = got.body.collect().await.unwrap().into_bytes();
    assert!(body[..] == data[..], "body differs over TLS");

    let listed = s3.list_objects_v2().bucket("secure").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["over/tls.bin"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_client_rejects_untrusted_certificate() {
    // The server presents a certificate from one CA; the client trusts only another.
    let server_tls = TestTls::generate();
    let other_ca = TestTls::generate();
    let server = TestServer::start_tls(&server_tls);
    let client = coffer_compat_tests::sdk_client(
        &server.endpoint(),
        coffer_compat_tests::ROOT_ACCESS_KEY,
        coffer_compat_tests::ROOT_SECRET_KEY,
        coffer_compat_tests::https_client_trusting(&other_ca.ca_cert_pem),
    );
    let err = client.list_buckets().send().await.unwrap_err();
    // A dispatch failure: no HTTP response at all.
    assert!(err.raw_response().is_none(), "{err:?}");
}
