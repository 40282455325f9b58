//! Memory stays bounded whatever the object size: a 2 GiB PUT and GET through the Rust SDK
//! keep the server's peak resident memory under 200 MiB.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::TestServer;
use std::io::{Seek, SeekFrom, Write};

const SIZE: u64 = 2 * 1024 * 1024 * 1024;
const RSS_LIMIT: u64 = 200 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn two_gib_object_streams_through_bounded_memory() {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("big").send().await.unwrap();

    // A sparse file reads as zeros without using the disk; the server sees 2 GiB of bytes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let mut f = std::fs::File::create(&path).unwrap();
    f.set_len(SIZE - 1).unwrap();
    f.seek(SeekFrom::End(0)).unwrap();
    f.write_all(&[1]).unwrap();
    drop(f);

    let body = ByteStream::from_path(&path).await.unwrap();
    let put = s3.put_object().bucket("big").key("big.bin").content_length(SIZE as i64).body(body).send().await.unwrap();
    assert!(put.e_tag().is_some());

    let got = s3.get_object().bucket("big").key("big.bin").send().await.unwrap();
    assert_eq!(got.content_length(), Some(SIZE as i64));
    let mut stream = got.body;
    let (mut total, mut last) = (0u64, 0u8);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        total += chunk.len() as u64;
        if let Some(b) = chunk.last() {
            last = *b;
        }
    }
    assert_eq!(total, SIZE);
    assert_eq!(last, 1, "the last byte comes back");
    let peak = server.peak_rss();
    assert!(peak < RSS_LIMIT, "server peak RSS {} MiB is over {} MiB", peak >> 20, RSS_LIMIT >> 20);
}
