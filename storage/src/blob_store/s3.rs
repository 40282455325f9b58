//! Blobs in a bucket of an S3 service (another Coffer, Garage, Ceph RGW, AWS, anything that
//! speaks S3), reached with the AWS SDK. Blobs are objects named `prefix` + key (`BlobKey`); each
//! upload carries the blob's SHA-256 as its `x-amz-checksum-sha256`, so the service refuses
//! altered bytes.

use super::{BlobKey, BlobStat, BlobStore};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use bytes::Bytes;
use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;
use tokio::runtime::Handle;

pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    /// The runtime the SDK's futures run on; the blocking calls wait for them.
    runtime: Handle,
}

impl S3Blobs {
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, prefix: &str, runtime: Handle) -> S3Blobs {
        S3Blobs { client, bucket: bucket.to_string(), prefix: prefix.to_string(), runtime }
    }

    fn object_name(&self, key: &BlobKey) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// Whether the service answered 404 (no such key).
fn is_not_found<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
}

fn remote_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(format!("blob store {what}: {}", aws_smithy_types::error::display::DisplayErrorContext(e)))
}

impl BlobStore for S3Blobs {
    fn put_file(&self, key: &BlobKey, src: &Path) -> io::Result<()> {
        let sha256 = base64::engine::general_purpose::STANDARD.encode(key.hash);
        let len = std::fs::metadata(src)?.len();
        self.runtime.block_on(async {
            let body = ByteStream::from_path(src).await.map_err(|e| remote_error("upload", e))?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(self.object_name(key))
                .content_length(len as i64)
                .checksum_sha256(sha256)
                .body(body)
                .send()
                .await
                .map_err(|e| remote_error("upload", e))?;
            Ok(())
        })
    }

    fn contains(&self, key: &BlobKey) -> io::Result<bool> {
        Ok(self.stat(key)?.is_some())
    }

    fn stat(&self, key: &BlobKey) -> io::Result<Option<BlobStat>> {
        self.runtime.block_on(async {
            match self.client.head_object().bucket(&self.bucket).key(self.object_name(key)).send().await {
                Ok(head) => {
                    let modified = head.last_modified().and_then(|t| SystemTime::try_from(*t).ok()).unwrap_or(SystemTime::UNIX_EPOCH);
                    Ok(Some(BlobStat { size: head.content_length().unwrap_or(0).max(0) as u64, modified }))
                }
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(remote_error("lookup", e)),
            }
        })
    }

    fn open_at(&self, key: &BlobKey, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        let body = self.runtime.block_on(async {
            let mut get = self.client.get_object().bucket(&self.bucket).key(self.object_name(key));
            if offset > 0 {
                get = get.range(format!("bytes={offset}-"));
            }
            get.send().await.map(|o| o.body).map_err(|e| match is_not_found(&e) {
                true => io::Error::new(io::ErrorKind::NotFound, format!("blob {key} is not stored")),
                false => remote_error("download", e),
            })
        })?;
        Ok(Box::new(BlockingBody { body, chunk: Bytes::new(), runtime: self.runtime.clone() }))
    }

    fn delete(&self, key: &BlobKey) -> io::Result<()> {
        self.runtime.block_on(async {
            self.client.delete_object().bucket(&self.bucket).key(self.object_name(key)).send().await.map_err(|e| remote_error("delete", e))?;
            Ok(())
        })
    }

    fn list(&self) -> io::Result<Vec<BlobKey>> {
        self.runtime.block_on(async {
            let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&self.prefix).into_paginator().send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| remote_error("listing", e))?;
                let names = page.contents().iter().filter_map(|o| o.key()).filter_map(|k| k.strip_prefix(self.prefix.as_str()));
                out.extend(names.filter_map(BlobKey::parse));
            }
            Ok(out)
        })
    }

    fn location(&self) -> String {
        format!("s3 bucket {}{}", self.bucket, if self.prefix.is_empty() { String::new() } else { format!(" under {}", self.prefix) })
    }
}

/// A downloading body read with blocking calls.
struct BlockingBody {
    body: ByteStream,
    chunk: Bytes,
    runtime: Handle,
}

impl Read for BlockingBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(self.body.try_next()) {
                Ok(Some(chunk)) => self.chunk = chunk,
                Ok(None) => return Ok(0),
                Err(e) => return Err(remote_error("download", e)),
            }
        }
        let n = out.len().min(self.chunk.len());
        out[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
