//! Object Lock in the index: turning it on for a bucket (its setting is a configuration
//! document of kind `LOCK_KIND`, which the server writes), and changes to one version's
//! retention or legal hold, checked against S3's rules in the transaction that makes them.
//! Deletes check a version's lock in their own transaction (`objects::delete_version`).

use crate::error::{Result, StorageError};
use crate::model::{DeleteOptions, LockMode, VersionLock, Versioning, LOCK_KIND};
use crate::Store;

/// A change to a version's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockChange {
    /// A new retention, or none.
    Retention(Option<(LockMode, i64)>),
    LegalHold(bool),
}

impl LockChange {
    /// Makes the change to `lock` at `now_ms` if S3's rules allow it (`ObjectLocked`).
    pub(crate) fn apply(self, lock: &mut VersionLock, now_ms: i64, bypass_governance: bool) -> Result<()> {
        match self {
            LockChange::Retention(new) => {
                check_retention_change(lock, new, now_ms, bypass_governance)?;
                lock.retention = new;
            }
            LockChange::LegalHold(on) => lock.legal_hold = on,
        }
        Ok(())
    }
}

impl Store {
    /// Turns Object Lock on for the bucket (for good), or replaces its setting, with `document`
    /// (the server's JSON). The bucket's versioning must be Enabled.
    pub async fn set_bucket_lock(&self, bucket_id: i64, document: String) -> Result<()> {
        self.index().set_bucket_lock(bucket_id, document).await?;
        self.inner.configs.invalidate(bucket_id, Some(LOCK_KIND));
        Ok(())
    }

    /// Changes the lock of a version (the latest when `version_id` is None) as S3 allows:
    /// a retention in force can be extended; a COMPLIANCE one cannot be shortened, removed or
    /// made GOVERNANCE by anyone; a GOVERNANCE one only with `options.bypass_governance`
    /// (also to become COMPLIANCE). Returns the version id.
    pub async fn change_version_lock(&self, bucket_id: i64, key: &str, version_id: Option<&str>, change: LockChange, options: DeleteOptions) -> Result<String> {
        self.index().change_version_lock(bucket_id, key, version_id, change, options).await
    }
}

/// Whether a bucket whose versioning is `versioning` may have Object Lock turned on.
pub(crate) fn check_lock_allowed(versioning: Versioning) -> Result<()> {
    match versioning {
        Versioning::Enabled => Ok(()),
        _ => Err(StorageError::InvalidBucketState("Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")),
    }
}

pub(crate) fn check_retention_change(current: &VersionLock, new: Option<(LockMode, i64)>, now_ms: i64, bypass: bool) -> Result<()> {
    let Some((mode, until)) = current.retention.filter(|(_, until)| *until > now_ms) else { return Ok(()) };
    let keeps_or_extends = matches!(new, Some((m, u)) if m == mode && u >= until);
    match mode {
        _ if keeps_or_extends => Ok(()),
        LockMode::Compliance => Err(StorageError::ObjectLocked("a COMPLIANCE retention can only be extended")),
        LockMode::Governance if bypass => Ok(()),
        LockMode::Governance => Err(StorageError::ObjectLocked("changing a GOVERNANCE retention other than extending it needs x-amz-bypass-governance-retention")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn held(mode: LockMode, until: i64) -> VersionLock {
        VersionLock { retention: Some((mode, until)), legal_hold: false }
    }

    #[test]
    fn retention_moves_only_as_s3_allows() {
        let (g, c) = (LockMode::Governance, LockMode::Compliance);
        let ok = |cur: VersionLock, new, bypass| check_retention_change(&cur, new, NOW, bypass).is_ok();
        assert!(ok(VersionLock::default(), Some((c, NOW + 5)), false));
        assert!(ok(held(c, NOW + 5), Some((c, NOW + 9)), false), "extended");
        assert!(!ok(held(c, NOW + 5), Some((c, NOW + 1)), true), "COMPLIANCE is never shortened");
        assert!(!ok(held(c, NOW + 5), Some((g, NOW + 9)), true));
        assert!(!ok(held(c, NOW + 5), None, true));
        assert!(ok(held(c, NOW - 1), None, false), "a retention that has passed protects nothing");
        assert!(ok(held(g, NOW + 5), Some((g, NOW + 5)), false));
        assert!(!ok(held(g, NOW + 5), Some((g, NOW + 1)), false));
        assert!(ok(held(g, NOW + 5), Some((g, NOW + 1)), true));
        assert!(!ok(held(g, NOW + 5), Some((c, NOW + 5)), false));
        assert!(ok(held(g, NOW + 5), Some((c, NOW + 5)), true));
    }

    #[test]
    fn what_protects_a_version_from_deletion() {
        assert_eq!(VersionLock::default().protects(NOW, false), None);
        assert!(VersionLock { retention: None, legal_hold: true }.protects(NOW, true).is_some());
        assert!(held(LockMode::Compliance, NOW + 1).protects(NOW, true).is_some());
        assert!(held(LockMode::Governance, NOW + 1).protects(NOW, false).is_some());
        assert_eq!(held(LockMode::Governance, NOW + 1).protects(NOW, true), None);
        assert_eq!(held(LockMode::Compliance, NOW).protects(NOW, false), None);
    }
}
