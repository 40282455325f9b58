//! Bucket versioning, ACLs (canned, grants, anonymous access) and tagging through the AWS Rust SDK, and the refusal of an
//! `Expect: 100-continue` upload before its body is sent.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{BucketCannedAcl, BucketVersioningStatus, ObjectCannedAcl, Permission, VersioningConfiguration};
use coffer_compat_tests::{assert_s3_error, TestServer};
use std::io::{Read, Write};

#[tokio::test(flavor = "multi_thread")]
async fn versioning_keeps_every_version_and_delete_markers() {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("versions").send().await.unwrap();
    let status = s3.get_bucket_versioning().bucket("versions").send().await.unwrap();
    assert!(status.status().is_none(), "a new bucket was never versioned");
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("versions").versioning_configuration(enabled).send().await.unwrap();
    let status = s3.get_bucket_versioning().bucket("versions").send().await.unwrap();
    assert_eq!(status.status(), Some(&BucketVersioningStatus::Enabled));

    let mut ids = Vec::new();
    for body in ["one", "two"] {
        let put = s3.put_object().bucket("versions").key("k").body(ByteStream::from_static(body.as_bytes())).send().await.unwrap();
        ids.push(put.version_id().unwrap().to_string());
    }
    assert_ne!(ids[0], ids[1]);
    let old = s3.get_object().bucket("versions").key("k").version_id(&ids[0]).send().await.unwrap();
    assert_eq!(old.body.collect().await.unwrap().into_bytes().as_ref(), b"one");

    let deleted = s3.delete_object().bucket("versions").key("k").send().await.unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    assert_s3_error(s3.get_object().bucket("versions").key("k").send().await, 404, "NoSuchKey");
    let listed = s3.list_object_versions().bucket("versions").send().await.unwrap();
    assert_eq!(listed.versions().len(), 2);
    assert_eq!(listed.delete_markers().len(), 1);
    assert!(listed.delete_markers()[0].is_latest().unwrap());

    // Removing the marker brings the newest version back.
    let marker = deleted.version_id().unwrap();
    s3.delete_object().bucket("versions").key("k").version_id(marker).send().await.unwrap();
    let back = s3.get_object().bucket("versions").key("k").send().await.unwrap();
    assert_eq!(back.version_id(), Some(ids[1].as_str()));
}

/// An anonymous GET of `path`: the status code.
fn anonymous_get(server: &TestServer, path: &str) -> u16 {
    let mut conn = std::net::TcpStream::connect(server.addr()).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr()).unwrap();
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_grant_reads_to_everyone_or_to_one_user() {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("acls").send().await.unwrap();
    s3.put_object().bucket("acls").key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();

    let acl = s3.get_bucket_acl().bucket("acls").send().await.unwrap();
    let owner_id = acl.owner().unwrap().id().unwrap().to_string();
    assert_eq!(acl.grants().len(), 1);
    assert_eq!(acl.grants()[0].permission(), Some(&Permission::FullControl));
    assert_eq!(acl.grants()[0].grantee().unwrap().id(), Some(owner_id.as_str()));

    // Private by default.
    assert_eq!(anonymous_get(&server, "/acls/k"), 403);
    assert_eq!(anonymous_get(&server, "/acls?list-type=2"), 403);
    s3.put_object_acl().bucket("acls").key("k").acl(ObjectCannedAcl::PublicRead).send().await.unwrap();
    assert_eq!(anonymous_get(&server, "/acls/k"), 200);
    let acl = s3.get_object_acl().bucket("acls").key("k").send().await.unwrap();
    assert_eq!(acl.grants().len(), 2);
    assert_eq!(anonymous_get(&server, "/acls?list-type=2"), 403, "the object's ACL does not open the bucket");
    s3.put_bucket_acl().bucket("acls").acl(BucketCannedAcl::PublicRead).send().await.unwrap();
    assert_eq!(anonymous_get(&server, "/acls?list-type=2"), 200);
    s3.put_object_acl().bucket("acls").key("k").acl(ObjectCannedAcl::Private).send().await.unwrap();
    assert_eq!(anonymous_get(&server, "/acls/k"), 403);
    assert_eq!(anonymous_get(&server, "/acls/missing"), 404, "a public bucket may say a key does not exist");

    // A grant to one user by canonical id.
    server.create_user("bob", "BOBACCESSKEY00000001", "bob-secret-key-0123456789abcdefghijklmn");
    let bob = server.client_with("BOBACCESSKEY00000001", "bob-secret-key-0123456789abcdefghijklmn");
    assert_s3_error(bob.get_object().bucket("acls").key("k").send().await, 403, "AccessDenied");
    let bob_id = bob.list_buckets().send().await.unwrap().owner().unwrap().id().unwrap().to_string();
    s3.put_object_acl().bucket("acls").key("k").grant_read(format!("id=\"{bob_id}\"")).send().await.unwrap();
    let got = bob.get_object().bucket("acls").key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"x");
    assert_s3_error(bob.put_object_acl().bucket("acls").key("k").acl(ObjectCannedAcl::PublicRead).send().await, 403, "AccessDenied");
    assert_s3_error(s3.get_object_acl().bucket("acls").key("missing").send().await, 404, "NoSuchKey");
}

