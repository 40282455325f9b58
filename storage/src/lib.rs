//! Coffer's storage engine: content-addressed blobs (`blob_store`) plus a metadata index behind
//! the `meta` contract (SQLite in `sqlite`, the embedded default; PostgreSQL in `postgres`).
//! It knows buckets, object versions and users; it knows nothing about HTTP or S3's wire format.

mod access_logs;
mod blob;
pub mod blob_store;
mod buckets;
pub mod check;
mod columns;
mod config_cache;
mod corruption;
mod cursors;
mod direct;
mod error;
mod events;
mod gc;
mod meta;
mod postgres;
mod sqlite;
mod ingest;
mod keyring;
mod keys;
mod listing;
mod lifecycle;
mod lock;
mod model;
mod multipart;
mod objects;
pub mod perms;
mod placement;
mod publish;
mod read;
mod replication;
mod restore;
mod scrub;
mod site;
mod stats;
pub mod tiers;
mod usage;
mod user_admin;
mod users;

pub use access_logs::{AccessLogBacklog, AccessLogBatch};
pub use sqlite::backup::{backup_index, hold_gc, release_gc_hold};
pub use corruption::CorruptBlob;
pub use error::{MultipartError, NotifyError, Result, StorageError, TierError};
pub use events::{
    EventFacts, EventName, EventPattern, NotifyRoute, NotifyTarget, Origin, QueuedEvent, Requester, TargetKind, TargetStatus, COFFER_PRINCIPAL,
    DEFAULT_MAX_BACKLOG, NOTIFY_ROUTES_KIND,
};
pub use ingest::{Digests, IngestOptions, Ingested, Md5Sha256, INLINE_MAX};
pub use keyring::Versioned;
pub use lifecycle::{AgeCursor, AgeScan, AgedBatch, LifecycleAction, LifecycleVersion};
pub use model::*;
pub use lock::LockChange;
pub use objects::{DeleteOutcome, NewObject};
pub use placement::Moved;
pub use replication::{OutboxItem, ReplicatedVersion, ResyncCursor, ResyncStep, ReplicationOutcome, ReplicationRoute, ReplicationStatus, Replicated, ROUTES_KIND};
pub use restore::RestoreStarted;
pub use read::{BodyStream, CorruptBlobError};
pub use site::{Metadata, Site};
pub use scrub::{scrub_status, BlobCheck, BlobVerdict, InlineVerdict, ScrubPass, ScrubPosition, ScrubState, ScrubStatus};
pub use usage::{BucketSpace, Quota, Usage};
pub use user_admin::{AccessKeyInfo, UserInfo, UserSummary};
pub use stats::{Backlogs, BucketUsage, IndexCounts, StoreUsage};
pub use users::{MfaDevice, UnsealedSecret, ROOT_USER};

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How late a bucket configuration written by another node sharing the index reaches this one.
const SHARED_CONFIG_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(1);

/// Handle to an open store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    blobs: Arc<blob::BlobDir>,
    /// The metadata store every domain asks.
    index: Arc<dyn meta::Index>,
    configs: config_cache::ConfigCache,
    corrupt: corruption::CorruptionCounter,
    /// The tiers in use; the server replaces the set when the registered tiers change.
    tiers: std::sync::RwLock<Arc<tiers::TierSet>>,
}

impl Store {
    /// Opens (creating if needed) the store under `root`. What it creates is the owner's
    /// alone (see `perms`); an existing tree's permissions are `perms::tighten_tree`'s job.
    pub fn open(root: &Path) -> Result<Store> {
        Store::open_at(&Site::data_dir(root))
    }

    /// Opens (creating if needed) the store of `site`: its data dir as `open` does, and its
    /// index where the site's metadata says (a PostgreSQL database is migrated to this
    /// version's schema first).
    pub fn open_at(site: &Site) -> Result<Store> {
        let root = site.data_dir.as_path();
        perms::create_dir_all(root)?;
        let index: Arc<dyn meta::Index> = match &site.metadata {
            Metadata::DataDir => Arc::new(sqlite::SqliteIndex::open(&root.join("index.sqlite"), 8)?),
            Metadata::Postgres(url) => postgres::open(url, &site::node_name(root)?)?,
        };
        let blobs = blob::BlobDir::open(root, index.clone())?;
        let configs = config_cache::ConfigCache::new(match site.metadata {
            Metadata::DataDir => None,
            Metadata::Postgres(_) => Some(SHARED_CONFIG_MAX_AGE),
        });
        Ok(Store { inner: Arc::new(Inner { root: root.to_path_buf(), blobs, index, configs, corrupt: Default::default(), tiers: Default::default() }) })
    }

