//! Server-side encryption end to end through the AWS Rust SDK: SSE-S3, SSE-KMS (keys made
//! with `coffer admin kms`) and SSE-C on single PUTs and multipart uploads, byte ranges at
//! the 64 KiB package boundaries, the full copy matrix between modes (CopyObject and
//! UploadPartCopy), SSE-C and KMS errors, bucket default encryption, ETags, a scan of the data
//! dir for plaintext, and a tampered blob that must never be served.
//!
//! SSE-C runs over HTTPS (the real-world path); plain HTTP is tested with and without
//! `--sse-c-allow-http`.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::{assert_http_error, assert_s3_error, copy_source, error_code, http_status, random_bytes, TestServer, TestTls};
use md5::{Digest, Md5};
use std::path::{Path, PathBuf};

const BUCKET: &str = "sse";
const MIB: usize = 1024 * 1024;
/// Plaintext bytes per encrypted package.
const PKG: usize = 65536;
/// Sealed blob layout: a 32-byte header, then each package followed by a 16-byte tag.
const HEADER: usize = 32;
const TAG: usize = 16;

// ------------------------------------------------------------------------------ helpers

/// A customer-provided (SSE-C) key: base64 of 32 random bytes and base64 of their MD5.
#[derive(Clone, Debug)]
struct CustomerKey {
    b64: String,
    md5: String,
}

impl CustomerKey {
    fn generate() -> CustomerKey {
        let raw = random_bytes(32);
        CustomerKey { b64: b64(&raw), md5: b64(&Md5::digest(&raw)) }
    }
}

fn b64(bytes: &[u8]) -> String {
    aws_smithy_types::base64::encode(bytes)
}

/// A key of the built-in KMS keyring, as `coffer admin kms create` prints it.
#[derive(Clone, Debug)]
struct KmsKey {
    name: String,
    id: String,
    arn: String,
}

/// How an object is (to be) encrypted.
#[derive(Clone, Debug)]
enum Enc {
    None,
    S3,
    Kms(KmsKey),
    C(CustomerKey),
}

impl Enc {
    fn label(&self) -> &'static str {
        match self {
            Enc::None => "none",
            Enc::S3 => "sse-s3",
            Enc::Kms(_) => "sse-kms",
            Enc::C(_) => "sse-c",
        }
    }
}

/// Adds the SSE request headers of a write (PutObject, CopyObject destination,
/// CreateMultipartUpload).
macro_rules! write_sse {
    ($builder:expr, $enc:expr) => {{
        let b = $builder;
        match $enc {
            Enc::None => b,
            Enc::S3 => b.server_side_encryption(ServerSideEncryption::Aes256),
            Enc::Kms(k) => b.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(k.name.clone()),
            Enc::C(c) => b.sse_customer_algorithm("AES256").sse_customer_key(c.b64.clone()).sse_customer_key_md5(c.md5.clone()),
        }
    }};
}

/// Adds the SSE-C headers a read (or an UploadPart of an SSE-C upload) needs; nothing for
/// other modes.
macro_rules! customer {
    ($builder:expr, $enc:expr) => {{
        let b = $builder;
        match $enc {
            Enc::C(c) => b.sse_customer_algorithm("AES256").sse_customer_key(c.b64.clone()).sse_customer_key_md5(c.md5.clone()),
            _ => b,
        }
    }};
}

/// Adds the copy-source SSE-C headers for an SSE-C copy source; nothing for other modes.
macro_rules! source_customer {
    ($builder:expr, $enc:expr) => {{
        let b = $builder;
        match $enc {
            Enc::C(c) => b
                .copy_source_sse_customer_algorithm("AES256")
                .copy_source_sse_customer_key(c.b64.clone())
                .copy_source_sse_customer_key_md5(c.md5.clone()),
            _ => b,
        }
    }};
}

/// The SSE response headers of an answer.
#[derive(Debug, Default)]
struct Seen {
    sse: Option<String>,
    kms_key: Option<String>,
    algorithm: Option<String>,
    key_md5: Option<String>,
}

macro_rules! seen {
    ($out:expr) => {
        Seen {
            sse: $out.server_side_encryption().map(|s| s.as_str().to_string()),
            kms_key: $out.ssekms_key_id().map(str::to_string),
            algorithm: $out.sse_customer_algorithm().map(str::to_string),
            key_md5: $out.sse_customer_key_md5().map(str::to_string),
        }
    };
}

/// Whether an `x-amz-server-side-encryption-aws-kms-key-id` answer names `key`. S3 answers
/// with the key's ARN; the name it was asked for by is accepted here too (see
/// `kms_key_id_header_is_the_key_arn` for the strict check).
fn names_key(header: Option<&str>, key: &KmsKey) -> bool {
    header.is_some_and(|h| h == key.arn || h == key.name || h == key.id || h == format!("alias/{}", key.name))
}

/// Checks the SSE headers of an answer about an object encrypted as `enc`; a description of
/// what is wrong, or None.
fn sse_problem(seen: &Seen, enc: &Enc) -> Option<String> {
    let ok = match enc {
        Enc::None => seen.sse.is_none() && seen.kms_key.is_none() && seen.algorithm.is_none() && seen.key_md5.is_none(),
        Enc::S3 => seen.sse.as_deref() == Some("AES256") && seen.kms_key.is_none() && seen.algorithm.is_none(),
        Enc::Kms(k) => seen.sse.as_deref() == Some("aws:kms") && names_key(seen.kms_key.as_deref(), k) && seen.algorithm.is_none(),
        Enc::C(c) => seen.sse.is_none() && seen.algorithm.as_deref() == Some("AES256") && seen.key_md5.as_deref() == Some(c.md5.as_str()),
    };
    (!ok).then(|| format!("SSE headers {seen:?} do not describe {enc:?}"))
}

#[track_caller]
fn expect_sse(what: &str, seen: Seen, enc: &Enc) {
    if let Some(problem) = sse_problem(&seen, enc) {
        panic!("{what}: {problem}");
    }
}

/// Creates a keyring key with `coffer admin kms create` on the server's data dir.
fn create_kms_key(server: &TestServer, name: &str) -> KmsKey {
    let out = server.admin(&["kms", "create", name]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "kms create {name}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let field = |f: &str| {
        stdout.lines().find_map(|l| l.strip_prefix(f)).map(|v| v.trim().to_string()).unwrap_or_else(|| panic!("no {f} in {stdout}"))
    };
    KmsKey { name: field("name:"), id: field("id:"), arn: field("arn:") }
}

