//! The scrubber finds a byte flipped on disk and reports it in `coffer admin scrub status` and
//! the log; `coffer admin backup` taken while clients write restores, following the README,
//! into a data dir that serves every object acknowledged before the backup began.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::{random_bytes, TestServer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BUCKET: &str = "vault";
/// A size no other blob of these tests has, to find this object's blob file on disk.
const LARGE: usize = 3 * 1024 * 1024 + 17;
const PART: usize = 5 * 1024 * 1024;

async fn put(s3: &Client, key: &str, data: &[u8]) {
    s3.put_object().bucket(BUCKET).key(key).body(ByteStream::from(data.to_vec())).send().await.unwrap();
}

async fn put_multipart(s3: &Client, key: &str, data: &[u8]) {
    let id = s3.create_multipart_upload().bucket(BUCKET).key(key).send().await.unwrap().upload_id.unwrap();
    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(PART).enumerate() {
        let n = i as i32 + 1;
        let out = s3.upload_part().bucket(BUCKET).key(key).upload_id(&id).part_number(n).body(ByteStream::from(chunk.to_vec())).send().await.unwrap();
        parts.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag.unwrap()).build());
    }
    let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    s3.complete_multipart_upload().bucket(BUCKET).key(key).upload_id(&id).multipart_upload(done).send().await.unwrap();
}

async fn get(s3: &Client, key: &str) -> Vec<u8> {
    let out = s3.get_object().bucket(BUCKET).key(key).send().await.unwrap_or_else(|e| panic!("GET {key}: {e:?}"));
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Puts an inline object, a single large one and a multipart one; returns key -> bytes.
async fn put_every_kind(s3: &Client) -> BTreeMap<String, Vec<u8>> {
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let objects = BTreeMap::from([
        ("small".to_string(), random_bytes(1000)),
        ("large".to_string(), random_bytes(LARGE)),
        ("multi".to_string(), random_bytes(2 * PART + 4321)),
    ]);
    put(s3, "small", &objects["small"]).await;
    put(s3, "large", &objects["large"]).await;
    put_multipart(s3, "multi", &objects["multi"]).await;
    objects
}

fn admin_ok(server: &TestServer, args: &[&str]) -> String {
    let out = server.admin(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "coffer admin {args:?}: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Polls `coffer admin scrub status` until `done` holds for its output.
fn wait_for_status(server: &TestServer, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = admin_ok(server, &["scrub", "status"]);
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "waited a minute for {what}:\n{status}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every file under `dir` with its size.
fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            out.extend(files(&entry.path()));
        } else {
            out.push((entry.path(), meta.len()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scrubber_finds_a_flipped_byte_and_reports_it() {
    let mut server = TestServer::start_with_args(&["--scrub-period", "1s"]);
    let s3 = server.client();
    let objects = put_every_kind(&s3).await;
    // A clean pass over the three objects' blobs first (the multipart object has three).
    wait_for_status(&server, "a clean pass", |s| s.contains("last finished pass") && s.contains("4 blobs") && s.contains("corrupt blobs: 0"));

    let blobs = files(&server.data_dir().join("blobs"));
    let (path, _) = blobs.iter().find(|(_, size)| *size == LARGE as u64).expect("the large object's blob file");
    let hash = path.file_name().unwrap().to_str().unwrap().to_string();
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, 1_000_000).unwrap();
        f.write_all_at(&[b[0] ^ 0x20], 1_000_000).unwrap();
    }

    let status = wait_for_status(&server, "the corrupt blob", |s| s.contains("corrupt blobs: 1"));
    assert!(status.contains(&format!("{hash}  found ")) && status.contains("by scrub"), "{status}");
    let log = server.log();
    let line = log.lines().find(|l| l.contains("scrub: corrupt blob")).unwrap_or_else(|| panic!("no log line:\n{log}"));
    assert!(line.contains(&hash) && line.contains("vault/large"), "{line}");
    // `coffer admin check` names it too, from its own re-hash and from the scrubber's record.
    let out = server.admin(&["check"]);
    let check = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && check.contains("recorded corrupt blobs (scrubber, verified reads): 1"), "{check}");
    assert!(check.matches(hash.as_str()).count() >= 2, "{check}");
    // The others are fine, and the record survives a restart.
    assert_eq!(get(&s3, "small").await, objects["small"]);
    assert_eq!(get(&s3, "multi").await, objects["multi"]);
    server.crash_and_restart();
    let status = admin_ok(&server, &["scrub", "status"]);
    assert!(status.contains(&hash), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_during_writes_restores_every_earlier_object() {
    let mut server = TestServer::start();
    let s3 = server.client();
    let mut objects = put_every_kind(&s3).await;
    for i in 0..40 {
        let data = random_bytes(if i % 4 == 0 { 200_000 } else { 3_000 + i });
        put(&s3, &format!("before/{i}"), &data).await;
        objects.insert(format!("before/{i}"), data);
    }
    let encrypted = random_bytes(100_000);
    s3.put_object()
        .bucket(BUCKET)
        .key("sse-s3")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(encrypted.clone()))
        .send()
        .await
        .unwrap();
    objects.insert("sse-s3".into(), encrypted);
    admin_ok(&server, &["kms", "create", "backup-key"]);
    let kms_data = random_bytes(70_000);
    s3.put_object()
        .bucket(BUCKET)
        .key("sse-kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("backup-key")
        .body(ByteStream::from(kms_data.clone()))
        .send()
        .await
        .unwrap();
    objects.insert("sse-kms".into(), kms_data);

    // Clients keep writing, overwriting and deleting while the backup runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let s3 = s3.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                put(&s3, &format!("during/{}", n % 10), &random_bytes(if n % 2 == 0 { 100_000 } else { 500 })).await;
                if n % 3 == 0 {
                    s3.delete_object().bucket(BUCKET).key(format!("during/{}", (n + 5) % 10)).send().await.unwrap();
                }
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // README "Backup and restore", step by step.
    let backups = tempfile::tempdir().unwrap();
    let dest = backups.path().join("coffer-backup");
    let data = server.data_dir().to_path_buf();
    let out = admin_ok(&server, &["backup", dest.to_str().unwrap(), "--include-master-key"]);
    assert!(out.contains("garbage collection is held"), "{out}");
    run("cp", &["-a", &format!("{}/blobs", data.display()), &format!("{}/blobs", dest.display())]);
    admin_ok(&server, &["backup", "done"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes_during = writer.await.unwrap();
    assert!(writes_during > 0);

    for name in ["index.sqlite", "kms/keyring.json", "master.key.fingerprint", "master.key", "manifest.json"] {
        assert!(dest.join(name).exists(), "{name} is in the backup");
    }
    let manifest = std::fs::read_to_string(dest.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"coffer_version\"") && manifest.contains("\"objects\""), "{manifest}");

    // Restore into a fresh data dir and start a server on it.
    let restored = backups.path().join("restored");
    run("mkdir", &["-m", "700", restored.to_str().unwrap()]);
    run("cp", &["-a", &format!("{}/.", dest.display()), restored.to_str().unwrap()]);
    server.restart_on(restored);
    let s3 = server.client();
    for (key, data) in &objects {
        assert!(get(&s3, key).await == *data, "{key} restored byte-exact");
    }
    // The restored server takes writes as usual.
    put(&s3, "after-restore", b"hello").await;
    assert_eq!(get(&s3, "after-restore").await, b"hello");
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?}");
}
