//! Turns a request body stream into staged bytes in one pass: MD5 (for the ETag) and any flexible
//! checksum of the plaintext, encryption when asked, SHA-256 of the stored bytes (the content
//! address); small bodies in memory, larger on disk.

use crate::blob::{BlobDir, Hash, PublishedBlob, StagingFile};
use crate::direct::BlobWriter;
use crate::error::{Result, StorageError};
use bytes::{Bytes, BytesMut};
use coffer_crypto::checksum::{Checksum, ChecksumAlgorithm, Checksummer};
use coffer_crypto::envelope::{Key256, Sealer};
use futures::future::Either;
use futures::{Stream, StreamExt};
use hash_pool::HashJob;
use sha2::{Digest, Sha256};
pub use interleaved::{Digests, Md5Sha256};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

mod hash_pool;
mod interleaved;
mod md5_lanes;
mod upload_threads;

/// Bodies up to this size are kept inline in the index.
pub const INLINE_MAX: usize = 64 * 1024;
/// Batches in flight between the network task and the hashing pool, and the writing thread.
const PIPELINE_DEPTH: usize = 8;

pub struct IngestOptions {
    /// Algorithms whose checksum to compute while streaming.
    pub checksums: Vec<ChecksumAlgorithm>,
    /// Bodies longer than this fail with `StorageError::TooLarge`.
    pub max_size: u64,
    /// Encrypt the stored bytes under this data key (see `coffer_crypto::envelope`).
    pub seal: Option<Key256>,
    /// When sealing, also hash the plaintext with SHA-256 (to check a signed payload hash);
    /// unsealed bodies always have it, as their content address.
    pub hash_plaintext: bool,
}

/// A body that has been fully received and made durable (if on disk) but not yet named by
/// any object. Dropping it discards the bytes.
pub struct Ingested {
    /// Plaintext size.
    pub size: u64,
    /// MD5 of the plaintext.
    pub md5: [u8; 16],
    /// SHA-256 of the stored (possibly encrypted) bytes: the content address.
    pub sha256: Hash,
    /// SHA-256 of the plaintext: the same as `sha256` unless sealed, and then only if asked.
    pub plain_sha256: Option<Hash>,
    pub checksums: Vec<Checksum>,
    pub(crate) data: Staged,
}

impl Ingested {
    pub fn checksum(&self, algorithm: ChecksumAlgorithm) -> Option<&Checksum> {
        self.checksums.iter().find(|c| c.algorithm == algorithm)
    }
}

pub(crate) enum Staged {
    Inline(Bytes),
    /// A staged blob file and the CRC32C of its bytes (checked by reads of the whole blob).
    File(StagingFile, u32),
    /// The same, already published under its SHA-256 while the hashing pool finished.
    Published(PublishedBlob, u32),
}

/// Who hashes what of a large body: the hashing pool, or the body's writing thread, which
/// hashes the stored bytes on their way to the file. The pool computes the plaintext's MD5 (the
/// ETag), two uploads' side by side on one core (`hash_pool`). The blob's SHA-256 is computed
/// in the pool too, interleaved with MD5 (the least CPU per byte), when more uploads are being
/// received than there are cores: every core is busy then. With fewer, the writing thread
/// computes it, and the work of each upload spreads over more cores. A sealed body's stored
/// bytes are hashed where they are sealed, the writing thread, and the pool adds the
/// plaintext's SHA-256 only when a signed payload needs it. The writing thread computes the
/// stored bytes' CRC32C (checked by reads) in every case. Returns the pool's hasher and whether
/// the writing thread computes the SHA-256 of what it writes.
fn hash_plan(sealed: bool, hash_plaintext: bool, few_uploads: bool) -> (Md5Sha256, bool) {
    match (sealed, hash_plaintext, few_uploads) {
        (false, _, true) => (Md5Sha256::md5_only(), true),
        (false, _, false) => (Md5Sha256::new(), false),
        (true, true, _) => (Md5Sha256::new(), true),
        (true, false, _) => (Md5Sha256::md5_only(), true),
    }
}

/// Large bodies being received at this moment, for `hash_plan`.
static RECEIVING: AtomicUsize = AtomicUsize::new(0);

/// Counts one large body in `RECEIVING` while it lives.
struct Receiving;

