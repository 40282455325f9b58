//! The tiers and remotes registered in the index, which the admin commands change while
//! the server runs (the server reloads them). Remote secrets arrive sealed and stay opaque.

use super::{RemoteSpec, TierKind, TierSpec};
use crate::error::{Result, TierError};
use crate::{now_ms, Store};
use rusqlite::{params, Connection, OptionalExtension};

impl Store {
    /// The tiers registered in the index, by name.
    pub async fn tier_specs(&self) -> Result<Vec<TierSpec>> {
        self.readers()
            .read(|c| {
                let mut stmt = c.prepare_cached("SELECT spec FROM tiers ORDER BY name")?;
                let specs: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                specs.iter().map(|s| Ok(serde_json::from_str(s)?)).collect()
            })
            .await
    }

    /// Registers a tier; a remote tier's remote must be registered first.
    pub async fn add_tier(&self, spec: TierSpec) -> Result<()> {
        spec.validate().map_err(TierError::Invalid)?;
        self.writer()
            .write(move |c| {
                if let TierKind::Remote { remote, .. } = &spec.kind {
                    if remote_row(c, remote)?.is_none() {
                        return Err(TierError::Missing { kind: "remote", name: remote.clone() }.into());
                    }
                }
                let added = c
                    .prepare_cached("INSERT INTO tiers (name, spec, created_ms) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO NOTHING")?
                    .execute(params![spec.name, serde_json::to_string(&spec)?, now_ms()])?;
                match added {
                    0 => Err(TierError::Exists { kind: "tier", name: spec.name.clone() }.into()),
                    _ => Ok(()),
                }
            })
            .await
    }

    /// Unregisters a tier that holds no version and has none on its way to it.
    pub async fn remove_tier(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer()
            .write(move |c| {
                let versions: i64 = c.query_row(
                    "SELECT (SELECT COUNT(*) FROM objects WHERE tier = ?1) + (SELECT COUNT(*) FROM objects WHERE move_to IS NOT NULL AND move_to = ?1)",
                    [&name],
                    |r| r.get(0),
                )?;
                if versions > 0 {
                    let what = format!("{versions} object version(s) (move them back by copying them to STANDARD)");
                    return Err(TierError::InUse { kind: "tier", name, what }.into());
                }
                if c.prepare_cached("DELETE FROM tiers WHERE name = ?1")?.execute([&name])? == 0 {
                    return Err(TierError::Missing { kind: "tier", name }.into());
                }
                c.prepare_cached("DELETE FROM tier_blobs WHERE tier = ?1")?.execute([&name])?;
                Ok(())
            })
            .await
    }

    /// The remotes registered in the index, with their sealed secret keys.
    pub async fn remotes(&self) -> Result<Vec<(RemoteSpec, Vec<u8>)>> {
        self.readers()
            .read(|c| {
                let mut stmt = c.prepare_cached("SELECT spec, secret FROM remotes ORDER BY name")?;
                let rows: Vec<(String, Vec<u8>)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
                rows.into_iter().map(|(spec, secret)| Ok((serde_json::from_str(&spec)?, secret))).collect()
            })
            .await
    }

    /// Registers a remote S3 endpoint with its sealed secret key.
    pub async fn add_remote(&self, spec: RemoteSpec, sealed_secret: Vec<u8>) -> Result<()> {
        self.writer()
            .write(move |c| {
                let added = c
                    .prepare_cached("INSERT INTO remotes (name, spec, secret, created_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name) DO NOTHING")?
                    .execute(params![spec.name, serde_json::to_string(&spec)?, sealed_secret, now_ms()])?;
                match added {
                    0 => Err(TierError::Exists { kind: "remote", name: spec.name.clone() }.into()),
                    _ => Ok(()),
                }
            })
            .await
    }

    /// Unregisters a remote no registered tier uses.
    pub async fn remove_remote(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer()
            .write(move |c| {
                let mut stmt = c.prepare_cached("SELECT spec FROM tiers")?;
                let specs: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                for spec in specs {
                    let spec: TierSpec = serde_json::from_str(&spec)?;
                    if matches!(&spec.kind, TierKind::Remote { remote, .. } if *remote == name) {
                        return Err(TierError::InUse { kind: "remote", name, what: format!("tier {}", spec.name) }.into());
                    }
                }
                if let Some(crate::blob_store::BlobLocation::S3 { remote, .. }) = crate::blob_store::read_location(c)? {
                    if remote == name {
                        return Err(TierError::InUse { kind: "remote", name, what: "the store's blobs (--blobs)".into() }.into());
                    }
                }
                if c.prepare_cached("DELETE FROM remotes WHERE name = ?1")?.execute([&name])? == 0 {
                    return Err(TierError::Missing { kind: "remote", name }.into());
                }
                Ok(())
            })
            .await
    }
}

fn remote_row(c: &Connection, name: &str) -> Result<Option<String>> {
    Ok(c.prepare_cached("SELECT spec FROM remotes WHERE name = ?1")?.query_row([name], |r| r.get(0)).optional()?)
}
