//! Publishing staged bytes as a blob before the index commit that names them, and taking a
//! blob back when that commit fails, so a failed write (a full disk) leaves no file behind.

use crate::blob::{parse_hash, Hash, PinGuard};
use crate::blob_store::BlobKey;
use crate::error::{Result, StorageError};
use crate::ingest::{Ingested, Staged};
use crate::model::{Body, Segment};
use crate::Store;

/// Staged bytes made durable: the body to name in the index, the pin that keeps its blob from
/// the collector until then, and the blob's CRC32C.
pub(crate) struct Published {
    pub body: Body,
    pub pin: Option<PinGuard>,
    pub crc32c: Option<u32>,
}

impl Published {
    fn blob(pin: PinGuard, hash: Hash, size: u64, crc32c: u32) -> Published {
        let segment = Segment { hash: hex::encode(hash), len: size, gen: Some(pin.key().gen) };
        Published { body: Body::Blobs(vec![segment]), pin: Some(pin), crc32c: Some(crc32c) }
    }
}

impl Store {
    /// After a write that published `stored` failed (a full disk, a failed precondition),
    /// removes its blob again unless something else names it, so the failed write leaves no
    /// file behind (and a full disk gets its space back).
    pub(crate) async fn unpublish_if_failed<R>(&self, written: &Result<R>, stored: &Body, pin: Option<PinGuard>) {
        let (Err(_), Body::Blobs(segments)) = (written, stored) else { return };
        drop(pin);
        let keys: Vec<BlobKey> = segments.iter().filter_map(|s| Some(BlobKey { hash: parse_hash(&s.hash)?, gen: s.gen.unwrap_or(0) })).collect();
        if let Err(e) = self.remove_orphans(keys).await {
            tracing::warn!(error = %e, "could not remove the blob of a failed write; the start-up sweep will");
        }
    }

    /// Makes the staged bytes durable under their content address (if on disk and not
    /// already published by `ingest`).
    pub(crate) async fn publish(&self, body: Ingested) -> Result<Published> {
        match body.data {
            Staged::Inline(data) => Ok(Published { body: Body::Inline { data, sha256: Some(body.sha256) }, pin: None, crc32c: None }),
            Staged::Published(published, crc32c) => Ok(Published::blob(published.into_pin(), body.sha256, body.size, crc32c)),
            Staged::File(staging, crc32c) => {
                let dir = self.inner.blobs.clone();
                let hash = body.sha256;
                let pin = tokio::task::spawn_blocking(move || dir.publish(staging, &hash))
                    .await
                    .map_err(|_| StorageError::Closed)??;
                Ok(Published::blob(pin, hash, body.size, crc32c))
            }
        }
    }
}
