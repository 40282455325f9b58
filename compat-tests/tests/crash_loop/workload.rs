//! One client task's share of the mixed workload: PUTs small and large, multipart uploads,
//! overwrites, versioned writes, deletes, delete markers and CopyObject on keys only it writes.

use super::oracle::{Content, TaskState, VersionOp, Version};
use super::{PLAIN, VERSIONED};
use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::copy_source;
use rand::rngs::StdRng;
use rand::RngExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const MIB: usize = 1024 * 1024;
/// Largest small object: small ones live inline in the index.
const SMALL: usize = 60 * 1024;
/// Versions (and delete markers) a key keeps before new writes make room by deleting the oldest.
const MAX_HISTORY: usize = 6;

/// Runs until `stop` is set; a failure before that fails the test, one after it is the kill.
/// Returns the state and how many writes were acknowledged.
pub async fn run(s3: Client, mut st: TaskState, mut rng: StdRng, run_seed: u64, stop: Arc<AtomicBool>) -> (TaskState, u64) {
    let mut acked = 0;
    while !stop.load(Ordering::SeqCst) {
        let ok = match rng.random_range(0..100) {
            0..25 => put_plain(&s3, &mut st, &mut rng, run_seed, false).await,
            25..40 => put_plain(&s3, &mut st, &mut rng, run_seed, true).await,
            40..43 => multipart(&s3, &mut st, &mut rng, run_seed).await,
            43..53 => copy_plain(&s3, &mut st, &mut rng).await,
            53..61 => delete_plain(&s3, &mut st, &mut rng).await,
            61..81 => put_versioned(&s3, &mut st, &mut rng, run_seed).await,
            81..89 => delete_marker(&s3, &mut st, &mut rng).await,
            89..95 => delete_version(&s3, &mut st, &mut rng, None).await,
            _ => copy_to_versioned(&s3, &mut st, &mut rng).await,
        };
        match ok {
            Outcome::Acked => acked += 1,
            Outcome::Skipped => {}
            Outcome::Failed(what) if stop.load(Ordering::SeqCst) => {
                let _ = what;
                break;
            }
            Outcome::Failed(what) => panic!("task {}: {what} failed before the kill", st.task),
        }
    }
    (st, acked)
}

enum Outcome {
    Acked,
    Skipped,
    Failed(String),
}

fn failed(what: &str, err: impl std::fmt::Debug) -> Outcome {
    Outcome::Failed(format!("{what}: {err:?}"))
}

fn random_len(rng: &mut StdRng, large: bool) -> usize {
    if large {
        rng.random_range(SMALL + 10_000..2 * MIB)
    } else {
        rng.random_range(0..SMALL)
    }
}

async fn put(s3: &Client, bucket: &str, key: &str, c: &Content) -> Result<Option<String>, String> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(c.bytes()))
        .content_type(c.content_type())
        .metadata("seed", c.seed.to_string())
        .tagging(format!("seed={}", c.seed))
        .send()
        .await
        .map(|r| r.version_id().map(str::to_string))
        .map_err(|e| format!("PUT {bucket}/{key}: {e:?}"))
}

async fn put_plain(s3: &Client, st: &mut TaskState, rng: &mut StdRng, run_seed: u64, large: bool) -> Outcome {
    let i = rng.random_range(0..st.plain.len());
    let c = st.content(run_seed, random_len(rng, large));
    st.plain[i].pending = Some(Some(c.clone()));
    match put(s3, PLAIN, &st.key(i), &c).await {
        Ok(_) => settle_plain(st, i),
        Err(e) => Outcome::Failed(e),
    }
}

fn settle_plain(st: &mut TaskState, i: usize) -> Outcome {
    let k = &mut st.plain[i];
    k.acked = k.pending.take().expect("a write was pending");
    Outcome::Acked
}

