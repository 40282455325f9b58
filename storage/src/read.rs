//! Streams an object's bytes (or a byte range of them) out of the index or the blob files,
//! reading ahead a bounded number of chunks on the blocking pool, decrypting the packages
//! that cover the range when the object is encrypted, and checking every unencrypted blob read
//! whole against its CRC32C (its SHA-256 if it has none) and every inline body against its
//! SHA-256, before the last bytes go out.

use crate::blob::{parse_hash, Hash};
use crate::model::{Body, ObjectRecord, Segment};
use crate::Store;
use bytes::{Bytes, BytesMut};
use coffer_crypto::envelope::{self, Key256, Opener, HEADER_SIZE};
use futures::Stream;
use sha2::{Digest, Sha256};
use crate::placement::Place;
use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

const READ_CHUNK: usize = 512 * 1024;
const READ_AHEAD: usize = 4;

/// The bytes of an object, as a stream of chunks.
pub struct BodyStream {
    inner: Source,
}

enum Source {
    Once(Option<Bytes>),
    Channel(mpsc::Receiver<io::Result<Bytes>>),
}

impl Stream for BodyStream {
    type Item = io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.inner {
            Source::Once(b) => Poll::Ready(b.take().filter(|b| !b.is_empty()).map(Ok)),
            Source::Channel(rx) => rx.poll_recv(cx),
        }
    }
}

/// The stream's error for stored bytes that do not match their SHA-256 name.
#[derive(Debug, thiserror::Error)]
#[error("blob {} is corrupt: its bytes differ from what was written", hex::encode(.0))]
pub struct CorruptBlobError(pub Hash);

impl Store {
    fn corrupt(&self, hash: Hash, source: &'static str) -> io::Error {
        self.report_corrupt_blob(hash, source);
        io::Error::new(io::ErrorKind::InvalidData, CorruptBlobError(hash))
    }
}

/// Logs a failed decryption (the stored bytes were altered or the key is not theirs) and
/// turns it into the stream's error.
fn open_failed(what: &str, e: envelope::OpenError) -> io::Error {
    tracing::error!(blob = what, error = %e, "encrypted object failed authentication; not returning its bytes");
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Store {
    /// Streams `len` plaintext bytes of `rec`'s `body` starting at `offset` (the caller has
    /// checked the range), decrypting with `key`, which an encrypted object must come with:
    /// without it the stream fails rather than hand out stored ciphertext as the object.
    pub fn read_body(&self, rec: &ObjectRecord, body: &Body, offset: u64, len: u64, key: Option<&Key256>) -> BodyStream {
        if rec.meta.encryption.is_some() != key.is_some() {
            return BodyStream::failed(io::Error::other(format!(
                "object {:?} read with{} a data key, but it is{} encrypted",
                rec.key,
                if key.is_some() { "" } else { "out" },
                if rec.meta.encryption.is_some() { "" } else { " not" },
            )));
        }
        match body {
            Body::Inline { data, sha256 } => {
                if let Some(expected) = sha256 {
                    if <[u8; 32]>::from(Sha256::digest(data)) != *expected {
                        return BodyStream::failed(self.corrupt(*expected, "read-inline"));
                    }
                }
                let plain = match key {
                    None => data.clone(),
                    Some(k) => {
                        let plain_len = envelope::plain_len(data.len() as u64).unwrap_or(0);
                        match Opener::open_all(k, data, plain_len) {
                            Ok(p) => Bytes::from(p),
                            Err(e) => return BodyStream::failed(open_failed("inline", e)),
                        }
                    }
                };
                let start = (offset as usize).min(plain.len());
                let end = (start + len as usize).min(plain.len());
                BodyStream { inner: Source::Once(Some(plain.slice(start..end))) }
            }
            Body::Blobs(segments) => {
                // A version on a tier is read through it, unless a restored copy is here.
                let restored = rec.placement.restore.as_ref().is_some_and(|r| r.readable(crate::now_ms()));
                let tier = rec.placement.tier.as_deref().filter(|_| !restored);
                let place = match Place::resolve(self, &self.tiers(), tier) {
                    Ok(place) => place,
                    Err(e) => return BodyStream::failed(e),
                };
                let (tx, rx) = mpsc::channel(READ_AHEAD);
                let store = self.clone();
                let segments = segments.clone();
                let key = key.cloned();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = pump(&store, &place, &segments, offset, len, key.as_ref(), &tx) {
                        let _ = tx.blocking_send(Err(e));
                    }
                });
                BodyStream { inner: Source::Channel(rx) }
            }
        }
    }
}

impl BodyStream {
    fn failed(e: io::Error) -> BodyStream {
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Err(e));
        BodyStream { inner: Source::Channel(rx) }
    }
}

