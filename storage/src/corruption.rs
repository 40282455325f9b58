//! Blobs whose bytes no longer match their SHA-256 name: counted for the life of the process
//! and recorded in the index (`corrupt_blobs`) by whoever finds them (verified reads, the scrubber).

use crate::blob::Hash;
use crate::error::Result;
use crate::Store;
use std::sync::atomic::{AtomicU64, Ordering};

/// The process-wide count of corrupt blobs found (each detection counts, so a blob read
/// twice counts twice; the table holds each blob once).
#[derive(Default)]
pub(crate) struct CorruptionCounter(AtomicU64);

/// A blob recorded as corrupt.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CorruptBlob {
    /// The blob's name: the SHA-256 its bytes should have, in hex.
    pub hash: String,
    /// When it was first found corrupt (ms since the epoch).
    pub detected_ms: i64,
    /// What found it: `read` (a GET of the whole blob), `read-inline` (a small object kept
    /// in the index), `scrub`.
    pub source: String,
}

impl Store {
    /// How many times this process found a blob whose bytes do not match its name.
    pub fn corrupt_blobs_detected(&self) -> u64 {
        self.inner.corrupt.0.load(Ordering::Relaxed)
    }

    /// Logs and counts a corrupt blob and records it in the index in the background (the
    /// first detection of each blob is kept). Callable from any thread inside the runtime.
    pub fn report_corrupt_blob(&self, hash: Hash, source: &'static str) {
        self.inner.corrupt.0.fetch_add(1, Ordering::Relaxed);
        tracing::error!(blob = %hex::encode(hash), source, "stored bytes differ from what was written: corrupt blob, not serving it");
        let store = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = store.record_corrupt_blob(hash, source).await {
                        tracing::error!(blob = %hex::encode(hash), error = %e, "could not record the corrupt blob in the index");
                    }
                });
            }
            Err(_) => tracing::error!(blob = %hex::encode(hash), "no runtime to record the corrupt blob in the index"),
        }
    }

    /// Records a corrupt blob durably; a blob already recorded keeps its first detection.
    pub async fn record_corrupt_blob(&self, hash: Hash, source: &str) -> Result<()> {
        self.index().record_corrupt_blob(hash, source).await
    }

    /// Every blob recorded as corrupt, oldest detection first.
    pub async fn corrupt_blobs(&self) -> Result<Vec<CorruptBlob>> {
        self.index().corrupt_blobs().await
    }
}
