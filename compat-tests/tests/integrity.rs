//! Verified reads and full disks, with aws-sdk-s3 against the real binary: altered bytes on
//! disk are never served as good data, and a full disk fails writes with 507 and heals itself.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::{error_code, http_status, random_bytes, TestServer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

fn blob_path(server: &TestServer, bytes: &[u8]) -> PathBuf {
    let hex = hex::encode(Sha256::digest(bytes));
    server.data_dir().join("blobs").join(&hex[0..2]).join(&hex[2..4]).join(hex)
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

/// The whole object, or the error that ended it (at the response or in the body).
async fn get_all(s3: &Client, bucket: &str, key: &str, range: Option<&str>) -> Result<Vec<u8>, String> {
    let resp = s3.get_object().bucket(bucket).key(key).set_range(range.map(str::to_string)).send().await;
    let resp = resp.map_err(|e| format!("status {:?} code {:?}", http_status(&e), error_code(&e)))?;
    let body = resp.body.collect().await.map_err(|e| format!("body: {e}"))?;
    Ok(body.into_bytes().to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn altered_bytes_on_disk_are_never_served() {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("rot").send().await.unwrap();

    // One blob of 3 MiB: the error comes after the first chunks, and never as a clean end.
    let large = random_bytes(3 * 1024 * 1024 + 5);
    s3.put_object().bucket("rot").key("large").body(ByteStream::from(large.clone())).send().await.unwrap();
    // Just above the inline threshold: one chunk, so the error is a 500 before any body.
    let medium = random_bytes(100 * 1024);
    s3.put_object().bucket("rot").key("medium").body(ByteStream::from(medium.clone())).send().await.unwrap();
    // A multipart object: its second part is altered.
    let (part1, part2) = (random_bytes(5 * 1024 * 1024), random_bytes(1024 * 1024));
    let upload = s3.create_multipart_upload().bucket("rot").key("parts").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let mut done = Vec::new();
    for (n, data) in [(1, &part1), (2, &part2)] {
        let p = s3.upload_part().bucket("rot").key("parts").upload_id(id).part_number(n).body(ByteStream::from(data.clone())).send().await.unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(p.e_tag().unwrap()).build());
    }
    let parts = CompletedMultipartUpload::builder().set_parts(Some(done)).build();
    s3.complete_multipart_upload().bucket("rot").key("parts").upload_id(id).multipart_upload(parts).send().await.unwrap();
    // An inline object, altered in the index row itself.
    let small = b"a small object kept inside the index".to_vec();
    s3.put_object().bucket("rot").key("small").body(ByteStream::from(small.clone())).send().await.unwrap();

    for (key, want) in [("large", &large), ("medium", &medium), ("small", &small)] {
        assert_eq!(&get_all(&s3, "rot", key, None).await.unwrap(), want, "{key} reads back before the damage");
    }

    flip_byte(&blob_path(&server, &large), 2 * 1024 * 1024 + 3);
    flip_byte(&blob_path(&server, &medium), 77);
    flip_byte(&blob_path(&server, &part2), 1000);
    let db = rusqlite::Connection::open(server.data_dir().join("index.sqlite")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let changed = db.execute("UPDATE inline_bodies SET data = ?1 WHERE data = ?2", [&b"A small object kept inside the index"[..], &small[..]]).unwrap();
    assert_eq!(changed, 1);

    let err = get_all(&s3, "rot", "large", None).await.unwrap_err();
    assert!(err.starts_with("body:"), "large: the status went out, the body must fail: {err}");
    let err = get_all(&s3, "rot", "medium", None).await.unwrap_err();
    assert!(err.contains("500") && err.contains("InternalError"), "medium: {err}");
    let err = get_all(&s3, "rot", "parts", None).await.unwrap_err();
    assert!(err.starts_with("body:"), "parts: {err}");
    let err = get_all(&s3, "rot", "small", None).await.unwrap_err();
    assert!(err.contains("500"), "small: {err}");

    // Ranges of untouched bytes still read (ranges of a blob are left to the scrubber).
    assert_eq!(get_all(&s3, "rot", "large", Some("bytes=0-99999")).await.unwrap(), &large[..100_000]);
    assert_eq!(get_all(&s3, "rot", "parts", Some("bytes=0-5242879")).await.unwrap(), part1);

    let log = server.log();
    for data in [&large[..], &medium[..], &part2[..], &small[..]] {
        let hash = hex::encode(Sha256::digest(data));
        assert!(log.contains(&hash), "the log names corrupt blob {hash}:\n{log}");
    }
}

/// A tmpfs of its own, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir.path()).output();
        match out {
            Ok(o) if o.status.success() => Some(SmallDisk { dir }),
            Ok(o) => {
                eprintln!("SKIPPED: cannot mount a tmpfs (needs root): {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn is_full<E: coffer_compat_tests::aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>(
    err: &coffer_compat_tests::aws_sdk_s3::error::SdkError<E, coffer_compat_tests::aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    let full = http_status(err) == Some(507) && error_code(err).as_deref() == Some("InsufficientStorage");
    assert!(full || http_status(err).is_none_or(|s| s < 500), "unexpected failure: {err:?}");
    full
}

/// PUTs objects of `size` bytes until the store answers 507; returns the keys stored.
async fn fill(s3: &Client, size: usize, prefix: &str, limit: usize) -> Vec<String> {
    let mut stored = Vec::new();
    for i in 0..limit {
        let key = format!("{prefix}-{i}");
        match s3.put_object().bucket("full").key(&key).body(ByteStream::from(random_bytes(size))).send().await {
            Ok(_) => stored.push(key),
            Err(e) if is_full(&e) => return stored,
            Err(e) => panic!("PUT {key}: {e:?}"),
        }
    }
    panic!("{limit} PUTs of {size} bytes and the disk is not full");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_fails_writes_with_507_keeps_reads_and_heals_without_restart() {
    let Some(disk) = SmallDisk::mount("64m") else { return };
    let server = TestServer::start_in(&disk.path().join("data"));
    let s3 = server.client();
    s3.create_bucket().bucket("full").send().await.unwrap();
    let keep_large = random_bytes(1024 * 1024);
    let keep_small = random_bytes(1000);
    s3.put_object().bucket("full").key("keep-large").body(ByteStream::from(keep_large.clone())).send().await.unwrap();
    s3.put_object().bucket("full").key("keep-small").body(ByteStream::from(keep_small.clone())).send().await.unwrap();
    let upload = s3.create_multipart_upload().bucket("full").key("mp").send().await.unwrap();
    let upload_id = upload.upload_id().unwrap().to_string();
    // Room to give back later without going through the server.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; 8 * 1024 * 1024]).unwrap();

    // Fill with ever smaller objects, down to inline ones, until each size is refused.
    let mut fillers = fill(&s3, 4 * 1024 * 1024, "f4m", 40).await;
    fillers.extend(fill(&s3, 256 * 1024, "f256k", 40).await);
    fillers.extend(fill(&s3, 70 * 1024, "f70k", 200).await);
    fillers.extend(fill(&s3, 60 * 1024, "inline", 5000).await);
    assert!(!fillers.is_empty());

    // Every kind of write now fails with 507, and leaves nothing in tmp/.
    let err = s3.put_object().bucket("full").key("single").body(ByteStream::from(random_bytes(1024 * 1024))).send().await.unwrap_err();
    assert!(is_full(&err), "single PUT: {err:?}");
    let err = s3.upload_part().bucket("full").key("mp").upload_id(&upload_id).part_number(1).body(ByteStream::from(random_bytes(5 * 1024 * 1024))).send().await.unwrap_err();
    assert!(is_full(&err), "UploadPart: {err:?}");
    let err = s3.put_object().bucket("full").key("tiny").body(ByteStream::from(random_bytes(60 * 1024))).send().await.unwrap_err();
    assert!(is_full(&err), "inline PUT: {err:?}");
    let message = match &err {
        coffer_compat_tests::aws_sdk_s3::error::SdkError::ServiceError(e) => {
            coffer_compat_tests::aws_sdk_s3::error::ProvideErrorMetadata::message(e.err()).unwrap_or_default().to_string()
        }
        other => panic!("{other:?}"),
    };
    assert!(message.contains("storage is full"), "{message}");
    let staged = std::fs::read_dir(server.data_dir().join("tmp")).unwrap().count();
    assert_eq!(staged, 0, "failed writes leave no staging files");

    // Reads and listings keep working while the disk is full.
    for (key, want) in [("keep-large", &keep_large), ("keep-small", &keep_small)] {
        let got = s3.get_object().bucket("full").key(key).send().await.unwrap();
        assert_eq!(&got.body.collect().await.unwrap().into_bytes().to_vec(), want, "{key}");
    }
    let listed = s3.list_objects_v2().bucket("full").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(2 + fillers.len() as i32));

    // Space comes back: the same server takes every kind of write again.
    std::fs::remove_file(&filler).unwrap();
    for key in fillers.iter().take(3) {
        s3.delete_object().bucket("full").key(key).send().await.unwrap();
    }
    let again = random_bytes(1024 * 1024);
    s3.put_object().bucket("full").key("single").body(ByteStream::from(again.clone())).send().await.unwrap();
    let part = s3.upload_part().bucket("full").key("mp").upload_id(&upload_id).part_number(1).body(ByteStream::from(random_bytes(1024 * 1024))).send().await.unwrap();
    let parts = CompletedMultipartUpload::builder().parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build()).build();
    s3.complete_multipart_upload().bucket("full").key("mp").upload_id(&upload_id).multipart_upload(parts).send().await.unwrap();
    s3.put_object().bucket("full").key("tiny").body(ByteStream::from(b"tiny".to_vec())).send().await.unwrap();
    let got = s3.get_object().bucket("full").key("single").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), again);
    assert!(server.log().contains("the storage is full"));
}