/// Sends the bytes `[offset, offset + remaining)` of the concatenated segments, in chunks.
fn pump(
    store: &Store,
    place: &Place,
    segments: &[Segment],
    mut offset: u64,
    mut remaining: u64,
    key: Option<&Key256>,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    for seg in segments {
        if remaining == 0 {
            break;
        }
        if offset >= seg.len {
            offset -= seg.len;
            continue;
        }
        let hash = parse_hash(&seg.hash).ok_or_else(|| io::Error::other("corrupt segment hash"))?;
        let take = (seg.len - offset).min(remaining);
        let more = match key {
            None => {
                // Ranges of a blob are not checked (that needs the whole blob): the scrubber
                // covers those bytes.
                let check = match offset == 0 && take == seg.len {
                    true => Some(store.expected_digest(hash)?),
                    false => None,
                };
                match send_plain(place.open_at(&hash, offset)?, take, check, tx)? {
                    Sent::All => true,
                    Sent::Gone => false,
                    Sent::Corrupt => return Err(store.corrupt(hash, "read")),
                }
            }
            Some(k) => send_opened(place, &hash, k, seg, offset, take, tx)?,
        };
        if !more {
            return Ok(()); // the client went away
        }
        remaining -= take;
        offset = 0;
    }
    Ok(())
}

/// What a blob read whole must hash to.
enum Expected {
    /// The CRC32C recorded when the blob was written: ample to catch rot, and a small
    /// fraction of SHA-256's CPU cost.
    Crc32c(u32),
    /// Blobs written before CRCs were recorded: their name.
    Sha256(Hash),
}

/// A running digest of the bytes sent.
enum Running {
    Crc32c(u32),
    Sha256(Box<Sha256>),
}

impl Expected {
    fn start(&self) -> Running {
        match self {
            Expected::Crc32c(_) => Running::Crc32c(0),
            Expected::Sha256(_) => Running::Sha256(Box::default()),
        }
    }

    fn matches(&self, running: Running) -> bool {
        match (self, running) {
            (Expected::Crc32c(want), Running::Crc32c(got)) => *want == got,
            (Expected::Sha256(want), Running::Sha256(h)) => <[u8; 32]>::from(h.finalize()) == *want,
            _ => false,
        }
    }
}

impl Running {
    fn update(&mut self, data: &[u8]) {
        match self {
            Running::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Running::Sha256(h) => h.update(data),
        }
    }
}

