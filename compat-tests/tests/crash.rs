//! Crash safety: the server is killed with SIGKILL while uploads are half sent, then started
//! again on the same data dir. Every key holds its old or its new bytes, never a mixture,
//! and nothing staged by the dead uploads is left behind.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::{random_bytes, TestServer};
use std::io::Write;
use std::time::Duration;

fn staged_files(server: &TestServer) -> usize {
    std::fs::read_dir(server.data_dir().join("tmp")).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_uploads_leaves_old_versions_whole() {
    let mut server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("crash").send().await.unwrap();
    let old_large = random_bytes(3 * 1024 * 1024);
    let old_small = random_bytes(1000);
    s3.put_object().bucket("crash").key("large").body(ByteStream::from(old_large.clone())).send().await.unwrap();
    s3.put_object().bucket("crash").key("small").body(ByteStream::from(old_small.clone())).send().await.unwrap();

    // Half-sent replacements: the head and part of the body, then the server dies.
    let mut open = Vec::new();
    for (key, declared) in [("large", 8 * 1024 * 1024usize), ("small", 4000)] {
        let mut conn = std::net::TcpStream::connect(server.addr()).unwrap();
        let presigned = s3
            .put_object()
            .bucket("crash")
            .key(key)
            .presigned(
                coffer_compat_tests::aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap(),
            )
            .await
            .unwrap();
        let path = presigned.uri().trim_start_matches(&server.endpoint()).to_string();
        let head = format!("PUT {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {declared}\r\n\r\n", server.addr());
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(&vec![0xAB; declared / 2]).unwrap();
        open.push(conn);
    }
    std::thread::sleep(Duration::from_millis(300));
    server.crash_and_restart();
    drop(open);

    let s3 = server.client();
    for (key, want) in [("large", &old_large), ("small", &old_small)] {
        let got = s3.get_object().bucket("crash").key(key).send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), want.as_slice(), "{key} keeps its old bytes");
    }
    assert_eq!(staged_files(&server), 0, "staging files of the dead uploads are removed at start-up");

    // The store goes on working after the crash.
    let new_large = random_bytes(2 * 1024 * 1024 + 17);
    s3.put_object().bucket("crash").key("large").body(ByteStream::from(new_large.clone())).send().await.unwrap();
    let many: Vec<String> = (0..50).map(|i| format!("small-{i}")).collect();
    for key in &many {
        s3.put_object().bucket("crash").key(key).body(ByteStream::from(key.as_bytes().to_vec())).send().await.unwrap();
    }

    // What was acknowledged survives the next crash.
    server.crash_and_restart();
    let s3 = server.client();
    let got = s3.get_object().bucket("crash").key("large").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), new_large.as_slice());
    for key in &many {
        let got = s3.get_object().bucket("crash").key(key).send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), key.as_bytes());
    }
}