/// Runs `coffer admin kms ARGS` and panics unless it succeeded.
fn kms_admin(server: &TestServer, args: &[&str]) -> String {
    let mut all = vec!["kms"];
    all.extend_from_slice(args);
    let out = server.admin(&all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "coffer admin kms {args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn tls_server() -> TestServer {
    TestServer::start_tls(&TestTls::generate())
}

async fn make_bucket(s3: &Client) {
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
}

fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(Md5::digest(p));
    }
    format!("\"{}-{}\"", hex(&md5.finalize()), parts.len())
}

/// PutObject with `enc`; checks the answer's SSE headers and returns its ETag.
async fn put(s3: &Client, key: &str, data: &[u8], enc: &Enc) -> String {
    let out = write_sse!(s3.put_object().bucket(BUCKET).key(key).body(ByteStream::from(data.to_vec())), enc)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {key} ({}): {e:?}", enc.label()));
    expect_sse(&format!("PUT {key}"), seen!(out), enc);
    out.e_tag.unwrap()
}

/// A multipart upload of `parts` with `enc`, checking every answer's SSE headers; returns the
/// upload's ETag and the part ETags.
async fn put_multipart(s3: &Client, key: &str, parts: &[&[u8]], enc: &Enc) -> (String, Vec<String>) {
    let created = write_sse!(s3.create_multipart_upload().bucket(BUCKET).key(key), enc)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateMultipartUpload {key} ({}): {e:?}", enc.label()));
    expect_sse(&format!("CreateMultipartUpload {key}"), seen!(created), enc);
    let id = created.upload_id.unwrap();
    let mut done = Vec::new();
    let mut etags = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let number = i as i32 + 1;
        let out = customer!(
            s3.upload_part().bucket(BUCKET).key(key).upload_id(&id).part_number(number).body(ByteStream::from(data.to_vec())),
            enc
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("UploadPart {key} #{number} ({}): {e:?}", enc.label()));
        expect_sse(&format!("UploadPart {key} #{number}"), seen!(out), enc);
        let etag = out.e_tag.unwrap();
        etags.push(etag.clone());
        done.push(CompletedPart::builder().part_number(number).e_tag(etag).build());
    }
    let out = s3
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CompleteMultipartUpload {key} ({}): {e:?}", enc.label()));
    // Complete's answer carries no SSE-C fields in the SDK's model; check the rest.
    let seen = Seen {
        sse: out.server_side_encryption().map(|s| s.as_str().to_string()),
        kms_key: out.ssekms_key_id().map(str::to_string),
        ..Seen::default()
    };
    match enc {
        Enc::C(_) | Enc::None => assert!(seen.sse.is_none() && seen.kms_key.is_none(), "Complete {key}: {seen:?}"),
        other => expect_sse(&format!("Complete {key}"), seen, other),
    }
    (out.e_tag.unwrap(), etags)
}

/// GET of the whole object with the read headers `enc` needs; checks the SSE headers.
async fn get(s3: &Client, key: &str, enc: &Enc) -> Vec<u8> {
    let out = customer!(s3.get_object().bucket(BUCKET).key(key), enc)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key} ({}): {e:?}", enc.label()));
    expect_sse(&format!("GET {key}"), seen!(out), enc);
    out.body.collect().await.unwrap_or_else(|e| panic!("GET {key} body: {e:?}")).into_bytes().to_vec()
}

/// A ranged GET: (Content-Range, body).
async fn get_range(s3: &Client, key: &str, enc: &Enc, range: &str) -> (String, Vec<u8>) {
    let out = customer!(s3.get_object().bucket(BUCKET).key(key).range(range), enc)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key} {range} ({}): {e:?}", enc.label()));
    expect_sse(&format!("GET {key} {range}"), seen!(out), enc);
    let content_range = out.content_range().unwrap_or_default().to_string();
    (content_range, out.body.collect().await.unwrap().into_bytes().to_vec())
}

/// HEAD: checks the length and the SSE headers; returns the ETag.
async fn head(s3: &Client, key: &str, enc: &Enc, len: usize) -> String {
    let out = customer!(s3.head_object().bucket(BUCKET).key(key), enc)
        .send()
        .await
        .unwrap_or_else(|e| panic!("HEAD {key} ({}): {e:?}", enc.label()));
    assert_eq!(out.content_length(), Some(len as i64), "HEAD {key} length");
    expect_sse(&format!("HEAD {key}"), seen!(out), enc);
    out.e_tag.unwrap()
}

#[track_caller]
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    assert!(got == want, "{what}: bytes differ (first at {:?})", got.iter().zip(want).position(|(a, b)| a != b));
}