/// Sends a request head with `Expect: 100-continue` and returns the first status line.
fn first_status_line(server: &TestServer, head: &str) -> String {
    let mut conn = std::net::TcpStream::connect(server.addr()).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    conn.write_all(head.as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = conn.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn expect_continue_is_refused_before_the_body_when_not_allowed() {
    let server = TestServer::start();
    server.client().create_bucket().bucket("guarded").send().await.unwrap();
    let head = format!(
        "PUT /guarded/obj HTTP/1.1\r\nHost: {}\r\nContent-Length: 1048576\r\nExpect: 100-continue\r\n\r\n",
        server.addr()
    );
    assert_eq!(first_status_line(&server, &head), "HTTP/1.1 403 Forbidden", "anonymous writes are refused at once");

    // A signed request to a bucket the caller owns is invited to send its body: the SDK's own
    // uploads (which send Expect: 100-continue for large bodies) succeed.
    let big = vec![7u8; 3 * 1024 * 1024];
    server.client().put_object().bucket("guarded").key("big").body(ByteStream::from(big.clone())).send().await.unwrap();
    let got = server.client().get_object().bucket("guarded").key("big").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), big.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn object_tags_from_header_api_and_copy() {
    use coffer_compat_tests::aws_sdk_s3::types::{Tag, Tagging, TaggingDirective};
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("tags").send().await.unwrap();
    s3.put_object().bucket("tags").key("k").tagging("foo=bar&empty").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let got = s3.get_object_tagging().bucket("tags").key("k").send().await.unwrap();
    let pairs: Vec<(&str, &str)> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("empty", ""), ("foo", "bar")]);
    let head = s3.head_object().bucket("tags").key("k").send().await.unwrap();
    assert!(head.e_tag().is_some());
    let get = s3.get_object().bucket("tags").key("k").send().await.unwrap();
    assert_eq!(get.tag_count(), Some(2));

    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    let set = Tagging::builder().tag_set(tag("z", "1")).tag_set(tag("a", "2")).build().unwrap();
    s3.put_object_tagging().bucket("tags").key("k").tagging(set).send().await.unwrap();
    let got = s3.get_object_tagging().bucket("tags").key("k").send().await.unwrap();
    let keys: Vec<&str> = got.tag_set().iter().map(|t| t.key()).collect();
    assert_eq!(keys, ["a", "z"]);

    // Copies keep the source's tags unless told to replace them.
    s3.copy_object().bucket("tags").key("copy").copy_source("tags/k").send().await.unwrap();
    assert_eq!(s3.get_object_tagging().bucket("tags").key("copy").send().await.unwrap().tag_set().len(), 2);
    s3.copy_object()
        .bucket("tags")
        .key("replaced")
        .copy_source("tags/k")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("only=one")
        .send()
        .await
        .unwrap();
    assert_eq!(s3.get_object_tagging().bucket("tags").key("replaced").send().await.unwrap().tag_set().len(), 1);

    s3.delete_object_tagging().bucket("tags").key("k").send().await.unwrap();
    assert!(s3.get_object_tagging().bucket("tags").key("k").send().await.unwrap().tag_set().is_empty());

    let eleven = (0..11).fold(Tagging::builder(), |b, i| b.tag_set(tag(&format!("k{i}"), "v"))).build().unwrap();
    assert_s3_error(s3.put_object_tagging().bucket("tags").key("k").tagging(eleven).send().await, 400, "InvalidTag");
    assert_s3_error(s3.get_object_tagging().bucket("tags").key("missing").send().await, 404, "NoSuchKey");
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_tags_set_get_delete() {
    use coffer_compat_tests::aws_sdk_s3::types::{Tag, Tagging};
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("btags").send().await.unwrap();
    assert_s3_error(s3.get_bucket_tagging().bucket("btags").send().await, 404, "NoSuchTagSet");
    let set = Tagging::builder()
        .tag_set(Tag::builder().key("team").value("storage").build().unwrap())
        .tag_set(Tag::builder().key("env").value("test").build().unwrap())
        .build()
        .unwrap();
    s3.put_bucket_tagging().bucket("btags").tagging(set).send().await.unwrap();
    let got = s3.get_bucket_tagging().bucket("btags").send().await.unwrap();
    let pairs: Vec<(&str, &str)> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("env", "test"), ("team", "storage")]);
    s3.delete_bucket_tagging().bucket("btags").send().await.unwrap();
    assert_s3_error(s3.get_bucket_tagging().bucket("btags").send().await, 404, "NoSuchTagSet");
    // Configuration goes with the bucket.
    s3.put_bucket_tagging()
        .bucket("btags")
        .tagging(Tagging::builder().tag_set(Tag::builder().key("k").value("v").build().unwrap()).build().unwrap())
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket("btags").send().await.unwrap();
}
