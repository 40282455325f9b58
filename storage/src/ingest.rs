//! Turns a request body stream into staged bytes in one pass: MD5 (for the ETag), SHA-256 (the
//! content address) and an optional flexible checksum, small bodies in memory, larger on disk.

use crate::blob::{BlobDir, Hash, StagingFile};
use crate::error::{Result, StorageError};
use bytes::{Bytes, BytesMut};
use coffer_crypto::checksum::{Checksum, ChecksumAlgorithm, Checksummer};
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use sha2::Sha256;
use std::io::{self, Write};
use std::sync::Arc;

/// Bodies up to this size are kept inline in the index.
pub const INLINE_MAX: usize = 64 * 1024;
/// Write buffer of the staging file.
const FILE_BUFFER: usize = 1024 * 1024;
/// Chunks in flight between the network task and the hashing/writing thread.
const PIPELINE_DEPTH: usize = 16;

pub struct IngestOptions {
    /// Algorithms whose checksum to compute while streaming.
    pub checksums: Vec<ChecksumAlgorithm>,
    /// Bodies longer than this fail with `StorageError::TooLarge`.
    pub max_size: u64,
}

/// A body that has been fully received and made durable (if on disk) but not yet named by
/// any object. Dropping it discards the bytes.
pub struct Ingested {
    pub size: u64,
    pub md5: [u8; 16],
    pub sha256: Hash,
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
    File(StagingFile),
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
    let data = head.freeze();
    let mut hashes = Hashes::new(&opts.checksums);
    hashes.update(&data);
    let (md5, sha256, checksums) = hashes.finish();
    Ok(Ingested { size, md5, sha256, checksums, data: Staged::Inline(data) })
}

enum Feed {
    Data(Bytes),
    Done,
}

async fn ingest_to_file<S>(dir: &Arc<BlobDir>, head: Bytes, mut body: S, opts: IngestOptions) -> Result<Ingested>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let (file, staging) = dir.create_staging()?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Feed>(PIPELINE_DEPTH);
    let algs = opts.checksums.clone();
    let worker = tokio::task::spawn_blocking(move || write_and_hash(file, rx, &algs));

    let mut size = head.len() as u64;
    let mut failure = None;
    if tx.send(Feed::Data(head)).await.is_ok() {
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    size += chunk.len() as u64;
                    if size > opts.max_size {
                        failure = Some(StorageError::TooLarge(opts.max_size));
                        break;
                    }
                    if tx.send(Feed::Data(chunk)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(StorageError::Body(e));
                    break;
                }
            }
        }
        if failure.is_none() {
            let _ = tx.send(Feed::Done).await;
        }
    }
    drop(tx);
    let written = worker.await.map_err(|_| StorageError::Closed)?;
    if let Some(f) = failure {
        return Err(f);
    }
    let (md5, sha256, checksums) = written?;
    Ok(Ingested { size, md5, sha256, checksums, data: Staged::File(staging) })
}

fn write_and_hash(
    file: std::fs::File,
    mut rx: tokio::sync::mpsc::Receiver<Feed>,
    algs: &[ChecksumAlgorithm],
) -> Result<([u8; 16], Hash, Vec<Checksum>)> {
    let mut hashes = Hashes::new(algs);
    let mut out = io::BufWriter::with_capacity(FILE_BUFFER, file);
    loop {
        match rx.blocking_recv() {
            Some(Feed::Data(chunk)) => {
                hashes.update(&chunk);
                out.write_all(&chunk)?;
            }
            Some(Feed::Done) => break,
            None => return Err(StorageError::Closed),
        }
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_data()?;
    Ok(hashes.finish())
}