    /// Puts `blobs` in use for the store's own blobs, instead of the data dir's `blobs/`.
    /// Call it right after opening, while nothing else holds the store.
    pub fn use_blob_store(self, blobs: Arc<dyn blob_store::BlobStore>) -> Result<Store> {
        let mut inner = Arc::try_unwrap(self.inner).map_err(|_| std::io::Error::other("the blob store can only be chosen right after opening"))?;
        inner.blobs = blob::BlobDir::with_store(&inner.root, blobs, inner.index.clone())?;
        Ok(Store { inner: Arc::new(inner) })
    }

    /// The blob store in use.
    pub fn blob_store(&self) -> Arc<dyn blob_store::BlobStore> {
        self.inner.blobs.store().clone()
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Removes what unfinished writes left in the staging directory. The server calls this at
    /// start, before it takes writes; other processes opening the store (admin commands) don't.
    pub fn clear_staging(&self) -> Result<()> {
        Ok(self.inner.blobs.clear_staging()?)
    }

    /// Receives a body completely (hashing it in the same pass) without naming it yet.
    pub async fn ingest<S>(&self, body: S, opts: IngestOptions) -> Result<Ingested>
    where
        S: futures::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin,
    {
        ingest::ingest(&self.inner.blobs, body, opts).await
    }

    /// The tiers in use now.
    pub fn tiers(&self) -> Arc<tiers::TierSet> {
        self.inner.tiers.read().expect("tiers lock").clone()
    }

    /// Puts a new set of tiers in use.
    pub fn set_tiers(&self, set: tiers::TierSet) {
        *self.inner.tiers.write().expect("tiers lock") = Arc::new(set);
    }

    /// The metadata store.
    fn index(&self) -> &dyn meta::Index {
        &*self.inner.index
    }

}

/// Milliseconds since the Unix epoch (0 if the clock is before it): the time the index records.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use bytes::Bytes;

    pub struct TestStore {
        pub store: Store,
        pub _dir: tempfile::TempDir,
        pub owner: User,
        /// The test's own PostgreSQL database, when the store's index is there.
        pub _db: Option<crate::postgres::tests::TestDb>,
    }

    impl TestStore {
        /// The same store opened again (a restart).
        pub fn reopen(&self) -> Store {
            let metadata = match &self._db {
                Some(db) => Metadata::Postgres(db.url.clone()),
                None => Metadata::DataDir,
            };
            Store::open_at(&Site { data_dir: self.store.root().to_path_buf(), metadata }).unwrap()
        }
    }

    /// The file blob `hex` is stored in (under the generation the index names for it).
    pub fn blob_file(store: &Store, hex: &str) -> PathBuf {
        store.inner.blobs.local_file(&crate::blob::parse_hash(hex).unwrap()).unwrap().unwrap()
    }

    /// A fresh store with a root user. Its index is SQLite in a temporary data dir, or, with
    /// `COFFER_TEST_STORE_ON_POSTGRES=1` (and `COFFER_TEST_POSTGRES` naming a server), a
    /// fresh PostgreSQL database: the same tests then prove the other backend.
    pub async fn store() -> TestStore {
        let on_postgres = std::env::var("COFFER_TEST_STORE_ON_POSTGRES").as_deref() == Ok("1");
        store_on(on_postgres).await
    }

    /// A fresh store whose index is SQLite, for tests of SQLite's own file (they tamper with
    /// it, or read it offline).
    pub async fn sqlite_store() -> TestStore {
        store_on(false).await
    }

