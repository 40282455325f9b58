//! Streams an object's bytes (or a byte range of them) out of the index or the blob files,
//! reading ahead a bounded number of chunks on the blocking pool.

use crate::blob::{parse_hash, BlobDir};
use crate::model::{Body, Segment};
use crate::Store;
use bytes::{Bytes, BytesMut};
use futures::Stream;
use std::io::{self, Read, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
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

impl Store {
    /// Streams `len` bytes of `body` starting at `offset` (the caller has checked the range).
    pub fn read_body(&self, body: &Body, offset: u64, len: u64) -> BodyStream {
        match body {
            Body::Inline(data) => {
                let start = (offset as usize).min(data.len());
                let end = (start + len as usize).min(data.len());
                BodyStream { inner: Source::Once(Some(data.slice(start..end))) }
            }
            Body::Blobs(segments) => {
                let (tx, rx) = mpsc::channel(READ_AHEAD);
                let dir = self.inner.blobs.clone();
                let segments = segments.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = pump(&dir, &segments, offset, len, &tx) {
                        let _ = tx.blocking_send(Err(e));
                    }
                });
                BodyStream { inner: Source::Channel(rx) }
            }
        }
    }
}

fn pump(dir: &Arc<BlobDir>, segments: &[Segment], mut offset: u64, mut remaining: u64, tx: &mpsc::Sender<io::Result<Bytes>>) -> io::Result<()> {
    for seg in segments {
        if remaining == 0 {
            break;
        }
        if offset >= seg.len {
            offset -= seg.len;
            continue;
        }
        let hash = parse_hash(&seg.hash).ok_or_else(|| io::Error::other("corrupt segment hash"))?;
        let mut file = dir.open_blob(&hash)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut left = (seg.len - offset).min(remaining);
        offset = 0;
        while left > 0 {
            let want = (left as usize).min(READ_CHUNK);
            let mut buf = BytesMut::zeroed(want);
            file.read_exact(&mut buf)?;
            left -= want as u64;
            remaining -= want as u64;
            if tx.blocking_send(Ok(buf.freeze())).is_err() {
                return Ok(()); // the client went away
            }
        }
    }
    Ok(())
}
