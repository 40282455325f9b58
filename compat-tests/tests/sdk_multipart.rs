//! Multipart uploads through the AWS Rust SDK: the multipart ETag, full-object CRC64NVME and
//! CRC32C checksums, parts read back with partNumber, UploadPartCopy, listings, and errors.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart, ObjectAttributes,
};
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::{assert_s3_error, copy_source, random_bytes, TestServer};
use coffer_crypto::checksum::{Checksum, ChecksumAlgorithm as Alg};
use md5::{Digest, Md5};

const BUCKET: &str = "multi";
const MIB: usize = 1024 * 1024;

async fn server_with_bucket() -> (TestServer, Client) {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    (server, s3)
}

async fn create(s3: &Client, key: &str) -> String {
    s3.create_multipart_upload().bucket(BUCKET).key(key).send().await.unwrap().upload_id.unwrap()
}

/// Uploads one part and returns it as Complete lists it (with its checksum, if any).
async fn upload(s3: &Client, key: &str, id: &str, number: i32, data: &[u8]) -> CompletedPart {
    let out = s3
        .upload_part()
        .bucket(BUCKET)
        .key(key)
        .upload_id(id)
        .part_number(number)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap();
    CompletedPart::builder()
        .part_number(number)
        .e_tag(out.e_tag.unwrap())
        .set_checksum_crc32(out.checksum_crc32)
        .set_checksum_crc32_c(out.checksum_crc32_c)
        .set_checksum_crc64_nvme(out.checksum_crc64_nvme)
        .build()
}

fn parts(list: Vec<CompletedPart>) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder().set_parts(Some(list)).build()
}

async fn body_of(s3: &Client, key: &str, part: Option<i32>) -> Vec<u8> {
    let out = s3.get_object().bucket(BUCKET).key(key).set_part_number(part).send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

fn multipart_etag(pieces: &[&[u8]]) -> String {
    let mut md5 = Md5::new();
    for p in pieces {
        md5.update(Md5::digest(p));
    }
    format!("\"{}-{}\"", hex(&md5.finalize()), pieces.len())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_complete_and_read_parts_back() {
    let (_server, s3) = server_with_bucket().await;
    let (a, b, c) = (random_bytes(5 * MIB), random_bytes(5 * MIB), random_bytes(1000));
    let id = create(&s3, "big").await;
    // Part 2 is uploaded twice: the second upload replaces the first.
    upload(&s3, "big", &id, 2, &random_bytes(5 * MIB)).await;
    let list = vec![upload(&s3, "big", &id, 1, &a).await, upload(&s3, "big", &id, 2, &b).await, upload(&s3, "big", &id, 3, &c).await];
    let done =
        s3.complete_multipart_upload().bucket(BUCKET).key("big").upload_id(&id).multipart_upload(parts(list.clone())).send().await.unwrap();
    assert_eq!(done.e_tag.as_deref(), Some(multipart_etag(&[&a, &b, &c]).as_str()));

    let whole = [a.clone(), b.clone(), c.clone()].concat();
    assert_eq!(body_of(&s3, "big", None).await, whole);
    assert_eq!(body_of(&s3, "big", Some(2)).await, b);
    assert_eq!(body_of(&s3, "big", Some(3)).await, c);
    let head = s3.head_object().bucket(BUCKET).key("big").part_number(1).send().await.unwrap();
    assert_eq!((head.parts_count, head.content_length), (Some(3), Some(5 * MIB as i64)));
    assert_s3_error(s3.get_object().bucket(BUCKET).key("big").part_number(4).send().await, 400, "InvalidPart");

    // A repeated Complete returns the same result; the upload is gone for everything else.
    let again = s3.complete_multipart_upload().bucket(BUCKET).key("big").upload_id(&id).multipart_upload(parts(list)).send().await.unwrap();
    assert_eq!(again.e_tag, done.e_tag);
    assert_s3_error(s3.list_parts().bucket(BUCKET).key("big").upload_id(&id).send().await, 404, "NoSuchUpload");
}

/// Uploads three parts with `algorithm` as a FULL_OBJECT checksum and checks the object's
/// checksum equals the one computed over all its bytes.
async fn full_object_checksum(algorithm: ChecksumAlgorithm, alg: Alg) {
    let (_server, s3) = server_with_bucket().await;
    let key = format!("full-{}", alg.as_str());
    let id = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(&key)
        .checksum_algorithm(algorithm.clone())
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let pieces = [random_bytes(5 * MIB), random_bytes(5 * MIB), random_bytes(123_457)];
    let mut list = Vec::new();
    for (i, data) in pieces.iter().enumerate() {
        let out = s3
            .upload_part()
            .bucket(BUCKET)
            .key(&key)
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        list.push(
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(out.e_tag.unwrap())
                .set_checksum_crc32_c(out.checksum_crc32_c)
                .set_checksum_crc64_nvme(out.checksum_crc64_nvme)
                .build(),
        );
    }
    let done = s3.complete_multipart_upload().bucket(BUCKET).key(&key).upload_id(&id).multipart_upload(parts(list)).send().await.unwrap();
    let expected = Checksum::compute(alg, &pieces.concat()).to_base64();
    let got = done.checksum_crc64_nvme.or(done.checksum_crc32_c);
    assert_eq!(got.as_deref(), Some(expected.as_str()));
    assert_eq!(done.checksum_type, Some(ChecksumType::FullObject));

    let head = s3.head_object().bucket(BUCKET).key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.checksum_crc64_nvme.or(head.checksum_crc32_c).as_deref(), Some(expected.as_str()));
    let attrs = s3
        .get_object_attributes()
        .bucket(BUCKET)
        .key(&key)
        .object_attributes(ObjectAttributes::Checksum)
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_size, Some(pieces.iter().map(Vec::len).sum::<usize>() as i64));
    assert_eq!(attrs.object_parts.unwrap().total_parts_count, Some(3));
    assert_eq!(attrs.checksum.unwrap().checksum_type, Some(ChecksumType::FullObject));
}

