//! SQLite's KeyringIndex: the keyring document and the master key's fingerprint as rows of
//! `site_documents`. (A data-dir site's server keeps both in files beside the index instead;
//! see the server's `keys::kms::home`.)

use super::SqliteIndex;
use crate::error::Result;
use crate::meta::keyring::{KMS_KEYRING, MASTER_KEY_FINGERPRINT};
use crate::meta::{KeyringIndex, Versioned};
use rusqlite::{params, Connection, OptionalExtension};

#[async_trait::async_trait]
impl KeyringIndex for SqliteIndex {
    fn kms_keyring_blocking(&self) -> Result<Option<Versioned>> {
        self.readers.read_blocking(|c| {
            Ok(c.prepare_cached("SELECT version, value FROM site_documents WHERE name = ?1")?
                .query_row([KMS_KEYRING], |r| Ok(Versioned { version: r.get::<_, i64>(0)? as u64, value: r.get(1)? }))
                .optional()?)
        })
    }

    fn replace_kms_keyring_blocking(&self, seen: u64, value: &str) -> Result<Option<u64>> {
        let value = value.to_string();
        // The writer thread runs the job; waiting for it needs no runtime.
        futures::executor::block_on(self.writer.write(move |c| {
            let replaced = match seen {
                0 => insert_first(c, KMS_KEYRING, &value)?,
                _ => c
                    .prepare_cached("UPDATE site_documents SET value = ?2, version = version + 1 WHERE name = ?1 AND version = ?3")?
                    .execute(params![KMS_KEYRING, value, seen as i64])?,
            };
            Ok((replaced == 1).then_some(seen + 1))
        }))
    }

    async fn master_key_fingerprint(&self, fingerprint: &str) -> Result<String> {
        let fingerprint = fingerprint.to_string();
        self.writer
            .write(move |c| {
                insert_first(c, MASTER_KEY_FINGERPRINT, &fingerprint)?;
                Ok(c.prepare_cached("SELECT value FROM site_documents WHERE name = ?1")?.query_row([MASTER_KEY_FINGERPRINT], |r| r.get(0))?)
            })
            .await
    }
}

/// Stores the first version of document `name` unless there is one; returns the rows added.
fn insert_first(c: &Connection, name: &str, value: &str) -> Result<usize> {
    Ok(c.prepare_cached("INSERT INTO site_documents (name, version, value) VALUES (?1, 1, ?2) ON CONFLICT(name) DO NOTHING")?
        .execute([name, value])?)
}
