//! PostgreSQL's KeyringIndex: the keyring document and the master key's fingerprint as rows of
//! `site_documents`, which every node of the site reads: a key made on one node is known on
//! all, and a node given another master key is refused at start.

use super::PgIndex;
use crate::error::Result;
use crate::meta::keyring::{KMS_KEYRING, MASTER_KEY_FINGERPRINT};
use crate::meta::{KeyringIndex, Versioned};
use tokio_postgres::GenericClient;

#[async_trait::async_trait]
impl KeyringIndex for PgIndex {
    fn kms_keyring_blocking(&self) -> Result<Option<Versioned>> {
        self.block_on(async {
            let row = self.client().await?.query_opt("SELECT version, value FROM site_documents WHERE name = $1", &[&KMS_KEYRING]).await?;
            Ok(row.map(|r| Versioned { version: r.get::<_, i64>(0) as u64, value: r.get(1) }))
        })
    }

    fn replace_kms_keyring_blocking(&self, seen: u64, value: &str) -> Result<Option<u64>> {
        self.block_on(async {
            let client = self.client().await?;
            // Either statement alone is the compare-and-set: of two writers of one version, the
            // second waits for the first's row (or key) and then finds it no longer matches.
            let replaced = match seen {
                0 => insert_first(&**client, KMS_KEYRING, value).await?,
                _ => {
                    client
                        .execute(
                            "UPDATE site_documents SET value = $2, version = version + 1 WHERE name = $1 AND version = $3",
                            &[&KMS_KEYRING, &value, &(seen as i64)],
                        )
                        .await?
                }
            };
            Ok((replaced == 1).then_some(seen + 1))
        })
    }

    async fn master_key_fingerprint(&self, fingerprint: &str) -> Result<String> {
        let client = self.client().await?;
        insert_first(&**client, MASTER_KEY_FINGERPRINT, fingerprint).await?;
        // A fingerprint is never replaced, so this reads the one that was there or just went in.
        let row = client.query_one("SELECT value FROM site_documents WHERE name = $1", &[&MASTER_KEY_FINGERPRINT]).await?;
        Ok(row.get(0))
    }
}

/// Stores the first version of document `name` unless there is one; returns the rows added.
async fn insert_first(c: &impl GenericClient, name: &str, value: &str) -> Result<u64> {
    Ok(c.execute("INSERT INTO site_documents (name, version, value) VALUES ($1, 1, $2) ON CONFLICT (name) DO NOTHING", &[&name, &value]).await?)
}