    async fn store_on(postgres: bool) -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let db = match postgres {
            true => Some(crate::postgres::tests::TestDb::create().await.expect("COFFER_TEST_POSTGRES names the test server")),
            false => None,
        };
        let metadata = match &db {
            Some(db) => Metadata::Postgres(db.url.clone()),
            None => Metadata::DataDir,
        };
        let store = Store::open_at(&Site { data_dir: dir.path().to_path_buf(), metadata }).unwrap();
        let owner = store.create_user("root", "AK", b"sealed".to_vec()).await.unwrap();
        TestStore { store, _dir: dir, owner, _db: db }
    }

    pub fn body(data: &[u8]) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Unpin {
        let chunks: Vec<std::io::Result<Bytes>> = data.chunks(7919).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(chunks)
    }

    /// The origin of versions tests write: a PutObject by nobody in particular.
    pub fn put_origin() -> Origin {
        Origin::new(EventName::ObjectCreatedPut, Requester::default())
    }

    pub async fn put(t: &TestStore, bucket: &Bucket, key: &str, data: &[u8]) -> Result<ObjectRecord> {
        put_into(&t.store, &t.owner, bucket, key, data).await
    }

    /// `put` on any store, as `owner`.
    pub async fn put_into(store: &Store, owner: &User, bucket: &Bucket, key: &str, data: &[u8]) -> Result<ObjectRecord> {
        let ingested = store.ingest(body(data), IngestOptions { checksums: vec![], max_size: u64::MAX, seal: None, hash_plaintext: false }).await?;
        let new = NewObject { key: key.to_string(), owner_id: owner.id.clone(), meta: ObjectMeta::default(), origin: crate::testutil::put_origin() };
        store.put_object(bucket, new, ingested, WriteConditions::default()).await
    }

    pub async fn read_all(t: &TestStore, rec: &ObjectRecord, body: &Body, offset: u64, len: u64) -> Vec<u8> {
        read_from(&t.store, rec, body, offset, len).await
    }

    /// `read_all` on any store.
    pub async fn read_from(store: &Store, rec: &ObjectRecord, body: &Body, offset: u64, len: u64) -> Vec<u8> {
        use futures::StreamExt;
        let mut s = store.read_body(rec, body, offset, len, None);
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    }

    /// A page of uploads as its upload ids and common prefixes, in order.
    pub fn upload_names(page: &UploadPage) -> Vec<String> {
        page.items
            .iter()
            .map(|i| match i {
                UploadListItem::Upload(u) => u.upload_id.clone(),
                UploadListItem::Prefix(p) => p.clone(),
            })
            .collect()
    }

    /// The CRC32C an object uploaded as `parts` gets when its upload's checksum type is `kind`.
    pub fn crc32c_of_parts(kind: ChecksumType, parts: &[&[u8]]) -> String {
        use coffer_crypto::checksum::{Checksum, ChecksumAlgorithm::Crc32c};
        match kind {
            ChecksumType::FullObject => Checksum::compute(Crc32c, &parts.concat()).to_base64(),
            ChecksumType::Composite => {
                let sums: Vec<u8> = parts.iter().flat_map(|d| Checksum::compute(Crc32c, d).bytes).collect();
                format!("{}-{}", Checksum::compute(Crc32c, &sums).to_base64(), parts.len())
            }
        }
    }

    /// A stand-in for the master key's sealing: the secret's name, then its bytes scrambled.
    pub fn fake_seal(s: &crate::users::UnsealedSecret<'_>) -> Vec<u8> {
        let (tag, secret) = match s {
            crate::users::UnsealedSecret::AccessKey { access_key, secret } => (*access_key, *secret),
            crate::users::UnsealedSecret::Mfa { serial, secret, .. } => (*serial, *secret),
        };
        let mut out = tag.as_bytes().to_vec();
        out.extend(secret.iter().map(|b| b ^ 0x5a));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_store_is_the_owners_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let store = Store::open(&root).unwrap();
        let owner = store.create_user("root", "AK", b"sealed".to_vec()).await.unwrap();
        let t = testutil::TestStore { store, _dir: dir, owner, _db: None };
        let bucket = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        testutil::put(&t, &bucket, "small", b"tiny").await.unwrap();
        testutil::put(&t, &bucket, "large", &vec![7u8; INLINE_MAX + 1]).await.unwrap();
        assert!(root.join("blobs").read_dir().unwrap().next().is_some(), "the large object made a blob file");
        assert!(root.join("index.sqlite-wal").exists());
        assert_eq!(perms::tests::loose_entries(&root), vec![]);
    }
}
