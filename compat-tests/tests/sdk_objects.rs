//! Object reads and writes through the AWS Rust SDK: metadata round trips, large streamed
//! bodies, ranges, conditional requests, checksums, awkward keys and the "null" version.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::{assert_http_error, assert_s3_error, random_bytes, TestServer};
use coffer_crypto::checksum::{self, Checksum};
use md5::{Digest, Md5};

const BUCKET: &str = "objects";

async fn server_with_bucket() -> (TestServer, Client) {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    (server, s3)
}

fn quoted_md5(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

async fn put(s3: &Client, key: &str, data: Vec<u8>) -> String {
    let out = s3
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key:?}: {e:?}"));
    out.e_tag().expect("PUT returns an ETag").to_string()
}

async fn get_bytes(s3: &Client, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key:?}: {e:?}"));
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn put_get_head_delete_with_metadata_and_content_headers() {
    let (_server, s3) = server_with_bucket().await;
    let data = b"hello world".to_vec();

    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key("docs/hello.txt")
        .body(ByteStream::from(data.clone()))
        .content_type("text/plain; charset=utf-8")
        .cache_control("max-age=60")
        .content_disposition("attachment; filename=\"hello.txt\"")
        .content_encoding("identity")
        .content_language("en-GB")
        .metadata("color", "blue")
        .metadata("Mixed-Case", "Value With Spaces")
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag(), Some(quoted_md5(&data).as_str()));
    assert_eq!(put.e_tag(), Some("\"5eb63bbbe01eeed093cb22bb8f5acdc3\""));

    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("docs/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(11));
    assert_eq!(head.e_tag(), put.e_tag());
    assert_eq!(head.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"hello.txt\"")
    );
    assert_eq!(head.content_encoding(), Some("identity"));
    assert_eq!(head.content_language(), Some("en-GB"));
    assert!(head.last_modified().is_some());
    let meta = head.metadata().expect("user metadata");
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    // Metadata names are case-insensitive headers; S3 returns them lower-cased.
    assert_eq!(
        meta.get("mixed-case").map(String::as_str),
        Some("Value With Spaces")
    );
    assert_eq!(meta.len(), 2, "{meta:?}");

    let get = s3
        .get_object()
        .bucket(BUCKET)
        .key("docs/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(get.content_length(), Some(11));
    assert_eq!(get.e_tag(), put.e_tag());
    assert_eq!(get.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(get.cache_control(), Some("max-age=60"));
    assert_eq!(get.content_language(), Some("en-GB"));
    assert_eq!(get.accept_ranges(), Some("bytes"));
    assert_eq!(
        get.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("blue")
    );
    let body = get.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"hello world");

    // Overwrite replaces content and metadata.
    let put2 = s3
        .put_object()
        .bucket(BUCKET)
        .key("docs/hello.txt")
        .body(ByteStream::from_static(b"second version"))
        .send()
        .await
        .unwrap();
    assert_ne!(put2.e_tag(), put.e_tag());
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("docs/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(14));
    assert!(head.metadata().is_none_or(|m| m.is_empty()), "{head:?}");
    assert_eq!(get_bytes(&s3, "docs/hello.txt").await, b"second version");

    s3.delete_object()
        .bucket(BUCKET)
        .key("docs/hello.txt")
        .send()
        .await
        .unwrap();
    assert_s3_error(
        s3.get_object()
            .bucket(BUCKET)
            .key("docs/hello.txt")
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    assert_http_error(
        s3.head_object()
            .bucket(BUCKET)
            .key("docs/hello.txt")
            .send()
            .await,
        404,
    );
    // Deleting a key that is not there succeeds.
    s3.delete_object()
        .bucket(BUCKET)
        .key("docs/hello.txt")
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_object_round_trips() {
    let (_server, s3) = server_with_bucket().await;
    let etag = put(&s3, "empty", Vec::new()).await;
    assert_eq!(etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("empty")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(0));
    assert!(get_bytes(&s3, "empty").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn large_random_object_is_byte_exact_when_streamed() {
    let (_server, s3) = server_with_bucket().await;
    // Not a multiple of any plausible chunk size.
    let len = 24 * 1024 * 1024 + 12_345;
    let data = random_bytes(len);
    let etag = put(&s3, "big/random.bin", data.clone()).await;
    assert_eq!(etag, quoted_md5(&data));

    let get = s3
        .get_object()
        .bucket(BUCKET)
        .key("big/random.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(get.content_length(), Some(len as i64));
    let mut body = get.body;
    let mut offset = 0usize;
    let mut chunks = 0;
    while let Some(chunk) = body.try_next().await.unwrap() {
        assert!(offset + chunk.len() <= len, "body longer than the object");
        assert!(
            chunk[..] == data[offset..offset + chunk.len()],
            "mismatch in chunk starting at byte {offset}"
        );
        offset += chunk.len();
        chunks += 1;
    }
    assert_eq!(offset, len, "body ended early");
    assert!(chunks > 1, "a {len}-byte body should arrive in pieces");

    // Ranges that straddle likely chunk boundaries of the stored object.
    for (start, end) in [
        (0usize, 0usize),
        (65_535, 65_536),
        (1024 * 1024 - 7, 1024 * 1024 + 7),
        (8 * 1024 * 1024 - 1, 16 * 1024 * 1024 + 1),
        (len - 100, len - 1),
    ] {
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key("big/random.bin")
            .range(format!("bytes={start}-{end}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.content_range(),
            Some(format!("bytes {start}-{end}/{len}").as_str())
        );
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert!(
            bytes[..] == data[start..=end],
            "range {start}-{end} differs"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ranged_gets() {
    let (_server, s3) = server_with_bucket().await;
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    put(&s3, "ranged", data.clone()).await;

    let cases: [(&str, usize, usize); 5] = [
        ("bytes=0-99", 0, 99),
        ("bytes=100-100", 100, 100),
        ("bytes=900-", 900, 999),
        ("bytes=-50", 950, 999),
        // An end past the object is clipped to its last byte.
        ("bytes=990-5000", 990, 999),
    ];
    for (range, start, end) in cases {
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key("ranged")
            .range(range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{range}: {e:?}"));
        assert_eq!(
            got.content_range(),
            Some(format!("bytes {start}-{end}/1000").as_str()),
            "{range}"
        );
        assert_eq!(
            got.content_length(),
            Some((end - start + 1) as i64),
            "{range}"
        );
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(&bytes[..], &data[start..=end], "{range}");
    }

    // HEAD with a range reports the partial length too.
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("ranged")
        .range("bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(10));

    for range in ["bytes=1000-", "bytes=5000-6000"] {
        assert_s3_error(
            s3.get_object()
                .bucket(BUCKET)
                .key("ranged")
                .range(range)
                .send()
                .await,
            416,
            "InvalidRange",
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn conditional_gets() {
    let (_server, s3) = server_with_bucket().await;
    let etag = put(&s3, "cond", b"conditional body".to_vec()).await;
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("cond")
        .send()
        .await
        .unwrap();
    let last_modified = *head.last_modified().unwrap();
    let day_before = aws_smithy_types::DateTime::from_secs(last_modified.secs() - 86_400);

    let get = || s3.get_object().bucket(BUCKET).key("cond");

    // If-Match
    let ok = get().if_match(&etag).send().await.unwrap();
    assert_eq!(ok.e_tag(), Some(etag.as_str()));
    get().if_match("*").send().await.unwrap();
    assert_s3_error(
        get()
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        412,
        "PreconditionFailed",
    );

    // If-None-Match
    assert_http_error(get().if_none_match(&etag).send().await, 304);
    assert_http_error(get().if_none_match("*").send().await, 304);
    get()
        .if_none_match("\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await
        .unwrap();

    // If-Modified-Since
    assert_http_error(get().if_modified_since(last_modified).send().await, 304);
    get().if_modified_since(day_before).send().await.unwrap();

    // If-Unmodified-Since
    get()
        .if_unmodified_since(last_modified)
        .send()
        .await
        .unwrap();
    assert_s3_error(
        get().if_unmodified_since(day_before).send().await,
        412,
        "PreconditionFailed",
    );

    // HEAD obeys the same conditions (bodiless, so only the status).
    assert_http_error(
        s3.head_object()
            .bucket(BUCKET)
            .key("cond")
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        412,
    );
    assert_http_error(
        s3.head_object()
            .bucket(BUCKET)
            .key("cond")
            .if_none_match(&etag)
            .send()
            .await,
        304,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conditional_put_if_none_match_star() {
    let (_server, s3) = server_with_bucket().await;
    let put_once = |body: &'static [u8]| {
        s3.put_object()
            .bucket(BUCKET)
            .key("create-only")
            .if_none_match("*")
            .body(ByteStream::from_static(body))
            .send()
    };
    put_once(b"first").await.unwrap();
    assert_s3_error(put_once(b"second").await, 412, "PreconditionFailed");
    assert_eq!(get_bytes(&s3, "create-only").await, b"first");
}

#[tokio::test(flavor = "multi_thread")]
async fn awkward_keys_round_trip() {
    let (_server, s3) = server_with_bucket().await;
    let keys = [
        "with space",
        "  leading and trailing spaces  ",
        "unicode/ключ/日本語/🎉.txt",
        "dots/../up",
        "..",
        "a/./b",
        "plus+sign+key",
        "percent%20and%2Fslash",
        "query?x=1&y=2#frag",
        "semi;colon=eq,comma",
        "tilde~star*quote'paren()",
        "dir//double-slash",
        "trailing/",
        "back\\slash",
        "xml<&>\"chars",
    ];
    for key in keys {
        let data = format!("body of {key}").into_bytes();
        put(&s3, key, data.clone()).await;
        assert_eq!(get_bytes(&s3, key).await, data, "GET {key:?}");
        let head = s3
            .head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("HEAD {key:?}: {e:?}"));
        assert_eq!(head.content_length(), Some(data.len() as i64), "{key:?}");
        let listed = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("LIST {key:?}: {e:?}"));
        let listed: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert!(listed.contains(&key), "{key:?} not in {listed:?}");
    }

    // All of them, exactly, in byte order.
    let mut all = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(BUCKET).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        all.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(all, expected);

    for key in keys {
        s3.delete_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE {key:?}: {e:?}"));
    }
    let left = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert!(left.contents().is_empty(), "{:?}", left.contents());
}

#[tokio::test(flavor = "multi_thread")]
async fn unversioned_object_answers_to_version_null() {
    let (_server, s3) = server_with_bucket().await;
    put(&s3, "plain", b"unversioned".to_vec()).await;

    let get = s3
        .get_object()
        .bucket(BUCKET)
        .key("plain")
        .version_id("null")
        .send()
        .await
        .unwrap();
    let body = get.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"unversioned");
    s3.head_object()
        .bucket(BUCKET)
        .key("plain")
        .version_id("null")
        .send()
        .await
        .unwrap();

    let versions = s3
        .list_object_versions()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1, "{versions:?}");
    let v = &versions.versions()[0];
    assert_eq!(v.key(), Some("plain"));
    assert_eq!(v.version_id(), Some("null"));
    assert_eq!(v.is_latest(), Some(true));
    assert_eq!(v.size(), Some(11));
    assert!(versions.delete_markers().is_empty());

    // Deleting version "null" removes the object.
    s3.delete_object()
        .bucket(BUCKET)
        .key("plain")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert_s3_error(
        s3.get_object().bucket(BUCKET).key("plain").send().await,
        404,
        "NoSuchKey",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn checksums_round_trip() {
    let (_server, s3) = server_with_bucket().await;
    let data = random_bytes(300_000);

    for (algorithm, ours) in [
        (
            ChecksumAlgorithm::Crc32C,
            checksum::ChecksumAlgorithm::Crc32c,
        ),
        (
            ChecksumAlgorithm::Crc64Nvme,
            checksum::ChecksumAlgorithm::Crc64Nvme,
        ),
        (ChecksumAlgorithm::Crc32, checksum::ChecksumAlgorithm::Crc32),
        (
            ChecksumAlgorithm::Sha256,
            checksum::ChecksumAlgorithm::Sha256,
        ),
        (ChecksumAlgorithm::Sha1, checksum::ChecksumAlgorithm::Sha1),
    ] {
        let expected = Checksum::compute(ours, &data).to_base64();
        let key = format!("sum/{}", ours.as_str());
        let put = s3
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT with {algorithm:?}: {e:?}"));
        let returned = |crc32: Option<&str>,
                        crc32c: Option<&str>,
                        crc64: Option<&str>,
                        sha1: Option<&str>,
                        sha256: Option<&str>| match ours {
            checksum::ChecksumAlgorithm::Crc32 => crc32.map(str::to_owned),
            checksum::ChecksumAlgorithm::Crc32c => crc32c.map(str::to_owned),
            checksum::ChecksumAlgorithm::Crc64Nvme => crc64.map(str::to_owned),
            checksum::ChecksumAlgorithm::Sha1 => sha1.map(str::to_owned),
            checksum::ChecksumAlgorithm::Sha256 => sha256.map(str::to_owned),
        };
        assert_eq!(
            returned(
                put.checksum_crc32(),
                put.checksum_crc32_c(),
                put.checksum_crc64_nvme(),
                put.checksum_sha1(),
                put.checksum_sha256()
            ),
            Some(expected.clone()),
            "PUT response for {algorithm:?}"
        );

        let get = s3
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            returned(
                get.checksum_crc32(),
                get.checksum_crc32_c(),
                get.checksum_crc64_nvme(),
                get.checksum_sha1(),
                get.checksum_sha256()
            ),
            Some(expected.clone()),
            "GET response for {algorithm:?}"
        );
        // The SDK validates the body against the returned checksum while reading it.
        let body = get.body.collect().await.unwrap().into_bytes();
        assert!(body[..] == data[..]);

        let head = s3
            .head_object()
            .bucket(BUCKET)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            returned(
                head.checksum_crc32(),
                head.checksum_crc32_c(),
                head.checksum_crc64_nvme(),
                head.checksum_sha1(),
                head.checksum_sha256()
            ),
            Some(expected),
            "HEAD response for {algorithm:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_checksum_is_rejected() {
    let (_server, s3) = server_with_bucket().await;
    // A well-formed CRC32 that is not the CRC32 of the body.
    let wrong = Checksum::compute(checksum::ChecksumAlgorithm::Crc32, b"other").to_base64();
    let result = s3
        .put_object()
        .bucket(BUCKET)
        .key("bad-sum")
        .checksum_crc32(wrong)
        .body(ByteStream::from_static(b"the actual body"))
        .send()
        .await;
    assert_s3_error(result, 400, "BadDigest");
    assert_s3_error(
        s3.get_object().bucket(BUCKET).key("bad-sum").send().await,
        404,
        "NoSuchKey",
    );
}