impl Receiving {
    /// Counts this body and says whether few are being received (this one included): no more
    /// than there are cores.
    fn start() -> (Receiving, bool) {
        static CORES: OnceLock<usize> = OnceLock::new();
        let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let now = RECEIVING.fetch_add(1, Ordering::Relaxed) + 1;
        (Receiving, now <= cores)
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        RECEIVING.fetch_sub(1, Ordering::Relaxed);
    }
}

fn checksum_all(algs: &[ChecksumAlgorithm], data: &[u8]) -> Vec<Checksum> {
    let mut checksums: Vec<Checksummer> = algs.iter().map(|a| a.hasher()).collect();
    for c in &mut checksums {
        c.update(data);
    }
    checksums.into_iter().map(|c| c.finish()).collect()
}

pub(crate) async fn ingest<S>(dir: &Arc<BlobDir>, mut body: S, opts: IngestOptions) -> Result<Ingested>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let mut head = BytesMut::new();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(StorageError::Body)?;
        size += chunk.len() as u64;
        if size > opts.max_size {
            return Err(StorageError::TooLarge(opts.max_size));
        }
        head.extend_from_slice(&chunk);
        if head.len() > INLINE_MAX {
            return ingest_to_file(dir, head.freeze(), body, opts).await;
        }
    }
    let mut hasher = Md5Sha256::new();
    hasher.update(&head);
    let Digests { md5, sha256, .. } = hasher.finish();
    let sha256 = sha256.expect("a hasher made with SHA-256");
    let checksums = checksum_all(&opts.checksums, &head);
    match &opts.seal {
        None => Ok(Ingested { size, md5, sha256, plain_sha256: Some(sha256), checksums, data: Staged::Inline(head.freeze()) }),
        Some(key) => {
            let sealed = Sealer::seal_all(key, &head);
            let stored_sha256 = Sha256::digest(&sealed).into();
            Ok(Ingested { size, md5, sha256: stored_sha256, plain_sha256: Some(sha256), checksums, data: Staged::Inline(sealed.into()) })
        }
    }
}

/// Chunks are handed to the hashing threads in batches of about this many bytes, so a
/// wake-up of each thread covers a megabyte instead of one network read.
const BATCH_BYTES: usize = 1024 * 1024;

enum Feed {
    Data(Arc<Vec<Bytes>>),
    Done,
}

/// Receives chunks until `Done`; `None` if the sender went away first (the body failed).
fn drain(rx: &mut tokio::sync::mpsc::Receiver<Feed>, mut each: impl FnMut(&Bytes) -> io::Result<()>) -> Result<()> {
    loop {
        match rx.blocking_recv() {
            Some(Feed::Data(batch)) => {
                for chunk in batch.iter() {
                    each(chunk)?;
                }
            }
            Some(Feed::Done) => return Ok(()),
            None => return Err(StorageError::Closed),
        }
    }
}

