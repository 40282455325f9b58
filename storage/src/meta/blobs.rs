//! Blob references: what names a blob, garbage the collector may remove, scrub positions, corrupt blobs, where the blobs live.
//! The contract a metadata store implements for them; `crate::sqlite::blobs` is SQLite's.

/// Which index rows keep a blob from being deleted. (On a shared index both mean a live row
/// under the key's generation: a collector or a sweep that took a generation owns it.)
#[derive(Clone, Copy, Debug)]
pub enum Wanted {
    /// A row with references (the collector: it forgot the row, a commit may have made it again).
    Referenced,
    /// Any row (the orphan sweep: a row at all means the collector's business).
    Known,
}

use crate::blob::Hash;
use crate::blob_store::BlobKey;
use crate::error::Result;
use crate::CorruptBlob;

#[async_trait::async_trait]
pub trait BlobIndex {
    /// Takes up to `limit` blobs no version, part or restored copy references any more (and
    /// no writer holds) from the live ones and returns their keys, for the caller to delete
    /// from the blob store (after `blob_wanted_blocking` says no commit named one again
    /// meanwhile) and then report with `blob_deleted`. Returns none while a backup holds the
    /// collector back.
    async fn forget_unreferenced_blobs(&self, limit: usize) -> Result<Vec<BlobKey>>;

    /// The collector deleted `key` from the blob store: its row may go, unless a writer
    /// reserved the blob again meanwhile (under a new generation).
    async fn blob_deleted(&self, key: BlobKey) -> Result<()>;

    /// Whether the index still wants blob `key` as `wanted` says. Blocking: called under the
    /// blob store's pin lock on a blocking thread.
    fn blob_wanted_blocking(&self, key: &BlobKey, wanted: Wanted) -> Result<bool>;

    /// Reserves blob `hash` (`size` bytes) for a commit about to name it, before its bytes are
    /// put, and returns the generation to put them under. On a shared index the row is held
    /// from the collector for a while, and a blob the collector has taken comes back under a
    /// fresh generation; the commit that names the blob checks its generation is still the
    /// live one (else the commit fails with `Busy`). Blocking, like `blob_wanted_blocking`.
    fn reserve_blob_blocking(&self, hash: &Hash, size: u64) -> Result<u64>;

    /// The generation blob `hash` is stored under (None: the index has no live row for it).
    /// A shared index may answer from memory unless `fresh`. Blocking.
    fn blob_generation_blocking(&self, hash: &Hash, fresh: bool) -> Result<Option<u64>>;

    /// A write that reserved and put `keys` failed: returns those of them nothing references,
    /// taken for the caller to delete at once as `forget_unreferenced_blobs` does (a full disk
    /// gets its space back), ignoring the holds of reservations.
    async fn release_blobs(&self, keys: Vec<BlobKey>) -> Result<Vec<BlobKey>>;

    /// Up to `limit` inline bodies with a recorded SHA-256 after row `after_seq`, in row
    /// order: (row, bytes, recorded SHA-256), for the scrubber to re-hash.
    async fn inline_bodies_after(&self, after_seq: i64, limit: usize) -> Result<Vec<(i64, Vec<u8>, Hash)>>;

    /// "bucket/key version" of the object version in row `seq`, if it still exists.
    async fn object_name_at(&self, seq: i64) -> Result<Option<String>>;


    /// Records a corrupt blob durably; a blob already recorded keeps its first detection.
    async fn record_corrupt_blob(&self, hash: Hash, source: &str) -> Result<()>;

    /// Every blob recorded as corrupt, oldest detection first.
    async fn corrupt_blobs(&self) -> Result<Vec<CorruptBlob>>;

    /// Bytes a full pass reads: every referenced blob and every verifiable inline body.
    async fn scrub_bytes_total(&self) -> Result<u64>;

    /// Up to `limit` referenced blobs (hash, recorded size) after `after` in hash order: a
    /// range scan of the `blobs` primary key.
    async fn blobs_after(&self, after: Option<Hash>, limit: usize) -> Result<Vec<(Hash, u64)>>;

    /// Whether an object or upload still references the blob (a file the collector removed
    /// after it was listed is not missing).
    async fn blob_is_referenced(&self, hash: Hash) -> Result<bool>;

    /// Up to `limit` object versions ("bucket/key version") whose bytes include blob `hash`.
    /// It reads every manifest: for reports of corruption, never on a hot path.
    async fn objects_naming_blob(&self, hash: Hash, limit: usize) -> Result<Vec<String>>;
}



