//! The site's key records in the index: the KMS keyring document, replaced by compare-and-set
//! on its version, and the master key's fingerprint, recorded once and then compared with.

use crate::error::Result;
pub use crate::meta::Versioned;
use crate::Store;

impl Store {
    /// The KMS keyring document, if one was stored (on the calling thread, which it blocks).
    pub fn kms_keyring_blocking(&self) -> Result<Option<Versioned>> {
        self.index().kms_keyring_blocking()
    }

    /// Stores `value` as the keyring document if its version is still `seen` (0: none yet),
    /// blocking the calling thread. Returns the new version, or None when another writer's
    /// document came first: read it again and redo the change on it.
    pub fn replace_kms_keyring_blocking(&self, seen: u64, value: &str) -> Result<Option<u64>> {
        self.index().replace_kms_keyring_blocking(seen, value)
    }

    /// Records `fingerprint` as the master key's unless one is recorded already; returns the
    /// recorded one, which the caller compares with its own.
    pub async fn master_key_fingerprint(&self, fingerprint: &str) -> Result<String> {
        self.index().master_key_fingerprint(fingerprint).await
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil;

    #[tokio::test]
    async fn the_keyring_is_replaced_only_from_the_version_read() {
        let t = testutil::store().await;
        let store = t.store.clone();
        tokio::task::spawn_blocking(move || {
            assert_eq!(store.kms_keyring_blocking().unwrap(), None);
            assert_eq!(store.replace_kms_keyring_blocking(1, "{}").unwrap(), None, "there is no version 1 yet");
            assert_eq!(store.replace_kms_keyring_blocking(0, "first").unwrap(), Some(1));
            assert_eq!(store.replace_kms_keyring_blocking(0, "again").unwrap(), None, "one was stored");
            assert_eq!(store.replace_kms_keyring_blocking(1, "second").unwrap(), Some(2));
            assert_eq!(store.replace_kms_keyring_blocking(1, "stale").unwrap(), None);
            let now = store.kms_keyring_blocking().unwrap().unwrap();
            assert_eq!((now.version, now.value.as_str()), (2, "second"));
        })
        .await
        .unwrap();
        // A restart finds it.
        let reopened = t.reopen();
        let after = tokio::task::spawn_blocking(move || reopened.kms_keyring_blocking().unwrap()).await.unwrap();
        assert_eq!(after.map(|d| d.version), Some(2));
    }

    #[tokio::test]
    async fn two_handles_adding_at_once_lose_nothing() {
        let t = testutil::store().await;
        let handles = [t.store.clone(), t.reopen()];
        let writers = handles.into_iter().enumerate().map(|(n, store)| {
            tokio::task::spawn_blocking(move || {
                for i in 0..20 {
                    // Read, change, compare-and-set; again from the top when another came first.
                    loop {
                        let seen = store.kms_keyring_blocking().unwrap();
                        let (version, mut items) = match seen {
                            Some(d) => (d.version, serde_json::from_str::<Vec<String>>(&d.value).unwrap()),
                            None => (0, Vec::new()),
                        };
                        items.push(format!("{n}-{i}"));
                        if store.replace_kms_keyring_blocking(version, &serde_json::to_string(&items).unwrap()).unwrap().is_some() {
                            break;
                        }
                    }
                }
            })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.unwrap();
        }
        let store = t.store.clone();
        let last = tokio::task::spawn_blocking(move || store.kms_keyring_blocking().unwrap().unwrap()).await.unwrap();
        let items: Vec<String> = serde_json::from_str(&last.value).unwrap();
        assert_eq!((items.len(), last.version), (40, 40));
    }

    #[tokio::test]
    async fn the_first_master_key_fingerprint_stays() {
        let t = testutil::store().await;
        assert_eq!(t.store.master_key_fingerprint("aaaa").await.unwrap(), "aaaa");
        assert_eq!(t.store.master_key_fingerprint("bbbb").await.unwrap(), "aaaa");
        assert_eq!(t.reopen().master_key_fingerprint("cccc").await.unwrap(), "aaaa");
    }
}
