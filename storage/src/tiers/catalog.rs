//! The tiers and remotes registered in the index, which the admin commands change while
//! the server runs (the server reloads them). Remote secrets arrive sealed and stay opaque.

use super::{RemoteSpec, TierSpec};
use crate::error::{Result, TierError};
use crate::Store;

impl Store {
    /// The tiers registered in the index, by name.
    pub async fn tier_specs(&self) -> Result<Vec<TierSpec>> {
        self.index().tier_specs().await
    }

    /// Registers a tier; a remote tier's remote must be registered first.
    pub async fn add_tier(&self, spec: TierSpec) -> Result<()> {
        spec.validate().map_err(TierError::Invalid)?;
        self.index().add_tier(spec).await
    }

    /// Unregisters a tier that holds no version and has none on its way to it.
    pub async fn remove_tier(&self, name: &str) -> Result<()> {
        self.index().remove_tier(name).await
    }

    /// The remotes registered in the index, with their sealed secret keys.
    pub async fn remotes(&self) -> Result<Vec<(RemoteSpec, Vec<u8>)>> {
        self.index().remotes().await
    }

    /// Registers a remote S3 endpoint with its sealed secret key.
    pub async fn add_remote(&self, spec: RemoteSpec, sealed_secret: Vec<u8>) -> Result<()> {
        self.index().add_remote(spec, sealed_secret).await
    }

    /// Unregisters a remote no registered tier uses.
    pub async fn remove_remote(&self, name: &str) -> Result<()> {
        self.index().remove_remote(name).await
    }
}
