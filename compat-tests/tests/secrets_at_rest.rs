//! Secrets at rest: everything in the data dir is the owner's alone (also after a restart on a
//! loosened dir), and the index holds no secret key or TOTP seed that would let a copy sign.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{BucketVersioningStatus, MfaDelete, VersioningConfiguration};
use coffer_compat_tests::{assert_s3_error, random_bytes, TestServer, ROOT_SECRET_KEY};
use coffer_crypto::totp;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const ALICE_KEY: &str = "AKALICESECRETSTEST01";
const ALICE_SECRET: &str = "alice-secret-key-that-must-not-be-on-disk";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or_else(|| panic!("no {name} in {out}"))
}

/// `root` and every entry under it, without following links.
fn entries(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].symlink_metadata().unwrap().is_dir() {
            let children: Vec<PathBuf> = std::fs::read_dir(&out[i]).unwrap().map(|e| e.unwrap().path()).collect();
            out.extend(children);
        }
        i += 1;
    }
    out
}

fn mode(path: &Path) -> u32 {
    path.symlink_metadata().unwrap().permissions().mode() & 0o777
}

/// Entries whose mode is not 0700 (directories) or 0600 (files).
fn loose(root: &Path) -> Vec<(PathBuf, String)> {
    entries(root)
        .into_iter()
        .filter(|p| mode(p) != if p.is_dir() { 0o700 } else { 0o600 })
        .map(|p| {
            let m = format!("{:o}", mode(&p));
            (p, m)
        })
        .collect()
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The raw bytes of the index and its write-ahead log.
fn index_bytes(data: &Path) -> Vec<u8> {
    let mut out = std::fs::read(data.join("index.sqlite")).unwrap();
    out.extend(std::fs::read(data.join("index.sqlite-wal")).unwrap_or_default());
    out
}

async fn put(s3: &coffer_compat_tests::aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) -> Option<String> {
    let out = s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body)).send().await.unwrap();
    out.version_id().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn data_dir_is_owner_only_and_its_index_cannot_sign() {
    let mut server = TestServer::start();
    let data = server.data_dir().to_path_buf();
    server.create_user("alice", ALICE_KEY, ALICE_SECRET);
    let out = server.admin(&["mfa", "enable", "root"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = String::from_utf8(out.stdout).unwrap();
    let (serial, seed_b32) = (field(&out, "serial:").to_string(), field(&out, "secret:").to_string());
    let seed = totp::secret_from_base32(&seed_b32).unwrap();
    let out = server.admin(&["kms", "create", "at-rest"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Both users sign with their keys; small (inline) and large (blob file) objects.
    let root = server.client();
    let alice = server.client_with(ALICE_KEY, ALICE_SECRET);
    root.create_bucket().bucket("root-b").send().await.unwrap();
    alice.create_bucket().bucket("alice-b").send().await.unwrap();
    put(&root, "root-b", "small", b"tiny".to_vec()).await;
    put(&root, "root-b", "large", random_bytes(300_000)).await;
    put(&alice, "alice-b", "large", random_bytes(200_000)).await;

    assert_eq!(loose(&data), vec![], "entries of the data dir others can read");
    let bytes = index_bytes(&data);
    for (what, secret) in [
        ("the root secret key", ROOT_SECRET_KEY.as_bytes()),
        ("alice's secret key", ALICE_SECRET.as_bytes()),
        ("the TOTP seed", &seed[..]),
        ("the TOTP seed in base32", seed_b32.as_bytes()),
    ] {
        assert!(!contains(&bytes, secret), "{what} is in the index files in the clear");
    }

    // MFA delete works with the sealed seed.
    let enable = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).mfa_delete(MfaDelete::Enabled).build();
    root.put_bucket_versioning()
        .bucket("root-b")
        .versioning_configuration(enable)
        .mfa(format!("{serial} {}", totp::code_at(&seed, now())))
        .send()
        .await
        .unwrap();
    let version = put(&root, "root-b", "guarded", b"v1".to_vec()).await.unwrap();
    assert_s3_error(root.delete_object().bucket("root-b").key("guarded").version_id(&version).send().await, 403, "AccessDenied");

    // Loosen the dir by hand, restart, and find it tightened, with the keys still working.
    let blob_file = entries(&data.join("blobs")).into_iter().find(|p| p.is_file()).expect("a blob file");
    let loosened: Vec<(PathBuf, u32)> = [
        (data.clone(), 0o755),
        (data.join("blobs"), 0o755),
        (blob_file.parent().unwrap().to_path_buf(), 0o775),
        (blob_file, 0o644),
        (data.join("index.sqlite"), 0o644),
        // (No key file when COFFER_MASTER_KEY is set.)
        (data.join("master.key"), 0o640),
        (data.join("kms"), 0o755),
    ]
    .into_iter()
    .filter(|(path, _)| path.exists())
    .collect();
    for (path, m) in &loosened {
        set_mode(path, *m);
    }
    server.crash_and_restart();
    assert_eq!(loose(&data), vec![], "entries still loose after a restart");
    let line = format!("made {} entries in", loosened.len());
    assert!(server.log().contains(&line), "no log line '{line}':\n{}", server.log());

    let root = server.client();
    let alice = server.client_with(ALICE_KEY, ALICE_SECRET);
    assert_eq!(alice.list_buckets().send().await.unwrap().buckets().len(), 1);
    root.delete_object()
        .bucket("root-b")
        .key("guarded")
        .version_id(&version)
        .mfa(format!("{serial} {}", totp::code_at(&seed, now())))
        .send()
        .await
        .unwrap();
    let wrong = server.client_with(ALICE_KEY, "not-alices-secret-key-at-all-000000000000");
    assert_s3_error(wrong.list_buckets().send().await, 403, "SignatureDoesNotMatch");
}