#[tokio::test(flavor = "multi_thread")]
async fn full_object_crc64nvme() {
    full_object_checksum(ChecksumAlgorithm::Crc64Nvme, Alg::Crc64Nvme).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn full_object_crc32c() {
    full_object_checksum(ChecksumAlgorithm::Crc32C, Alg::Crc32c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn crc64nvme_cannot_be_composite() {
    let (_server, s3) = server_with_bucket().await;
    let refused = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .checksum_type(ChecksumType::Composite)
        .send()
        .await;
    assert_s3_error(refused, 400, "InvalidRequest");
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_part_copy_between_buckets() {
    let (_server, s3) = server_with_bucket().await;
    s3.create_bucket().bucket("source").send().await.unwrap();
    let data = random_bytes(7 * MIB);
    s3.put_object().bucket("source").key("src").body(ByteStream::from(data.clone())).send().await.unwrap();
    let id = create(&s3, "dst").await;
    let copy = |n: i32, range: Option<String>| {
        s3.upload_part_copy()
            .bucket(BUCKET)
            .key("dst")
            .upload_id(&id)
            .part_number(n)
            .copy_source(copy_source("source", "src"))
            .set_copy_source_range(range)
            .send()
    };
    let first = copy(1, Some(format!("bytes=0-{}", 5 * MIB - 1))).await.unwrap().copy_part_result.unwrap();
    let second = copy(2, Some(format!("bytes={}-{}", 5 * MIB, data.len() - 1))).await.unwrap().copy_part_result.unwrap();
    assert_s3_error(copy(3, Some(format!("bytes=0-{}", data.len()))).await, 416, "InvalidRange");
    let list = vec![
        CompletedPart::builder().part_number(1).e_tag(first.e_tag.unwrap()).build(),
        CompletedPart::builder().part_number(2).e_tag(second.e_tag.unwrap()).build(),
    ];
    s3.complete_multipart_upload().bucket(BUCKET).key("dst").upload_id(&id).multipart_upload(parts(list)).send().await.unwrap();
    assert_eq!(body_of(&s3, "dst", None).await, data);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_parts_and_uploads_paginate() {
    let (_server, s3) = server_with_bucket().await;
    let id = create(&s3, "paged").await;
    for n in 1..=5 {
        upload(&s3, "paged", &id, n, b"tiny").await;
    }
    let page = s3.list_parts().bucket(BUCKET).key("paged").upload_id(&id).max_parts(2).send().await.unwrap();
    assert_eq!(page.is_truncated, Some(true));
    assert_eq!(page.parts().iter().map(|p| p.part_number.unwrap()).collect::<Vec<_>>(), [1, 2]);
    let rest = s3
        .list_parts()
        .bucket(BUCKET)
        .key("paged")
        .upload_id(&id)
        .part_number_marker(page.next_part_number_marker.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.parts().iter().map(|p| p.part_number.unwrap()).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(rest.is_truncated, Some(false));

    for key in ["a/1", "a/2", "b", "c"] {
        create(&s3, key).await;
    }
    create(&s3, "b").await;
    let all = s3.list_multipart_uploads().bucket(BUCKET).send().await.unwrap();
    let keys: Vec<&str> = all.uploads().iter().map(|u| u.key().unwrap()).collect();
    assert_eq!(keys, ["a/1", "a/2", "b", "b", "c", "paged"]);
    let folded = s3.list_multipart_uploads().bucket(BUCKET).delimiter("/").send().await.unwrap();
    assert_eq!(folded.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect::<Vec<_>>(), ["a/"]);

    let mut seen = Vec::new();
    let (mut key_marker, mut id_marker) = (None, None);
    loop {
        let page = s3
            .list_multipart_uploads()
            .bucket(BUCKET)
            .max_uploads(2)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .unwrap();
        seen.extend(page.uploads().iter().map(|u| u.upload_id().unwrap().to_string()));
        if page.is_truncated != Some(true) {
            break;
        }
        (key_marker, id_marker) = (page.next_key_marker, page.next_upload_id_marker);
    }
    let expected: Vec<String> = all.uploads().iter().map(|u| u.upload_id().unwrap().to_string()).collect();
    assert_eq!(seen, expected);

    // encoding-type=url encodes keys, prefixes and markers (the SDK does not decode them).
    create(&s3, "d/x y+z").await;
    let encoded = s3
        .list_multipart_uploads()
        .bucket(BUCKET)
        .prefix("d/x y")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(encoded.uploads().iter().map(|u| u.key().unwrap()).collect::<Vec<_>>(), ["d/x%20y%2Bz"]);
    assert_eq!(encoded.prefix(), Some("d/x%20y"));
    assert_eq!(encoded.encoding_type(), Some(&aws_sdk_s3::types::EncodingType::Url));
    let plain = s3.list_multipart_uploads().bucket(BUCKET).prefix("d/").send().await.unwrap();
    assert_eq!(plain.uploads().iter().map(|u| u.key().unwrap()).collect::<Vec<_>>(), ["d/x y+z"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_error_on_purpose() {
    let (_server, s3) = server_with_bucket().await;
    let id = create(&s3, "e").await;
    let small = upload(&s3, "e", &id, 1, &random_bytes(1000)).await;
    let last = upload(&s3, "e", &id, 2, &random_bytes(1000)).await;
    let complete = |list: Vec<CompletedPart>| {
        s3.complete_multipart_upload().bucket(BUCKET).key("e").upload_id(&id).multipart_upload(parts(list)).send()
    };

    assert_s3_error(complete(vec![small.clone(), last.clone()]).await, 400, "EntityTooSmall");
    assert_s3_error(complete(vec![last.clone(), small.clone()]).await, 400, "InvalidPartOrder");
    let unknown = CompletedPart::builder().part_number(9).e_tag(small.e_tag.clone().unwrap()).build();
    assert_s3_error(complete(vec![unknown]).await, 400, "InvalidPart");
    let wrong_etag = CompletedPart::builder().part_number(1).e_tag("\"0123456789abcdef0123456789abcdef\"").build();
    assert_s3_error(complete(vec![wrong_etag]).await, 400, "InvalidPart");
    let bad_number =
        s3.upload_part().bucket(BUCKET).key("e").upload_id(&id).part_number(10_001).body(ByteStream::from_static(b"x")).send().await;
    assert_s3_error(bad_number, 400, "InvalidArgument");

    s3.abort_multipart_upload().bucket(BUCKET).key("e").upload_id(&id).send().await.unwrap();
    assert_s3_error(complete(vec![small]).await, 404, "NoSuchUpload");
    let after_abort =
        s3.upload_part().bucket(BUCKET).key("e").upload_id(&id).part_number(1).body(ByteStream::from_static(b"x")).send().await;
    assert_s3_error(after_abort, 404, "NoSuchUpload");
    assert_s3_error(s3.abort_multipart_upload().bucket(BUCKET).key("e").upload_id(&id).send().await, 404, "NoSuchUpload");
}
