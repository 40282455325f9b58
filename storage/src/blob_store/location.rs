//! Where a store keeps its blobs, as `--blobs` names it and as the index records it (so a data
//! dir is never opened against the wrong place, which would make every blob look missing).

use crate::error::Result;
use crate::Store;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BlobLocation {
    /// `blobs/` in the data dir (the default).
    #[default]
    #[serde(rename = "datadir")]
    DataDir,
    /// `blobs/` under a directory that may be shared by several nodes (an NFS or CephFS mount).
    Dir { path: PathBuf },
    /// A bucket of a remote registered with `coffer admin remote add`, blobs named prefix + hash.
    S3 { remote: String, bucket: String, prefix: String },
}

impl FromStr for BlobLocation {
    type Err = String;

    /// `s3://REMOTE/BUCKET[/PREFIX]`, an absolute directory, or `datadir`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "datadir" {
            return Ok(BlobLocation::DataDir);
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let mut parts = rest.splitn(3, '/');
            let remote = parts.next().unwrap_or_default();
            let bucket = parts.next().unwrap_or_default();
            if remote.is_empty() || bucket.is_empty() {
                return Err(format!("{s:?}: give s3://REMOTE/BUCKET[/PREFIX], with REMOTE from `coffer admin remote add`"));
            }
            let prefix = parts.next().unwrap_or_default().trim_matches('/');
            let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
            return Ok(BlobLocation::S3 { remote: remote.into(), bucket: bucket.into(), prefix });
        }
        let path = PathBuf::from(s);
        if !path.is_absolute() {
            return Err(format!("{s:?}: give an absolute directory, s3://REMOTE/BUCKET[/PREFIX] or datadir"));
        }
        Ok(BlobLocation::Dir { path })
    }
}

impl fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobLocation::DataDir => write!(f, "datadir"),
            BlobLocation::Dir { path } => write!(f, "{}", path.display()),
            BlobLocation::S3 { remote, bucket, prefix } => write!(f, "s3://{remote}/{bucket}/{prefix}"),
        }
    }
}

impl Store {
    /// Where the index says this store's blobs are (None: never recorded, an older data dir
    /// or a new one, whose blobs are in the data dir).
    pub async fn recorded_blob_location(&self) -> Result<Option<BlobLocation>> {
        self.index().recorded_blob_location().await
    }

    /// Records where the blobs are. Fails (returning where they are) once the index names
    /// blobs kept somewhere else: in the recorded place, or in the data dir if none was recorded.
    pub async fn record_blob_location(&self, location: &BlobLocation) -> Result<std::result::Result<(), BlobLocation>> {
        self.index().record_blob_location(location).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_print_back() {
        for s in ["datadir", "/srv/blobs", "s3://garage/coffer-blobs/", "s3://garage/coffer-blobs/node/a/"] {
            assert_eq!(s.parse::<BlobLocation>().unwrap().to_string(), s);
        }
        assert_eq!(
            "s3://garage/b/p".parse::<BlobLocation>().unwrap(),
            BlobLocation::S3 { remote: "garage".into(), bucket: "b".into(), prefix: "p/".into() }
        );
        assert!("s3://garage".parse::<BlobLocation>().is_err());
        assert!("relative/dir".parse::<BlobLocation>().is_err());
    }

    #[tokio::test]
    async fn the_place_is_kept_once_blobs_are_there() {
        let t = crate::testutil::store().await;
        assert_eq!(t.store.recorded_blob_location().await.unwrap(), None);
        let shared = BlobLocation::Dir { path: "/srv/blobs".into() };
        let other = BlobLocation::Dir { path: "/srv/other".into() };
        assert_eq!(t.store.record_blob_location(&other).await.unwrap(), Ok(()));
        // Without blobs yet, the place may still change.
        assert_eq!(t.store.record_blob_location(&shared).await.unwrap(), Ok(()));
        let t = crate::testutil::TestStore { store: t.store.use_blob_store(std::sync::Arc::new(crate::blob_store::LocalBlobs::open(t._dir.path().join("shared").as_path()).unwrap())).unwrap(), ..t };
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        crate::testutil::put(&t, &b, "big", &vec![1u8; crate::INLINE_MAX + 1]).await.unwrap();
        assert!(t._dir.path().join("shared/blobs").read_dir().unwrap().next().is_some(), "the blob went to the store in use");
        assert_eq!(t.store.record_blob_location(&shared).await.unwrap(), Ok(()));
        assert_eq!(t.store.record_blob_location(&BlobLocation::DataDir).await.unwrap(), Err(shared.clone()));
        assert_eq!(t.store.recorded_blob_location().await.unwrap(), Some(shared));
    }

    #[tokio::test]
    async fn a_data_dir_with_blobs_keeps_them_there() {
        let t = crate::testutil::store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        crate::testutil::put(&t, &b, "big", &vec![1u8; crate::INLINE_MAX + 1]).await.unwrap();
        let elsewhere = BlobLocation::Dir { path: "/srv/blobs".into() };
        assert_eq!(t.store.record_blob_location(&elsewhere).await.unwrap(), Err(BlobLocation::DataDir));
        assert_eq!(t.store.record_blob_location(&BlobLocation::DataDir).await.unwrap(), Ok(()));
    }
}