impl Store {
    /// The digest to check a whole read of blob `hash` against.
    fn expected_digest(&self, hash: Hash) -> io::Result<Expected> {
        let crc = self.index().blob_crc32c_blocking(&hash);
        match crc {
            Ok(Some(crc)) => Ok(Expected::Crc32c(crc)),
            Ok(None) => Ok(Expected::Sha256(hash)),
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

/// How sending a blob's bytes ended.
enum Sent {
    All,
    /// The receiver went away.
    Gone,
    /// The bytes do not match `expect`; their last chunk was withheld.
    Corrupt,
}

/// Sends `len` bytes of an unencrypted blob from a reader placed where they start. With
/// `expect` (the whole blob is being read), digests them on the way and sends the last chunk
/// only if the digest matches.
fn send_plain(mut file: Box<dyn Read + Send>, mut len: u64, expect: Option<Expected>, tx: &mpsc::Sender<io::Result<Bytes>>) -> io::Result<Sent> {
    let mut running = expect.as_ref().map(Expected::start);
    while len > 0 {
        let want = (len as usize).min(READ_CHUNK);
        let mut buf = BytesMut::zeroed(want);
        file.read_exact(&mut buf)?;
        len -= want as u64;
        if let Some(r) = &mut running {
            r.update(&buf);
        }
        if len == 0 {
            if let (Some(r), Some(expected)) = (running.take(), &expect) {
                if !expected.matches(r) {
                    return Ok(Sent::Corrupt);
                }
            }
        }
        if tx.blocking_send(Ok(buf.freeze())).is_err() {
            return Ok(Sent::Gone);
        }
    }
    Ok(Sent::All)
}

/// Sends `len` plaintext bytes of an encrypted blob from plaintext `offset`, reading and
/// decrypting only the packages that hold them; false if the receiver is gone.
fn send_opened(
    place: &Place,
    hash: &Hash,
    key: &Key256,
    seg: &Segment,
    offset: u64,
    len: u64,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<bool> {
    let mut header = [0u8; HEADER_SIZE];
    place.open_at(hash, 0)?.read_exact(&mut header)?;
    let opener = Opener::new(key, &header, seg.len).map_err(|e| open_failed(&seg.hash, e))?;
    let end = offset + len;
    let mut span = opener.span_at(offset);
    // Packages lie back to back: one reader from the first package needed covers the rest.
    let mut file = place.open_at(hash, span.sealed_offset)?;
    let mut out = BytesMut::with_capacity(READ_CHUNK);
    let mut package = Vec::with_capacity(span.sealed_len);
    loop {
        package.resize(span.sealed_len, 0);
        file.read_exact(&mut package)?;
        opener.open(span.index, &mut package).map_err(|e| open_failed(&seg.hash, e))?;
        let from = offset.saturating_sub(span.plain_offset) as usize;
        let to = ((end - span.plain_offset) as usize).min(package.len());
        out.extend_from_slice(&package[from..to]);
        let done = span.plain_offset + package.len() as u64 >= end;
        if done || out.len() >= READ_CHUNK {
            if tx.blocking_send(Ok(out.split().freeze())).is_err() {
                return Ok(false);
            }
        }
        if done {
            return Ok(true);
        }
        span = opener.span(span.index + 1);
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::*;
    use coffer_crypto::envelope::{Key256, PACKAGE_SIZE};
    use futures::StreamExt;

    async fn put_sealed(t: &TestStore, bucket: &Bucket, key: &str, data: &[u8], seal: &Key256) -> (ObjectRecord, Body) {
        let opts = IngestOptions { checksums: vec![], max_size: u64::MAX, seal: Some(seal.clone()), hash_plaintext: false };
        let ingested = t.store.ingest(body(data), opts).await.unwrap();
        let meta = ObjectMeta { encryption: Some(Encryption::new(EncryptionMode::S3, String::new())), ..ObjectMeta::default() };
        let new = NewObject { key: key.to_string(), owner_id: t.owner.id.clone(), meta, origin: crate::testutil::put_origin() };
        t.store.put_object(bucket, new, ingested, WriteConditions::default()).await.unwrap();
        t.store.object(bucket.id, key, None).await.unwrap()
    }

    async fn read(t: &TestStore, (rec, body): &(ObjectRecord, Body), offset: u64, len: u64, key: &Key256) -> std::io::Result<Vec<u8>> {
        let mut s = t.store.read_body(rec, body, offset, len, Some(key));
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[tokio::test]
    async fn sealed_objects_read_back_by_range_and_never_touch_disk_in_clear() {
        let t = store().await;
        let bucket = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let key = Key256::generate();
        let marker = b"PLAINTEXT-MARKER-0123456789";
        let big: Vec<u8> = marker.iter().copied().cycle().take(3 * PACKAGE_SIZE + 5).collect();
        let sealed = put_sealed(&t, &bucket, "big", &big, &key).await;
        let rec = &sealed.0;
        assert_eq!(rec.size, big.len() as u64);
        assert_eq!(rec.etag, hex::encode(<md5::Md5 as md5::Digest>::digest(&big)));
        let p = PACKAGE_SIZE as u64;
        for (off, len) in [(0, big.len() as u64), (0, 1), (p - 1, 2), (p, p), (2 * p + 7, p - 2), (3 * p, 5), (3 * p + 4, 1)] {
            assert_eq!(read(&t, &sealed, off, len, &key).await.unwrap(), &big[off as usize..(off + len) as usize], "{off}+{len}");
        }
        let small = put_sealed(&t, &bucket, "small", &marker[..], &key).await;
        assert!(matches!(small.1, Body::Inline { .. }));
        assert_eq!(read(&t, &small, 3, 10, &key).await.unwrap(), &marker[3..13]);
        let empty = put_sealed(&t, &bucket, "empty", b"", &key).await;
        assert_eq!(read(&t, &empty, 0, 0, &key).await.unwrap(), b"");
        // Without its key an encrypted object is an error, never its ciphertext.
        let mut s = t.store.read_body(&small.0, &small.1, 0, 10, None);
        assert!(s.next().await.unwrap().is_err());

        for file in files_under(t.store.root()) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!bytes.windows(marker.len()).any(|w| w == marker), "plaintext in {}", file.display());
        }
    }

    #[tokio::test]
    async fn altered_blobs_and_wrong_keys_fail_the_read() {
        let t = store().await;
        let bucket = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let key = Key256::generate();
        let data = vec![7u8; 2 * PACKAGE_SIZE];
        let sealed = put_sealed(&t, &bucket, "k", &data, &key).await;
        assert!(read(&t, &sealed, 0, data.len() as u64, &Key256::generate()).await.is_err());
        let Body::Blobs(segments) = &sealed.1 else { panic!("expected a blob") };
        let path = blob_file(&t.store, &segments[0].hash);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[PACKAGE_SIZE + 100] ^= 0x40; // inside the second package
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&t, &sealed, 0, 10, &key).await.unwrap(), vec![7u8; 10], "the first package is intact");
        let err = read(&t, &sealed, 0, data.len() as u64, &key).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }

    async fn read_plain(t: &TestStore, (rec, body): &(ObjectRecord, Body), offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
        let mut s = t.store.read_body(rec, body, offset, len, None);
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    fn assert_corrupt(err: std::io::Error, hash: &str) {
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<super::CorruptBlobError>()).expect("a corrupt blob error");
        assert_eq!(hex::encode(inner.0), hash);
    }

    async fn recorded(t: &TestStore) -> Vec<String> {
        // The record is written in the background; give it a moment.
        for _ in 0..100 {
            let rows = t.store.corrupt_blobs().await.unwrap();
            if !rows.is_empty() {
                return rows.into_iter().map(|r| r.hash).collect();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        vec![]
    }

    #[tokio::test]
    async fn altered_plain_blobs_fail_whole_reads_and_are_recorded() {
        altered_plain_blob_is_caught(false).await;
    }

    #[tokio::test]
    async fn blobs_without_a_crc_are_checked_by_their_sha256() {
        altered_plain_blob_is_caught(true).await;
    }

    async fn altered_plain_blob_is_caught(forget_crc: bool) {
        let t = sqlite_store().await;
        let bucket = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let data: Vec<u8> = (0..3 * super::READ_CHUNK + 100).map(|i| (i % 251) as u8).collect();
        put(&t, &bucket, "k", &data).await.unwrap();
        let found = t.store.object(bucket.id, "k", None).await.unwrap();
        assert_eq!(read_plain(&t, &found, 0, data.len() as u64).await.unwrap(), data);
        let Body::Blobs(segments) = &found.1 else { panic!("expected a blob") };
        let hash = segments[0].hash.clone();
        let path = blob_file(&t.store, &hash);
        let db = rusqlite::Connection::open(t.store.root().join("index.sqlite")).unwrap();
        let crc: Option<u32> = db.query_row("SELECT crc32c FROM blobs", [], |r| r.get(0)).unwrap();
        assert!(crc.is_some(), "a new blob has its CRC32C");
        if forget_crc {
            db.execute("UPDATE blobs SET crc32c = NULL", []).unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[2 * super::READ_CHUNK + 7] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();

        // The whole blob: every chunk before the last may go out, the last never does.
        let mut s = t.store.read_body(&found.0, &found.1, 0, data.len() as u64, None);
        let mut sent = 0;
        let err = loop {
            match s.next().await.expect("the stream ends with an error") {
                Ok(c) => sent += c.len(),
                Err(e) => break e,
            }
        };
        assert!(sent < data.len(), "the altered bytes were sent");
        assert_corrupt(err, &hash);
        assert_eq!(t.store.corrupt_blobs_detected(), 1);
        assert_eq!(recorded(&t).await, vec![hash]);
        // A range is not checked, and an untouched one reads fine.
        assert_eq!(read_plain(&t, &found, 10, 1000).await.unwrap(), &data[10..1010]);
    }

    #[tokio::test]
    async fn altered_inline_bodies_fail_the_read() {
        let t = sqlite_store().await;
        let bucket = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        put(&t, &bucket, "small", b"hello, inline world").await.unwrap();
        let found = t.store.object(bucket.id, "small", None).await.unwrap();
        let Body::Inline { sha256: Some(expected), .. } = &found.1 else { panic!("expected an inline body with its hash") };
        assert_eq!(read_plain(&t, &found, 0, 19).await.unwrap(), b"hello, inline world");
        let db = rusqlite::Connection::open(t.store.root().join("index.sqlite")).unwrap();
        db.execute("UPDATE inline_bodies SET data = ?1", [&b"hello, INLINE world"[..]]).unwrap();
        let altered = t.store.object(bucket.id, "small", None).await.unwrap();
        assert_corrupt(read_plain(&t, &altered, 0, 19).await.unwrap_err(), &hex::encode(expected));
        assert_eq!(t.store.corrupt_blobs_detected(), 1);
        assert_eq!(recorded(&t).await, vec![hex::encode(expected)]);
    }

    #[tokio::test]
    async fn a_failed_write_removes_the_blob_it_published() {
        let t = store().await;
        let bucket = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        put(&t, &bucket, "k", b"first").await.unwrap();
        let big = vec![9u8; 200_000];
        let ingested = t.store.ingest(body(&big), IngestOptions { checksums: vec![], max_size: u64::MAX, seal: None, hash_plaintext: false }).await.unwrap();
        let new = NewObject { key: "k".into(), owner_id: t.owner.id.clone(), meta: ObjectMeta::default(), origin: crate::testutil::put_origin() };
        let refused = WriteConditions { if_none_match: Some("*".into()), if_match: None };
        assert!(matches!(t.store.put_object(&bucket, new, ingested, refused).await, Err(StorageError::PreconditionFailed)));
        assert!(files_under(&t.store.root().join("blobs")).is_empty(), "the refused write left its blob");
        assert!(files_under(&t.store.root().join("tmp")).is_empty());
    }
}
