//! A tier in a bucket of a remote S3 endpoint (another Coffer, AWS, anything that speaks S3),
//! reached with the AWS SDK. Blobs are objects named `prefix` + hex hash; each upload carries
//! the blob's SHA-256 as its `x-amz-checksum-sha256`, so the remote refuses altered bytes.

use super::TierBackend;
use crate::blob::Hash;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::io::{self, Read};
use std::path::Path;
use tokio::runtime::Handle;

/// A remote S3 endpoint as registered by `coffer admin remote add` (its secret key is kept
/// apart, sealed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSpec {
    pub name: String,
    pub endpoint: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub access_key: String,
    /// Path-style addressing (`endpoint/bucket/key`), which most self-hosted servers need.
    #[serde(default = "yes")]
    pub path_style: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn yes() -> bool {
    true
}

impl RemoteSpec {
    /// An SDK client for the endpoint with `secret_key`.
    pub fn client(&self, secret_key: &str) -> aws_sdk_s3::Client {
        let credentials = Credentials::new(&self.access_key, secret_key, None, None, "coffer-remote");
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials)
            .force_path_style(self.path_style)
            .http_client(http)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

impl RemoteSpec {
    /// Whether `bucket` answers on the endpoint with these credentials; the error says why not.
    pub async fn check_bucket(&self, secret_key: &str, bucket: &str) -> Result<(), String> {
        match self.client(secret_key).head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("bucket {bucket} on remote {}: {}", self.name, aws_smithy_types::error::display::DisplayErrorContext(e))),
        }
    }
}

pub struct RemoteTier {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    /// The runtime the SDK's futures run on; the blocking calls wait for them.
    runtime: Handle,
}

impl RemoteTier {
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, prefix: &str, runtime: Handle) -> RemoteTier {
        RemoteTier { client, bucket: bucket.to_string(), prefix: prefix.to_string(), runtime }
    }

    fn key(&self, hash: &Hash) -> String {
        format!("{}{}", self.prefix, hex::encode(hash))
    }
}

fn remote_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(format!("remote tier {what}: {}", aws_smithy_types::error::display::DisplayErrorContext(e)))
}

impl TierBackend for RemoteTier {
    fn put_file(&self, hash: &Hash, src: &Path) -> io::Result<()> {
        let sha256 = base64::engine::general_purpose::STANDARD.encode(hash);
        let len = std::fs::metadata(src)?.len();
        self.runtime.block_on(async {
            let body = ByteStream::from_path(src).await.map_err(|e| remote_error("upload", e))?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(self.key(hash))
                .content_length(len as i64)
                .checksum_sha256(sha256)
                .body(body)
                .send()
                .await
                .map_err(|e| remote_error("upload", e))?;
            Ok(())
        })
    }

    fn contains(&self, hash: &Hash) -> io::Result<bool> {
        self.runtime.block_on(async {
            match self.client.head_object().bucket(&self.bucket).key(self.key(hash)).send().await {
                Ok(_) => Ok(true),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
                Err(e) => Err(remote_error("lookup", e)),
            }
        })
    }

    fn open_at(&self, hash: &Hash, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        let body = self.runtime.block_on(async {
            let mut get = self.client.get_object().bucket(&self.bucket).key(self.key(hash));
            if offset > 0 {
                get = get.range(format!("bytes={offset}-"));
            }
            get.send().await.map(|o| o.body).map_err(|e| remote_error("download", e))
        })?;
        Ok(Box::new(BlockingBody { body, chunk: Bytes::new(), runtime: self.runtime.clone() }))
    }

    fn delete(&self, hash: &Hash) -> io::Result<()> {
        self.runtime.block_on(async {
            self.client.delete_object().bucket(&self.bucket).key(self.key(hash)).send().await.map_err(|e| remote_error("delete", e))?;
            Ok(())
        })
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