async fn multipart(s3: &Client, st: &mut TaskState, rng: &mut StdRng, run_seed: u64) -> Outcome {
    let i = rng.random_range(0..st.plain.len());
    let key = st.key(i);
    let c = st.content(run_seed, 5 * MIB + rng.random_range(1..300_000));
    let created = s3
        .create_multipart_upload()
        .bucket(PLAIN)
        .key(&key)
        .content_type(c.content_type())
        .metadata("seed", c.seed.to_string())
        .tagging(format!("seed={}", c.seed))
        .send()
        .await;
    let upload_id = match created {
        Ok(r) => r.upload_id().unwrap_or_default().to_string(),
        Err(e) => return failed("CreateMultipartUpload", e),
    };
    let bytes = c.bytes();
    let mut parts = Vec::new();
    for (n, chunk) in bytes.chunks(5 * MIB).enumerate() {
        let number = n as i32 + 1;
        let sent = s3
            .upload_part()
            .bucket(PLAIN)
            .key(&key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await;
        match sent {
            Ok(r) => parts.push(CompletedPart::builder().part_number(number).set_e_tag(r.e_tag().map(str::to_string)).build()),
            Err(e) => return failed("UploadPart", e),
        }
    }
    st.plain[i].pending = Some(Some(c));
    let done = s3
        .complete_multipart_upload()
        .bucket(PLAIN)
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await;
    match done {
        Ok(_) => settle_plain(st, i),
        Err(e) => failed("CompleteMultipartUpload", e),
    }
}

async fn copy_plain(s3: &Client, st: &mut TaskState, rng: &mut StdRng) -> Outcome {
    let (from, to) = (rng.random_range(0..st.plain.len()), rng.random_range(0..st.plain.len()));
    let Some(c) = st.plain[from].acked.clone().filter(|_| from != to) else { return Outcome::Skipped };
    st.plain[to].pending = Some(Some(c));
    match s3.copy_object().bucket(PLAIN).key(st.key(to)).copy_source(copy_source(PLAIN, &st.key(from))).send().await {
        Ok(_) => settle_plain(st, to),
        Err(e) => failed("CopyObject", e),
    }
}

async fn delete_plain(s3: &Client, st: &mut TaskState, rng: &mut StdRng) -> Outcome {
    let i = rng.random_range(0..st.plain.len());
    st.plain[i].pending = Some(None);
    match s3.delete_object().bucket(PLAIN).key(st.key(i)).send().await {
        Ok(_) => settle_plain(st, i),
        Err(e) => failed("DeleteObject", e),
    }
}

/// Records the acknowledged new version (or delete marker) of versioned key `i`.
fn settle_added(st: &mut TaskState, i: usize, id: Option<&str>) -> Outcome {
    let k = &mut st.versioned[i];
    let Some(VersionOp::Add(content)) = k.pending.take() else { panic!("an addition was pending") };
    let Some(id) = id else { return Outcome::Failed("no version id in the answer".into()) };
    k.acked.push(Version { id: id.to_string(), content });
    Outcome::Acked
}

async fn put_versioned(s3: &Client, st: &mut TaskState, rng: &mut StdRng, run_seed: u64) -> Outcome {
    let i = rng.random_range(0..st.versioned.len());
    if st.versioned[i].acked.len() >= MAX_HISTORY {
        // Keeps histories (and the reading back after each kill) bounded.
        return delete_version(s3, st, rng, Some(i)).await;
    }
    let large = rng.random_bool(0.4);
    let c = st.content(run_seed, random_len(rng, large));
    st.versioned[i].pending = Some(VersionOp::Add(Some(c.clone())));
    match put(s3, VERSIONED, &st.key(i), &c).await {
        Ok(id) => settle_added(st, i, id.as_deref()),
        Err(e) => Outcome::Failed(e),
    }
}

async fn delete_marker(s3: &Client, st: &mut TaskState, rng: &mut StdRng) -> Outcome {
    let i = rng.random_range(0..st.versioned.len());
    st.versioned[i].pending = Some(VersionOp::Add(None));
    match s3.delete_object().bucket(VERSIONED).key(st.key(i)).send().await {
        Ok(r) if r.delete_marker() == Some(true) => settle_added(st, i, r.version_id()),
        Ok(r) => Outcome::Failed(format!("DeleteObject made no delete marker: {r:?}")),
        Err(e) => failed("DeleteObject (marker)", e),
    }
}

/// Deletes one version by id of key `i` (a random key if `None`): the oldest when the history
/// is long, else a random one.
async fn delete_version(s3: &Client, st: &mut TaskState, rng: &mut StdRng, key: Option<usize>) -> Outcome {
    let i = key.unwrap_or_else(|| rng.random_range(0..st.versioned.len()));
    let history = &st.versioned[i].acked;
    if history.is_empty() {
        return Outcome::Skipped;
    }
    let pick = if history.len() > 4 { 0 } else { rng.random_range(0..history.len()) };
    let id = history[pick].id.clone();
    st.versioned[i].pending = Some(VersionOp::Remove(id.clone()));
    match s3.delete_object().bucket(VERSIONED).key(st.key(i)).version_id(&id).send().await {
        Ok(_) => {
            let k = &mut st.versioned[i];
            k.pending = None;
            k.acked.retain(|v| v.id != id);
            Outcome::Acked
        }
        Err(e) => failed("DeleteObject (version)", e),
    }
}

async fn copy_to_versioned(s3: &Client, st: &mut TaskState, rng: &mut StdRng) -> Outcome {
    let (from, to) = (rng.random_range(0..st.plain.len()), rng.random_range(0..st.versioned.len()));
    let Some(c) = st.plain[from].acked.clone() else { return Outcome::Skipped };
    st.versioned[to].pending = Some(VersionOp::Add(Some(c)));
    match s3.copy_object().bucket(VERSIONED).key(st.key(to)).copy_source(copy_source(PLAIN, &st.key(from))).send().await {
        Ok(r) => settle_added(st, to, r.version_id()),
        Err(e) => failed("CopyObject (versioned)", e),
    }
}
