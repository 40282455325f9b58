//! Turns a request body stream into staged bytes in one pass: MD5 (for the ETag) and any flexible
//! checksum of the plaintext, encryption when asked, SHA-256 of the stored bytes (the content
//! address); small bodies in memory, larger on disk.

use crate::blob::{BlobDir, Hash, StagingFile};
use crate::direct::BlobWriter;
use crate::error::{Result, StorageError};
use bytes::{Bytes, BytesMut};
use coffer_crypto::checksum::{Checksum, ChecksumAlgorithm, Checksummer};
use coffer_crypto::envelope::{Key256, Sealer};
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use sha2::Sha256;
use std::io;
use std::sync::Arc;

/// Bodies up to this size are kept inline in the index.
pub const INLINE_MAX: usize = 64 * 1024;
/// Batches in flight between the network task and each hashing thread.
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
}

struct Hashes {
    md5: Md5,
    sha256: Sha256,
    checksums: Vec<Checksummer>,
}

impl Hashes {
    fn new(algs: &[ChecksumAlgorithm]) -> Hashes {
        Hashes { md5: Md5::new(), sha256: Sha256::new(), checksums: algs.iter().map(|a| a.hasher()).collect() }
    }
    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha256.update(data);
        for c in &mut self.checksums {
            c.update(data);
        }
    }
    fn finish(self) -> ([u8; 16], Hash, Vec<Checksum>) {
        (
            self.md5.finalize().into(),
            self.sha256.finalize().into(),
            self.checksums.into_iter().map(|c| c.finish()).collect(),
        )
    }
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
    let mut hashes = Hashes::new(&opts.checksums);
    hashes.update(&head);
    let (md5, sha256, checksums) = hashes.finish();
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

/// Large bodies are hashed on two threads at once, MD5 on one and SHA-256 (plus the
/// requested checksums and the file write) on the other: MD5 alone is the slowest stage.
async fn ingest_to_file<S>(dir: &Arc<BlobDir>, head: Bytes, mut body: S, opts: IngestOptions) -> Result<Ingested>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let started = std::time::Instant::now();
    let mut chunks = 0u64;
    let (out, staging) = dir.create_staging()?;
    let (md5_tx, mut md5_rx) = tokio::sync::mpsc::channel::<Feed>(PIPELINE_DEPTH);
    let (write_tx, write_rx) = tokio::sync::mpsc::channel::<Feed>(PIPELINE_DEPTH);
    let md5_worker = tokio::task::spawn_blocking(move || {
        let mut md5 = Md5::new();
        drain(&mut md5_rx, |chunk| {
            md5.update(chunk);
            Ok(())
        })
        .map(|()| <[u8; 16]>::from(md5.finalize()))
    });
    let algs = opts.checksums.clone();
    let sealer = opts.seal.as_ref().map(Sealer::new);
    let plain_hasher = (sealer.is_some() && opts.hash_plaintext).then(Sha256::new);
    let write_worker = tokio::task::spawn_blocking(move || write_and_hash(out, write_rx, &algs, sealer, plain_hasher));

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
                    if md5_tx.send(Feed::Data(full.clone())).await.is_err() || write_tx.send(Feed::Data(full)).await.is_err() {
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
        let _ = md5_tx.send(Feed::Data(rest.clone())).await;
        let _ = write_tx.send(Feed::Data(rest)).await;
        let _ = md5_tx.send(Feed::Done).await;
        let _ = write_tx.send(Feed::Done).await;
    }
    drop((md5_tx, write_tx));
    let received = started.elapsed();
    let md5 = md5_worker.await.map_err(|_| StorageError::Closed)?;
    let written = write_worker.await.map_err(|_| StorageError::Closed)?;
    tracing::debug!(size, chunks, ?received, total = ?started.elapsed(), "ingested body to a staging file");
    if let Some(f) = failure {
        return Err(f);
    }
    let (sha256, crc32c, plain_sha256, checksums) = written?;
    Ok(Ingested { size, md5: md5?, sha256, plain_sha256, checksums, data: Staged::File(staging, crc32c) })
}

/// Checksums the plaintext, encrypts it when a sealer is given, and writes and hashes what
/// is stored (SHA-256 for its name, CRC32C for cheap verification of reads).
fn write_and_hash(
    mut out: BlobWriter,
    mut rx: tokio::sync::mpsc::Receiver<Feed>,
    algs: &[ChecksumAlgorithm],
    mut sealer: Option<Sealer>,
    mut plain_sha256: Option<Sha256>,
) -> Result<(Hash, u32, Option<Hash>, Vec<Checksum>)> {
    let mut sha256 = Sha256::new();
    let mut crc32c = 0u32;
    let mut checksums: Vec<Checksummer> = algs.iter().map(|a| a.hasher()).collect();
    let mut store = |stored: &[u8]| -> io::Result<()> {
        sha256.update(stored);
        crc32c = crc32c::crc32c_append(crc32c, stored);
        out.write_all(stored)
    };
    drain(&mut rx, |chunk| {
        for c in &mut checksums {
            c.update(chunk);
        }
        if let Some(h) = &mut plain_sha256 {
            h.update(chunk);
        }
        match &mut sealer {
            Some(s) => s.update(chunk, &mut store),
            None => store(chunk),
        }
    })?;
    let sealer_used = sealer.is_some();
    if let Some(s) = sealer {
        s.finish(&mut store)?;
    }
    out.finish()?;
    let stored: Hash = sha256.finalize().into();
    let plain = match (sealer_used, plain_sha256) {
        (false, _) => Some(stored),
        (true, h) => h.map(|h| h.finalize().into()),
    };
    Ok((stored, crc32c, plain, checksums.into_iter().map(|c| c.finish()).collect()))
}

/// Like `ingest`, but always stages to a file however small the body, for bodies that must
/// become a blob of their own (the parts of a multipart upload).
pub(crate) async fn ingest_to_blob<S>(dir: &Arc<BlobDir>, body: S, opts: IngestOptions) -> Result<Ingested>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    ingest_to_file(dir, Bytes::new(), body, opts).await
}
