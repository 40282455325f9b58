//! Where an admin command finds its store: the data dir and index of the site (`KeyedDir`, and
//! the master key file that `keys::secrets` opens for it), and a runtime to run it on.

use coffer_storage::{Metadata, Site, Store};
use std::path::Path;

/// Opens the store of `site` for an admin command (without sealing anything: see
/// `secrets::open_store` for commands that hold the master key).
pub(crate) fn open_store(site: &Site) -> Result<Store, String> {
    Store::open_at(site).map_err(|e| format!("opening the store in {} ({}): {e}", site.data_dir.display(), site.metadata))
}

/// The data dir of `site` for a command that reads the SQLite index file itself; with
/// PostgreSQL metadata it has none to read.
pub fn sqlite_data_dir(site: &Site, command: &str) -> Result<std::path::PathBuf, String> {
    match site.metadata {
        Metadata::DataDir => Ok(site.data_dir.clone()),
        Metadata::Postgres(_) => Err(format!("`coffer admin {command}` reads the SQLite index in the data dir; this store keeps its index in {}", site.metadata)),
    }
}

/// A runtime for one admin command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())
}

/// Where an admin command finds the data dir and the master key.
pub struct KeyedDir<'a> {
    pub data_dir: &'a Path,
    pub metadata: &'a Metadata,
    pub master_key_file: Option<&'a Path>,
}

impl<'a> KeyedDir<'a> {
    /// The data dir and master key file of the server's configuration.
    pub fn of(config: &'a crate::config::Config) -> KeyedDir<'a> {
        KeyedDir { data_dir: &config.data_dir, metadata: &config.metadata, master_key_file: config.master_key_file.as_deref() }
    }

    /// The store's data dir and metadata.
    pub fn site(&self) -> Site {
        Site { data_dir: self.data_dir.to_path_buf(), metadata: self.metadata.clone() }
    }
}