/// Reads a streaming body as far as it goes: the bytes received and the error that ended it,
/// if any.
async fn read_partial(mut body: ByteStream) -> (Vec<u8>, Option<String>) {
    let mut got = Vec::new();
    loop {
        match body.next().await {
            Some(Ok(chunk)) => got.extend_from_slice(&chunk),
            Some(Err(e)) => return (got, Some(format!("{e:?}"))),
            None => return (got, None),
        }
    }
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let entry = entry.unwrap();
            let ty = entry.file_type().unwrap();
            if ty.is_dir() {
                stack.push(entry.path());
            } else if ty.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The files under `dir` whose bytes contain `needle` (files that vanish while scanning, such
/// as staging files, are skipped).
fn files_containing(dir: &Path, needle: &[u8]) -> (Vec<PathBuf>, usize) {
    let files = files_under(dir);
    let count = files.len();
    let hits = files.into_iter().filter(|f| std::fs::read(f).map(|bytes| contains(&bytes, needle)).unwrap_or(false)).collect();
    (hits, count)
}

fn modes(kms: &KmsKey, customer: &CustomerKey) -> [Enc; 3] {
    [Enc::S3, Enc::Kms(kms.clone()), Enc::C(customer.clone())]
}

// -------------------------------------------------------------------------- round trips

#[tokio::test(flavor = "multi_thread")]
async fn each_mode_round_trips_single_put_and_multipart() {
    let server = tls_server();
    let s3 = server.client();
    make_bucket(&s3).await;
    let kms = create_kms_key(&server, "round-trip");
    for enc in modes(&kms, &CustomerKey::generate()) {
        let label = enc.label();
        // Small ones are kept inline in the index, larger ones are blobs; the sizes straddle
        // the package size (an empty object has no package at all).
        let sizes = [
            ("empty", 0),
            ("one", 1),
            ("small", 100),
            ("pkg-minus-1", PKG - 1),
            ("pkg", PKG),
            ("pkg-plus-1", PKG + 1),
            ("two-pkgs", 2 * PKG),
            ("large", 3 * PKG + 4321),
        ];
        for (suffix, size) in sizes {
            let key = format!("{label}/{suffix}");
            let data = random_bytes(size);
            put(&s3, &key, &data, &enc).await;
            assert_same(&get(&s3, &key, &enc).await, &data, &key);
            head(&s3, &key, &enc, size).await;
        }

        let key = format!("{label}/multipart");
        let (a, b, c) = (random_bytes(5 * MIB), random_bytes(5 * MIB + 7), random_bytes(70_001));
        put_multipart(&s3, &key, &[&a, &b, &c], &enc).await;
        let want = [&a[..], &b[..], &c[..]].concat();
        assert_same(&get(&s3, &key, &enc).await, &want, &key);
        head(&s3, &key, &enc, want.len()).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn etags_reveal_the_plaintext_md5_only_for_sse_s3() {
    let server = tls_server();
    let s3 = server.client();
    make_bucket(&s3).await;
    let kms = create_kms_key(&server, "etags");
    let data = random_bytes(2 * PKG + 10);
    let plain_md5 = format!("\"{}\"", md5_hex(&data));
    let (a, b) = (random_bytes(5 * MIB), random_bytes(12_345));
    let plain_multipart = multipart_etag(&[&a, &b]);

    assert_eq!(put(&s3, "none", &data, &Enc::None).await, plain_md5, "an unencrypted ETag is the MD5");
    for enc in modes(&kms, &CustomerKey::generate()) {
        let label = enc.label();
        let etag = put(&s3, label, &data, &enc).await;
        assert_eq!(head(&s3, label, &enc, data.len()).await, etag, "{label}: HEAD repeats PUT's ETag");
        let (mp_etag, part_etags) = put_multipart(&s3, &format!("{label}-mp"), &[&a, &b], &enc).await;
        assert!(mp_etag.ends_with("-2\""), "{label}: multipart ETag {mp_etag}");
        if matches!(enc, Enc::S3) {
            assert_eq!(etag, plain_md5, "SSE-S3 ETag is the plaintext MD5, as in S3");
            assert_eq!(mp_etag, plain_multipart, "SSE-S3 multipart ETag is the usual one");
            assert_eq!(part_etags[0], format!("\"{}\"", md5_hex(&a)));
        } else {
            assert_ne!(etag, plain_md5, "{label} ETag must not be the plaintext MD5");
            assert_eq!(etag.len(), plain_md5.len(), "{label} ETag still looks like an MD5: {etag}");
            assert_ne!(mp_etag, plain_multipart, "{label} multipart ETag must not derive from the plaintext MD5s");
            assert_ne!(part_etags[0], format!("\"{}\"", md5_hex(&a)), "{label} part ETag must not be its plaintext MD5");
            assert_ne!(part_etags[1], format!("\"{}\"", md5_hex(&b)), "{label} part ETag must not be its plaintext MD5");
        }
    }
}

// ------------------------------------------------------------------------------- ranges

#[tokio::test(flavor = "multi_thread")]
async fn ranges_at_package_and_part_boundaries() {
    let server = tls_server();
    let s3 = server.client();
    make_bucket(&s3).await;
    let kms = create_kms_key(&server, "ranges");
    let size = 3 * PKG + 1000;
    let ranges: Vec<(String, usize, usize)> = vec![
        ("bytes=65535-65536".into(), 65535, 65536),
        ("bytes=0-65535".into(), 0, 65535),
        ("bytes=65536-131071".into(), 65536, 131071),
        ("bytes=65535-131072".into(), 65535, 131072),
        ("bytes=0-0".into(), 0, 0),
        (format!("bytes={}-{}", size - 1, size - 1), size - 1, size - 1),
        ("bytes=-1".into(), size - 1, size - 1),
        ("bytes=-1000".into(), size - 1000, size - 1),
        ("bytes=-1001".into(), size - 1001, size - 1),
        ("bytes=131072-".into(), 131072, size - 1),
        (format!("bytes=100-{}", size + 50), 100, size - 1),
    ];
    for enc in modes(&kms, &CustomerKey::generate()) {
        let label = enc.label();
        let data = random_bytes(size);
        put(&s3, label, &data, &enc).await;
        for (range, first, last) in &ranges {
            let (content_range, body) = get_range(&s3, label, &enc, range).await;
            assert_eq!(content_range, format!("bytes {first}-{last}/{size}"), "{label} {range}");
            assert_same(&body, &data[*first..=*last], &format!("{label} {range}"));
        }

        // A multipart object: the part boundary is at 5 MiB.
        let key = format!("{label}-mp");
        let (a, b) = (random_bytes(5 * MIB), random_bytes(2 * PKG + 99));
        put_multipart(&s3, &key, &[&a, &b], &enc).await;
        let whole = [&a[..], &b[..]].concat();
        let total = whole.len();
        let boundary = 5 * MIB;
        for (first, last) in
            [(boundary - 1, boundary), (boundary - 10, boundary + 10), (boundary - PKG - 3, boundary + PKG + 3), (total - 1, total - 1)]
        {
            let range = format!("bytes={first}-{last}");
            let (content_range, body) = get_range(&s3, &key, &enc, &range).await;
            assert_eq!(content_range, format!("bytes {first}-{last}/{total}"), "{key} {range}");
            assert_same(&body, &whole[first..=last], &format!("{key} {range}"));
        }
        for (number, part) in [(1, &a), (2, &b)] {
            let out = customer!(s3.get_object().bucket(BUCKET).key(&key).part_number(number), &enc)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {key} partNumber={number}: {e:?}"));
            expect_sse(&format!("GET {key} partNumber={number}"), seen!(out), &enc);
            assert_eq!(out.parts_count(), Some(2), "{key} partNumber={number}");
            let start = if number == 1 { 0 } else { a.len() };
            assert_eq!(out.content_range(), Some(format!("bytes {start}-{}/{total}", start + part.len() - 1).as_str()));
            let body = out.body.collect().await.unwrap().into_bytes();
            assert_same(&body, part, &format!("{key} partNumber={number}"));
        }
    }
}

// --------------------------------------------------------------------------- copy matrix

/// The four source and four destination encryptions of the copy matrix: SSE-KMS and SSE-C
/// destinations use another key than the sources.
fn copy_matrix(server: &TestServer) -> (Vec<Enc>, Vec<Enc>) {
    let sources = vec![Enc::None, Enc::S3, Enc::Kms(create_kms_key(server, "copy-src")), Enc::C(CustomerKey::generate())];
    let dests = vec![Enc::None, Enc::S3, Enc::Kms(create_kms_key(server, "copy-dst")), Enc::C(CustomerKey::generate())];
    (sources, dests)
}

/// Writes one source object per source encryption; returns (key, data) per source.
async fn write_sources(s3: &Client, sources: &[Enc], size: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for enc in sources {
        let key = format!("src/{}", enc.label());
        let data = random_bytes(size);
        put(s3, &key, &data, enc).await;
        out.push((key, data));
    }
    out
}

/// GETs `key` as encrypted with `enc` and compares with `want`; also checks that the source's
/// SSE-C key (if another) does not open an SSE-C destination. A problem, or None.
async fn verify_copy(s3: &Client, key: &str, want: &[u8], enc: &Enc, src_enc: &Enc) -> Option<String> {
    let out = match customer!(s3.get_object().bucket(BUCKET).key(key), enc).send().await {
        Ok(out) => out,
        Err(e) => return Some(format!("GET {key}: {e:?}")),
    };
    if let Some(p) = sse_problem(&seen!(out), enc) {
        return Some(format!("GET {key}: {p}"));
    }
    let body = match out.body.collect().await {
        Ok(b) => b.into_bytes(),
        Err(e) => return Some(format!("GET {key} body: {e:?}")),
    };
    if body[..] != want[..] {
        return Some(format!("GET {key}: {} bytes, not the source's {} (byte-exact compare failed)", body.len(), want.len()));
    }
    let headed = match customer!(s3.head_object().bucket(BUCKET).key(key), enc).send().await {
        Ok(h) => h,
        Err(e) => return Some(format!("HEAD {key}: {e:?}")),
    };
    if let Some(p) = sse_problem(&seen!(headed), enc) {
        return Some(format!("HEAD {key}: {p}"));
    }
    if let (Enc::C(_), Enc::C(_)) = (enc, src_enc) {
        match customer!(s3.get_object().bucket(BUCKET).key(key), src_enc).send().await {
            Err(e) if http_status(&e) == Some(403) => {}
            other => return Some(format!("GET {key} with the source's SSE-C key: {:?}, not 403", other.map(|_| "success"))),
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_object_between_every_pair_of_modes() {
    let server = tls_server();
    let s3 = server.client();
    make_bucket(&s3).await;
    let (sources, dests) = copy_matrix(&server);
    let written = write_sources(&s3, &sources, 3 * PKG + 777).await;

    let mut problems = Vec::new();
    for (src_enc, (src_key, data)) in sources.iter().zip(&written) {
        for dst_enc in &dests {
            let key = format!("copy/{}-to-{}", src_enc.label(), dst_enc.label());
            let request = s3.copy_object().bucket(BUCKET).key(&key).copy_source(copy_source(BUCKET, src_key));
            let request = write_sse!(source_customer!(request, src_enc), dst_enc);
            let out = match request.send().await {
                Ok(out) => out,
                Err(e) => {
                    problems.push(format!("CopyObject {key}: {:?} {:?}: {e:?}", http_status(&e), error_code(&e)));
                    continue;
                }
            };
            if let Some(p) = sse_problem(&seen!(out), dst_enc) {
                problems.push(format!("CopyObject {key} answer: {p}"));
            }
            let etag = out.copy_object_result().and_then(|r| r.e_tag()).unwrap_or_default().to_string();
            let plain_md5 = format!("\"{}\"", md5_hex(data));
            let etag_ok = match dst_enc {
                Enc::None | Enc::S3 => etag == plain_md5,
                _ => !etag.is_empty() && etag != plain_md5,
            };
            if !etag_ok {
                problems.push(format!("CopyObject {key}: ETag {etag} (plaintext MD5 {plain_md5})"));
            }
            if let Some(p) = verify_copy(&s3, &key, data, dst_enc, src_enc).await {
                problems.push(p);
            }
        }
    }
    assert!(problems.is_empty(), "{} of 16 copies went wrong:\n{}", problems.len(), problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_part_copy_between_every_pair_of_modes() {
    let server = tls_server();
    let s3 = server.client();
    make_bucket(&s3).await;
    let (sources, dests) = copy_matrix(&server);
    // Two parts cut off the middle of a package: 5 MiB + 100 bytes, then the rest.
    let size = 5 * MIB + 70_001;
    let cut = 5 * MIB + 100;
    let written = write_sources(&s3, &sources, size).await;

    let mut problems = Vec::new();
    'pairs: for (src_enc, (src_key, data)) in sources.iter().zip(&written) {
        for dst_enc in &dests {
            let key = format!("upc/{}-to-{}", src_enc.label(), dst_enc.label());
            let created = match write_sse!(s3.create_multipart_upload().bucket(BUCKET).key(&key), dst_enc).send().await {
                Ok(c) => c,
                Err(e) => {
                    problems.push(format!("CreateMultipartUpload {key}: {e:?}"));
                    continue;
                }
            };
            let id = created.upload_id.unwrap();
            let mut parts = Vec::new();
            for (number, range) in [(1, format!("bytes=0-{}", cut - 1)), (2, format!("bytes={cut}-{}", size - 1))] {
                let request = s3
                    .upload_part_copy()
                    .bucket(BUCKET)
                    .key(&key)
                    .upload_id(&id)
                    .part_number(number)
                    .copy_source(copy_source(BUCKET, src_key))
                    .copy_source_range(range);
                let request = customer!(source_customer!(request, src_enc), dst_enc);
                match request.send().await {
                    Ok(out) => {
                        if let Some(p) = sse_problem(&seen!(out), dst_enc) {
                            problems.push(format!("UploadPartCopy {key} #{number} answer: {p}"));
                        }
                        let etag = out.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default().to_string();
                        parts.push(CompletedPart::builder().part_number(number).e_tag(etag).build());
                    }
                    Err(e) => {
                        problems.push(format!("UploadPartCopy {key} #{number}: {:?} {:?}: {e:?}", http_status(&e), error_code(&e)));
                        continue 'pairs;
                    }
                }
            }
            let done = s3
                .complete_multipart_upload()
                .bucket(BUCKET)
                .key(&key)
                .upload_id(&id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await;
            if let Err(e) = done {
                problems.push(format!("Complete {key}: {e:?}"));
                continue;
            }
            if let Some(p) = verify_copy(&s3, &key, data, dst_enc, src_enc).await {
                problems.push(p);
            }
        }
    }
    assert!(problems.is_empty(), "{} of 16 part copies went wrong:\n{}", problems.len(), problems.join("\n"));
}

/// Copying an object onto itself with other SSE headers re-encrypts it in place, e.g. to
/// move to a new SSE-C key (the copy-source headers name the old one).
#[tokio::test(flavor = "multi_thread")]
async fn copy_in_place_changes_the_encryption() {
    let server = tls_server();
    let s3 = server.client();
    make_bucket(&s3).await;
    let kms = create_kms_key(&server, "in-place");
    let data = random_bytes(2 * PKG + 999);
    put(&s3, "doc", &data, &Enc::None).await;
    let (old, new) = (CustomerKey::generate(), CustomerKey::generate());
    let steps = [
        (Enc::None, Enc::S3),
        (Enc::S3, Enc::Kms(kms.clone())),
        (Enc::Kms(kms), Enc::C(old.clone())),
        (Enc::C(old.clone()), Enc::C(new.clone())),
    ];
    for (from, to) in &steps {
        let request = s3.copy_object().bucket(BUCKET).key("doc").copy_source(copy_source(BUCKET, "doc"));
        let out = write_sse!(source_customer!(request, from), to)
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy in place {} -> {}: {e:?}", from.label(), to.label()));
        expect_sse(&format!("copy in place to {}", to.label()), seen!(out), to);
        head(&s3, "doc", to, data.len()).await;
        assert_same(&get(&s3, "doc", to).await, &data, &format!("in place {} -> {}", from.label(), to.label()));
    }
    // The old customer key no longer opens it.
    assert_s3_error(customer!(s3.get_object().bucket(BUCKET).key("doc"), &Enc::C(old)).send().await, 403, "AccessDenied");
    // Without new SSE headers (or other changes) a copy onto itself is still refused.
    let request = s3.copy_object().bucket(BUCKET).key("doc").copy_source(copy_source(BUCKET, "doc"));
    assert_s3_error(source_customer!(request, &Enc::C(new)).send().await, 400, "InvalidRequest");
}

// ------------------------------------------------------------------------------- errors

#[tokio::test(flavor = "multi_thread")]
async fn sse_c_key_errors() {
    let server = tls_server();
    let s3 = server.client();
    make_bucket(&s3).await;
    let (right, wrong) = (CustomerKey::generate(), CustomerKey::generate());
    let data = random_bytes(2 * PKG + 5);
    put(&s3, "secret", &data, &Enc::C(right.clone())).await;

    // No key.
    assert_s3_error(s3.get_object().bucket(BUCKET).key("secret").send().await, 400, "InvalidRequest");
    assert_http_error(s3.head_object().bucket(BUCKET).key("secret").send().await, 400);
    assert_s3_error(s3.get_object().bucket(BUCKET).key("secret").range("bytes=0-9").send().await, 400, "InvalidRequest");
    // Another key.
    assert_s3_error(customer!(s3.get_object().bucket(BUCKET).key("secret"), &Enc::C(wrong.clone())).send().await, 403, "AccessDenied");
    assert_http_error(customer!(s3.head_object().bucket(BUCKET).key("secret"), &Enc::C(wrong.clone())).send().await, 403);
    assert_s3_error(
        customer!(s3.get_object().bucket(BUCKET).key("secret").range("bytes=65536-65540"), &Enc::C(wrong.clone())).send().await,
        403,
        "AccessDenied",
    );
    // The right key with another key's MD5.
    let mismatched = Enc::C(CustomerKey { b64: right.b64.clone(), md5: wrong.md5.clone() });
    assert_s3_error(customer!(s3.get_object().bucket(BUCKET).key("secret"), &mismatched).send().await, 400, "InvalidArgument");
    assert_s3_error(
        write_sse!(s3.put_object().bucket(BUCKET).key("never").body(ByteStream::from_static(b"x")), &mismatched).send().await,
        400,
        "InvalidArgument",
    );
    assert_s3_error(s3.get_object().bucket(BUCKET).key("never").send().await, 404, "NoSuchKey");
    // A key that is not 256 bits (with its own correct MD5).
    let short = Enc::C(CustomerKey { b64: b64(&[7u8; 16]), md5: b64(&Md5::digest([7u8; 16])) });
    assert_s3_error(customer!(s3.get_object().bucket(BUCKET).key("secret"), &short).send().await, 400, "InvalidArgument");
    // SSE-C headers for an object that is not SSE-C.
    put(&s3, "s3-object", b"sse-s3 bytes", &Enc::S3).await;
    assert_s3_error(customer!(s3.get_object().bucket(BUCKET).key("s3-object"), &Enc::C(right.clone())).send().await, 400, "InvalidRequest");
    // The right key still works after all that.
    assert_same(&get(&s3, "secret", &Enc::C(right.clone())).await, &data, "secret");

    // Copying an SSE-C source needs its key in the copy-source headers.
    let plain_copy = s3.copy_object().bucket(BUCKET).key("copy").copy_source(copy_source(BUCKET, "secret"));
    assert_s3_error(plain_copy.clone().send().await, 400, "InvalidRequest");
    assert_s3_error(source_customer!(plain_copy.clone(), &Enc::C(wrong.clone())).send().await, 403, "AccessDenied");
    // The key as the destination's (not the source's) does not open the source either.
    assert_s3_error(customer!(plain_copy, &Enc::C(right.clone())).send().await, 400, "InvalidRequest");

    // UploadPartCopy into an SSE-C upload needs the upload's key too, not only the source's.
    let upload = write_sse!(s3.create_multipart_upload().bucket(BUCKET).key("upc"), &Enc::C(wrong.clone())).send().await.unwrap();
    let upc = || {
        s3.upload_part_copy()
            .bucket(BUCKET)
            .key("upc")
            .upload_id(upload.upload_id().unwrap())
            .part_number(1)
            .copy_source(copy_source(BUCKET, "secret"))
    };
    assert_s3_error(source_customer!(upc(), &Enc::C(right.clone())).send().await, 400, "InvalidRequest");
    customer!(source_customer!(upc(), &Enc::C(right.clone())), &Enc::C(wrong.clone())).send().await.expect("UploadPartCopy with both keys");

    // Every part of an SSE-C upload needs the key again.
    let upload = write_sse!(s3.create_multipart_upload().bucket(BUCKET).key("mp"), &Enc::C(right.clone())).send().await.unwrap();
    let id = upload.upload_id.unwrap();
    let part = || s3.upload_part().bucket(BUCKET).key("mp").upload_id(&id).part_number(1).body(ByteStream::from_static(b"part"));
    assert_s3_error(part().send().await, 400, "InvalidRequest");
    let err = customer!(part(), &Enc::C(wrong.clone())).send().await.unwrap_err();
    assert!(matches!(http_status(&err), Some(400 | 403)), "a part with another key: {err:?}");
    customer!(part(), &Enc::C(right.clone())).send().await.expect("a part with the upload's key");
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_c_over_plain_http_needs_the_allow_flag() {
    let key = CustomerKey::generate();
    let enc = Enc::C(key.clone());
    let data = random_bytes(PKG + 1);

    let server = TestServer::start();
    assert!(server.endpoint().starts_with("http://"));
    let s3 = server.client();
    make_bucket(&s3).await;
    assert_s3_error(
        write_sse!(s3.put_object().bucket(BUCKET).key("k").body(ByteStream::from(data.clone())), &enc).send().await,
        400,
        "InvalidRequest",
    );
    assert_s3_error(s3.get_object().bucket(BUCKET).key("k").send().await, 404, "NoSuchKey");
    assert_s3_error(write_sse!(s3.create_multipart_upload().bucket(BUCKET).key("k"), &enc).send().await, 400, "InvalidRequest");
    put(&s3, "plain", &data, &Enc::None).await;
    assert_s3_error(customer!(s3.get_object().bucket(BUCKET).key("plain"), &enc).send().await, 400, "InvalidRequest");
    assert_s3_error(
        source_customer!(s3.copy_object().bucket(BUCKET).key("c").copy_source(copy_source(BUCKET, "plain")), &enc).send().await,
        400,
        "InvalidRequest",
    );

    // With --sse-c-allow-http the same requests work.
    let allowed = TestServer::start_with_args(&["--sse-c-allow-http"]);
    let s3 = allowed.client();
    make_bucket(&s3).await;
    put(&s3, "k", &data, &enc).await;
    assert_same(&get(&s3, "k", &enc).await, &data, "SSE-C over allowed HTTP");
    head(&s3, "k", &enc, data.len()).await;
    assert_s3_error(s3.get_object().bucket(BUCKET).key("k").send().await, 400, "InvalidRequest");
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_unknown_disabled_enabled_and_rotated_keys() {
    let server = TestServer::start();
    let s3 = server.client();
    make_bucket(&s3).await;
    let body = || ByteStream::from(random_bytes(PKG + 3));

    let unknown = Enc::Kms(KmsKey { name: "no-such-key".into(), id: String::new(), arn: String::new() });
    assert_s3_error(write_sse!(s3.put_object().bucket(BUCKET).key("u").body(body()), &unknown).send().await, 400, "KMS.NotFoundException");
    assert_s3_error(write_sse!(s3.create_multipart_upload().bucket(BUCKET).key("u"), &unknown).send().await, 400, "KMS.NotFoundException");
    put(&s3, "plain", b"plain", &Enc::None).await;
    assert_s3_error(
        write_sse!(s3.copy_object().bucket(BUCKET).key("u").copy_source(copy_source(BUCKET, "plain")), &unknown).send().await,
        400,
        "KMS.NotFoundException",
    );
    assert_s3_error(s3.get_object().bucket(BUCKET).key("u").send().await, 404, "NoSuchKey");

    let key = create_kms_key(&server, "lifecycle");
    let enc = Enc::Kms(key.clone());
    let before = random_bytes(2 * PKG + 11);
    put(&s3, "before", &before, &enc).await;

    kms_admin(&server, &["disable", "lifecycle"]);
    assert_s3_error(write_sse!(s3.put_object().bucket(BUCKET).key("during").body(body()), &enc).send().await, 400, "KMS.DisabledException");
    assert_s3_error(s3.get_object().bucket(BUCKET).key("before").send().await, 400, "KMS.DisabledException");
    assert_s3_error(s3.get_object().bucket(BUCKET).key("before").range("bytes=0-10").send().await, 400, "KMS.DisabledException");
    assert_s3_error(
        s3.copy_object().bucket(BUCKET).key("copied").copy_source(copy_source(BUCKET, "before")).send().await,
        400,
        "KMS.DisabledException",
    );
    // HEAD needs no data key, so it does not ask the KMS (as in S3).
    head(&s3, "before", &enc, before.len()).await;

    kms_admin(&server, &["enable", "lifecycle"]);
    assert_same(&get(&s3, "before", &enc).await, &before, "readable again after enable");
    let during = random_bytes(PKG - 1);
    put(&s3, "after-enable", &during, &enc).await;
    assert_same(&get(&s3, "after-enable", &enc).await, &during, "written after enable");

    assert!(kms_admin(&server, &["rotate", "lifecycle"]).contains("rotated to version 2"));
    assert_same(&get(&s3, "before", &enc).await, &before, "written before the rotation");
    assert_same(&get(&s3, "after-enable", &enc).await, &during, "written before the rotation");
    let rotated = random_bytes(3 * PKG);
    put(&s3, "after-rotate", &rotated, &enc).await;
    assert_same(&get(&s3, "after-rotate", &enc).await, &rotated, "written after the rotation");
    head(&s3, "after-rotate", &enc, rotated.len()).await;
    // A multipart upload under the rotated key, too.
    let (a, b) = (random_bytes(5 * MIB), random_bytes(10));
    put_multipart(&s3, "mp-after-rotate", &[&a, &b], &enc).await;
    assert_same(&get(&s3, "mp-after-rotate", &enc).await, &[&a[..], &b[..]].concat(), "multipart after the rotation");
}

/// S3 answers `x-amz-server-side-encryption-aws-kms-key-id` with the key's ARN, whichever name
/// the request used.
#[tokio::test(flavor = "multi_thread")]
async fn kms_key_id_header_is_the_key_arn() {
    let server = TestServer::start();
    let s3 = server.client();
    make_bucket(&s3).await;
    let key = create_kms_key(&server, "arn-check");
    let mut problems = Vec::new();
    for (i, name) in [key.name.clone(), format!("alias/{}", key.name), key.id.clone(), key.arn.clone()].into_iter().enumerate() {
        let object = format!("o{i}");
        let out = s3
            .put_object()
            .bucket(BUCKET)
            .key(&object)
            .body(ByteStream::from_static(b"data"))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT with key {name}: {e:?}"));
        if out.ssekms_key_id() != Some(key.arn.as_str()) {
            problems.push(format!("PUT with key {name:?} answered key id {:?}", out.ssekms_key_id()));
        }
        let h = s3.head_object().bucket(BUCKET).key(&object).send().await.unwrap();
        if h.ssekms_key_id() != Some(key.arn.as_str()) {
            problems.push(format!("HEAD of an object written with key {name:?} answered key id {:?}", h.ssekms_key_id()));
        }
    }
    assert!(problems.is_empty(), "expected the ARN {}:\n{}", key.arn, problems.join("\n"));
}

/// aws:kms without a key id uses the KMS's default key, `aws/s3`, made on first use (as S3
/// uses its AWS-managed key); the object reads back and HEAD names that key's ARN.
#[tokio::test(flavor = "multi_thread")]
async fn kms_without_a_key_id_uses_the_default_key() {
    let server = TestServer::start();
    let s3 = server.client();
    make_bucket(&s3).await;
    assert!(!kms_admin(&server, &["list"]).contains("aws/s3"), "no default key before it is needed");
    let data = random_bytes(PKG + 3);
    let out = s3
        .put_object()
        .bucket(BUCKET)
        .key("default-key")
        .body(ByteStream::from(data.clone()))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .unwrap();
    let listed = kms_admin(&server, &["list"]);
    let line = listed.lines().find(|l| l.contains("aws/s3")).unwrap_or_else(|| panic!("no aws/s3 key in:\n{listed}"));
    let arn = out.ssekms_key_id().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:kms:") && line.contains(arn.rsplit('/').next().unwrap()), "{arn} vs {line}");
    let got = s3.get_object().bucket(BUCKET).key("default-key").send().await.unwrap();
    assert_eq!(got.ssekms_key_id(), Some(arn.as_str()));
    assert_same(&got.body.collect().await.unwrap().into_bytes(), &data, "default-key object");
    // A second write uses the same key rather than making another.
    let again = s3
        .put_object()
        .bucket(BUCKET)
        .key("again")
        .body(ByteStream::from_static(b"x"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .unwrap();
    assert_eq!(again.ssekms_key_id(), Some(arn.as_str()));
}

// ---------------------------------------------------------------- bucket default encryption

fn default_config(algorithm: ServerSideEncryption, key_id: Option<&str>) -> ServerSideEncryptionConfiguration {
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(algorithm)
        .set_kms_master_key_id(key_id.map(str::to_string))
        .build()
        .unwrap();
    let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build();
    ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_default_encryption_applies_to_plain_writes() {
    let server = TestServer::start();
    let s3 = server.client();
    make_bucket(&s3).await;
    let key = create_kms_key(&server, "bucket-default");
    let data = random_bytes(2 * PKG + 123);
    put(&s3, "before-default", &data, &Enc::None).await;

    s3.put_bucket_encryption()
        .bucket(BUCKET)
        .server_side_encryption_configuration(default_config(ServerSideEncryption::Aes256, None))
        .send()
        .await
        .unwrap();
    // A PUT without SSE headers is SSE-S3 (its answer says so too).
    put(&s3, "s3-default", &data, &Enc::S3).await;
    head(&s3, "s3-default", &Enc::S3, data.len()).await;
    assert_same(&get(&s3, "s3-default", &Enc::S3).await, &data, "s3-default");
    // So is a multipart upload and a copy without SSE headers.
    let (a, b) = (random_bytes(5 * MIB), random_bytes(777));
    put_multipart(&s3, "s3-default-mp", &[&a, &b], &Enc::S3).await;
    assert_same(&get(&s3, "s3-default-mp", &Enc::S3).await, &[&a[..], &b[..]].concat(), "s3-default-mp");
    s3.copy_object().bucket(BUCKET).key("s3-default-copy").copy_source(copy_source(BUCKET, "before-default")).send().await.unwrap();
    head(&s3, "s3-default-copy", &Enc::S3, data.len()).await;
    assert_same(&get(&s3, "s3-default-copy", &Enc::S3).await, &data, "s3-default-copy");
    // Objects from before the configuration are unchanged.
    head(&s3, "before-default", &Enc::None, data.len()).await;

    s3.put_bucket_encryption()
        .bucket(BUCKET)
        .server_side_encryption_configuration(default_config(ServerSideEncryption::AwsKms, Some(&key.name)))
        .send()
        .await
        .unwrap();
    let enc = Enc::Kms(key.clone());
    let plain = s3.put_object().bucket(BUCKET).key("kms-default").body(ByteStream::from(data.clone())).send().await.unwrap();
    expect_sse("PUT under an aws:kms default", seen!(plain), &enc);
    head(&s3, "kms-default", &enc, data.len()).await;
    assert_same(&get(&s3, "kms-default", &enc).await, &data, "kms-default");
    // aws:kms without a key id takes the default's key.
    let out = s3
        .put_object()
        .bucket(BUCKET)
        .key("kms-no-id")
        .body(ByteStream::from(data.clone()))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .unwrap();
    expect_sse("PUT aws:kms without a key id", seen!(out), &enc);
    assert_same(&get(&s3, "kms-no-id", &enc).await, &data, "kms-no-id");
    // Explicit headers win over the default.
    put(&s3, "explicit-s3", &data, &Enc::S3).await;
    head(&s3, "explicit-s3", &Enc::S3, data.len()).await;
    // The default is a KMS key: disabling it refuses plain PUTs.
    kms_admin(&server, &["disable", &key.name]);
    assert_s3_error(
        s3.put_object().bucket(BUCKET).key("refused").body(ByteStream::from_static(b"x")).send().await,
        400,
        "KMS.DisabledException",
    );
    kms_admin(&server, &["enable", &key.name]);

    s3.delete_bucket_encryption().bucket(BUCKET).send().await.unwrap();
    put(&s3, "after-delete", &data, &Enc::None).await;
    head(&s3, "after-delete", &Enc::None, data.len()).await;
}

// ----------------------------------------------------------------- what is stored on disk

/// Writes the marker objects with `enc`: 1 MiB, 100 bytes and a multipart upload of marker
/// text.
async fn write_marker_objects(s3: &Client, enc: &Enc, marker: &[u8]) {
    let text = |len: usize| marker.iter().copied().cycle().take(len).collect::<Vec<u8>>();
    let label = enc.label();
    put(s3, &format!("{label}-1mib"), &text(MIB), enc).await;
    put(s3, &format!("{label}-100b"), &text(100), enc).await;
    let (a, b) = (text(5 * MIB), text(300_000));
    put_multipart(s3, &format!("{label}-mp"), &[&a, &b], enc).await;
    assert_same(&get(s3, &format!("{label}-100b"), enc).await, &text(100), "marker object reads back");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_plaintext_reaches_the_data_dir() {
    let marker = format!("<coffer-sse-marker-{}>", hex(&random_bytes(8))).into_bytes();
    assert!(marker.len() < 40, "100 bytes hold the marker at least twice");

    let server = tls_server();
    let s3 = server.client();
    make_bucket(&s3).await;
    let kms = create_kms_key(&server, "marker");
    for enc in modes(&kms, &CustomerKey::generate()) {
        write_marker_objects(&s3, &enc, &marker).await;
    }
    // Copies re-encrypt from plaintext streams: they must not leave any behind either.
    let other_c = Enc::C(CustomerKey::generate());
    let request =
        write_sse!(s3.copy_object().bucket(BUCKET).key("copy-kms-to-c").copy_source(copy_source(BUCKET, "sse-kms-1mib")), &other_c);
    request.send().await.unwrap();
    s3.copy_object()
        .bucket(BUCKET)
        .key("copy-s3-to-kms")
        .copy_source(copy_source(BUCKET, "sse-s3-1mib"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&kms.name)
        .send()
        .await
        .unwrap();

    let data_dir = server.data_dir();
    assert!(data_dir.join("index.sqlite").is_file(), "the index is where expected");
    let (hits, scanned) = files_containing(data_dir, &marker);
    let blobs = files_under(&data_dir.join("blobs")).len();
    assert!(blobs >= 9, "the large objects are blobs: {blobs} blob files");
    assert!(hits.is_empty(), "plaintext marker found in {hits:?} (of {scanned} files scanned)");

    // Control: the same objects unencrypted, on another server: the scan finds them, both in
    // a blob and in the index (the 100-byte object is stored inline).
    let control = TestServer::start();
    let plain = control.client();
    make_bucket(&plain).await;
    write_marker_objects(&plain, &Enc::None, &marker).await;
    let (hits, _) = files_containing(control.data_dir(), &marker);
    assert!(hits.iter().any(|f| f.starts_with(control.data_dir().join("blobs"))), "control scan found no blob: {hits:?}");
    assert!(
        hits.iter().any(|f| f.file_name().unwrap().to_string_lossy().starts_with("index.sqlite")),
        "control scan found nothing in the index: {hits:?}"
    );
}

/// What a GET of an altered range may give: an error answer, or a 200 whose body breaks off
/// before the first altered package. Never the altered bytes. `want` is the original range and
/// `first_bad` the offset in it of the first altered package.
async fn expect_refused(s3: &Client, range: Option<String>, want: &[u8], first_bad: usize) -> &'static str {
    let what = format!("GET victim {range:?}");
    match s3.get_object().bucket(BUCKET).key("victim").set_range(range).send().await {
        Err(e) => {
            assert!(http_status(&e).is_some_and(|s| s >= 500), "{what}: expected an error answer: {e:?}");
            "an error answer"
        }
        Ok(out) => {
            let (got, err) = read_partial(out.body).await;
            assert!(err.is_some(), "{what}: the body ended without an error after {} of {} bytes", got.len(), want.len());
            assert!(got.len() <= first_bad, "{what}: bytes of an altered package were served ({} bytes)", got.len());
            assert!(got[..] == want[..got.len()], "{what}: what was served before the failure is not the original");
            "a body cut short"
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_blob_is_never_served() {
    let server = TestServer::start();
    let s3 = server.client();
    make_bucket(&s3).await;
    let size = 24 * PKG + 500;
    let data = random_bytes(size);
    put(&s3, "victim", &data, &Enc::S3).await;

    let blobs = files_under(&server.data_dir().join("blobs"));
    assert_eq!(blobs.len(), 1, "one blob: {blobs:?}");
    let blob = &blobs[0];
    let packages = size.div_ceil(PKG);
    assert_eq!(std::fs::metadata(blob).unwrap().len() as usize, HEADER + size + packages * TAG, "sealed blob layout");

    // Flip one byte in package 4 and one in package 20. AES-GCM encrypts with a stream cipher:
    // opening without checking the tags would yield the plaintext with these bytes flipped.
    let mut stored = std::fs::read(blob).unwrap();
    let mut altered = data.clone();
    for (package, offset) in [(4, 1234), (20, 777)] {
        stored[HEADER + package * (PKG + TAG) + offset] ^= 0x01;
        altered[package * PKG + offset] ^= 0x01;
    }
    let mut perms = std::fs::metadata(blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(blob, perms).unwrap();
    std::fs::write(blob, &stored).unwrap();
    assert_ne!(altered, data);

    let log_before = server.log().len();
    // The whole object; a range inside package 4; a range from package 8 on, whose first
    // packages are fine and which meets package 20 only after the answer has started.
    let mut outcomes = Vec::new();
    outcomes.push(expect_refused(&s3, None, &data, 4 * PKG).await);
    let inside = 4 * PKG + 1000..=4 * PKG + 1300;
    outcomes.push(expect_refused(&s3, Some(format!("bytes={}-{}", inside.start(), inside.end())), &data[inside.clone()], 0).await);
    outcomes.push(expect_refused(&s3, Some(format!("bytes={}-", 8 * PKG)), &data[8 * PKG..], 12 * PKG).await);
    eprintln!("tampered reads ended in: {outcomes:?}");

    // Untouched packages still read: only the packages a range covers are opened.
    for (first, last) in [(0, PKG - 1), (5 * PKG, 20 * PKG - 1), (21 * PKG, size - 1)] {
        let (_, got) = get_range(&s3, "victim", &Enc::S3, &format!("bytes={first}-{last}")).await;
        assert_same(&got, &data[first..=last], &format!("untouched bytes {first}-{last}"));
    }

    let log = server.log();
    let new_lines = &log[log_before.min(log.len())..];
    assert!(
        new_lines.lines().any(|l| l.contains("ERROR") && l.contains("authentication")),
        "no error line about the failed authentication in the server log:\n{new_lines}"
    );
}