/// Large bodies are hashed and written at once: the hashing pool hashes the plaintext, and a
/// thread of the body's own computes the requested checksums, seals when asked, writes the file
/// and hashes what it writes (`hash_plan` says what).
async fn ingest_to_file<S>(dir: &Arc<BlobDir>, head: Bytes, mut body: S, opts: IngestOptions) -> Result<Ingested>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let started = std::time::Instant::now();
    let mut chunks = 0u64;
    let (out, staging) = dir.create_staging()?;
    let (write_tx, write_rx) = tokio::sync::mpsc::channel::<Feed>(PIPELINE_DEPTH);
    let (_receiving, few_uploads) = Receiving::start();
    let (plain_hasher, write_hashes_sha256) = hash_plan(opts.seal.is_some(), opts.hash_plaintext, few_uploads);
    let mut plain_hashes = HashJob::start(plain_hasher);
    let algs = opts.checksums.clone();
    let sealer = opts.seal.as_ref().map(Sealer::new);
    let write_worker = upload_threads::spawn(move || write_and_seal(out, write_rx, &algs, sealer, write_hashes_sha256));

    let mut size = head.len() as u64;
    let mut failure = None;
    let mut next = Some(Ok(head));
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    // When a worker stops early (the disk is full), the rest of the body is still read and
    // dropped, so the client finishes sending and reads the error instead of a reset.
    let mut workers_gone = false;
    while let Some(item) = next {
        match item {
            Ok(_) if workers_gone => {}
            Ok(chunk) => {
                batch_bytes += chunk.len();
                batch.push(chunk);
                if batch_bytes >= BATCH_BYTES {
                    let full = Arc::new(std::mem::take(&mut batch));
                    batch_bytes = 0;
                    plain_hashes.push(full.clone()).await;
                    if write_tx.send(Feed::Data(full)).await.is_err() {
                        workers_gone = true;
                    }
                }
            }
            Err(e) => {
                failure = Some(StorageError::Body(e));
                break;
            }
        }
        next = body.next().await;
        if let Some(Ok(chunk)) = &next {
            chunks += 1;
            size += chunk.len() as u64;
            if size > opts.max_size {
                failure = Some(StorageError::TooLarge(opts.max_size));
                break;
            }
        }
    }
    if failure.is_none() {
        let rest = Arc::new(batch);
        if !workers_gone {
            plain_hashes.push(rest.clone()).await;
        }
        let _ = write_tx.send(Feed::Data(rest)).await;
        let _ = write_tx.send(Feed::Done).await;
    }
    drop(write_tx);
    let received = started.elapsed();
    let written = write_worker.await.map_err(|_| StorageError::Closed)?;
    if let Some(f) = failure {
        return Err(f);
    }
    let (stored, checksums) = written?;
    // When the writing thread has the blob's name, the file is published under it (rename and
    // directory fsync) while the pool finishes the MD5, which is usually still running.
    let staged = match stored.sha256 {
        Some(hash) => {
            let dir = dir.clone();
            Either::Left(tokio::task::spawn_blocking(move || dir.publish(staging, &hash).map(PublishedBlob::new)))
        }
        None => Either::Right(staging),
    };
    let plain = plain_hashes.finish().await;
    let data = match staged {
        Either::Left(publishing) => Staged::Published(publishing.await.map_err(|_| StorageError::Closed)??, stored.crc32c),
        Either::Right(staging) => Staged::File(staging, stored.crc32c),
    };
    tracing::debug!(size, chunks, ?received, total = ?started.elapsed(), "ingested body to a staging file");
    let (sha256, plain_sha256) = match (stored.sha256, plain.sha256) {
        (Some(stored), plain_sha256) if opts.seal.is_some() => (stored, plain_sha256),
        (Some(stored), _) => (stored, Some(stored)),
        (None, Some(plain)) => (plain, Some(plain)),
        (None, None) => unreachable!("hash_plan gives the SHA-256 to the pool or the writing thread"),
    };
    Ok(Ingested { size, md5: plain.md5, sha256, plain_sha256, checksums, data })
}

/// The hashes of a body's stored bytes, computed as they are written.
struct StoredDigests {
    /// When `hash_plan` gives it to the writing thread.
    sha256: Option<Hash>,
    crc32c: u32,
}

/// Computes the plaintext's requested checksums and writes the file: the plaintext itself, or
/// when a sealer is given the sealed bytes. What is written is hashed on the way: CRC32C for
/// cheap verification of reads, and with `hash_sha256` SHA-256 for the blob's name.
fn write_and_seal(
    mut out: BlobWriter,
    mut rx: tokio::sync::mpsc::Receiver<Feed>,
    algs: &[ChecksumAlgorithm],
    mut sealer: Option<Sealer>,
    hash_sha256: bool,
) -> Result<(StoredDigests, Vec<Checksum>)> {
    let mut sha256 = hash_sha256.then(Sha256::new);
    let mut crc32c = 0u32;
    let mut checksums: Vec<Checksummer> = algs.iter().map(|a| a.hasher()).collect();
    let mut store = |stored: &[u8]| -> io::Result<()> {
        if let Some(sha256) = &mut sha256 {
            sha256.update(stored);
        }
        crc32c = crc32c::crc32c_append(crc32c, stored);
        out.write_all(stored)
    };
    drain(&mut rx, |chunk| {
        for c in &mut checksums {
            c.update(chunk);
        }
        match &mut sealer {
            Some(s) => s.update(chunk, &mut store),
            None => store(chunk),
        }
    })?;
    if let Some(s) = sealer {
        s.finish(&mut store)?;
    }
    let stored = StoredDigests { sha256: sha256.map(|h| h.finalize().into()), crc32c };
    out.finish()?;
    Ok((stored, checksums.into_iter().map(|c| c.finish()).collect()))
}

/// Like `ingest`, but always stages to a file however small the body, for bodies that must
/// become a blob of their own (the parts of a multipart upload).
pub(crate) async fn ingest_to_blob<S>(dir: &Arc<BlobDir>, body: S, opts: IngestOptions) -> Result<Ingested>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    ingest_to_file(dir, Bytes::new(), body, opts).await
}
