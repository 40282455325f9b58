//! The per-request context handlers receive: shared state, the request, its decoded query,
//! the authenticated caller, and the access checks (bucket policy, owner, ACL) handlers start with.

use crate::access::authn::Principal;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::router::Query;
use crate::state::AppState;
use actix_web::HttpRequest;
use coffer_auth::Payload;
use crate::access::acl;
use crate::bucket_config::policy::{self, Decision};
use coffer_storage::{Bucket, Grant, ObjectRecord, Permission, User};

pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub req: &'a HttpRequest,
    pub query: Query,
    pub principal: Option<Principal>,
    /// How the request body is signed (decides aws-chunked decoding and hash checks).
    pub payload: Payload,
    /// What the request asks to do, as a bucket policy names it.
    pub target: Target,
    /// The request's x-amz-request-id.
    pub request_id: String,
    /// The Object Lock a retention or legal-hold body asks for, once read (headers say it for
    /// uploads), for the `s3:object-lock-*` policy condition keys.
    pub lock_request: std::cell::OnceCell<LockRequest>,
}

/// Object Lock values a request asks for.
#[derive(Clone, Debug, Default)]
pub struct LockRequest {
    pub mode: Option<String>,
    pub retain_until_ms: Option<i64>,
    pub legal_hold: Option<String>,
}

/// The IAM action of the request and the bucket and key it addresses.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub action: &'static str,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// Actions the bucket owner keeps even when the policy denies them, so a policy that locks
/// everyone out can still be repaired.
const OWNER_KEEPS: &[&str] = &["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"];

fn denied() -> S3Error {
    S3Error::new(ErrorCode::AccessDenied)
}

fn arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

/// The canonical id S3 gives objects written by anonymous callers.
pub const ANONYMOUS_ID: &str = "65a011a29cdf8ec533ec3d1ccaae921c";

/// The bucket configuration document holding a bucket's grants (beyond its owner's).
const BUCKET_ACL: &str = "acl";

pub async fn bucket_grants(state: &AppState, bucket_id: i64) -> S3Result<Vec<Grant>> {
    Ok(crate::bucket_config::load(&state.store, bucket_id, BUCKET_ACL).await?.unwrap_or_default())
}

pub async fn set_bucket_grants(state: &AppState, bucket_id: i64, grants: &[Grant]) -> S3Result<()> {
    crate::bucket_config::save(&state.store, bucket_id, BUCKET_ACL, (!grants.is_empty()).then_some(&grants)).await
}

impl Ctx<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.req.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The signed-in user; anonymous callers get AccessDenied (no public access exists yet).
    pub fn user(&self) -> S3Result<&User> {
        self.principal.as_ref().map(|p| &p.user).ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))
    }

    /// Checks that the caller may act on `bucket`: today, that they own it.
    pub fn authorize(&self, bucket: &Bucket) -> S3Result<()> {
        if self.user()?.id == bucket.owner.id {
            Ok(())
        } else {
            Err(S3Error::new(ErrorCode::AccessDenied))
        }
    }

    /// Loads a bucket the caller may act on.
    pub async fn owned_bucket(&self, name: &str) -> S3Result<Bucket> {
        let bucket = self.state.store.bucket(name).await.map_err(|e| S3Error::bucket_lookup(name, e))?;
        let (action, key) = self.action_on(&bucket.name);
        match self.policy_verdict(&bucket, action, key, None, None).await? {
            Decision::Deny => Err(denied()),
            Decision::Allow => Ok(bucket),
            Decision::NotMatched => {
                self.authorize(&bucket)?;
                Ok(bucket)
            }
        }
    }

    /// Who a new object or upload belongs to: the caller, or S3's anonymous canonical id.
    pub fn writer_id(&self) -> &str {
        self.caller().map_or(ANONYMOUS_ID, |u| u.id.as_str())
    }

    /// Who makes this request, as the events of its changes record it.
    pub fn requester(&self) -> coffer_storage::Requester {
        coffer_storage::Requester {
            principal_id: self.writer_id().to_string(),
            source_ip: self.req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default(),
            request_id: self.request_id.clone(),
        }
    }

    /// The signed-in user, or None for anonymous callers.
    pub fn caller(&self) -> Option<&User> {
        self.principal.as_ref().map(|p| &p.user)
    }

    /// Loads a bucket on which the caller holds `wanted` (as owner or through the bucket ACL).
    pub async fn bucket_for(&self, name: &str, wanted: Permission) -> S3Result<Bucket> {
        let bucket = self.bucket(name).await?;
        self.check_bucket(&bucket, wanted).await?;
        Ok(bucket)
    }

    /// Loads a bucket without any access check (the caller decides).
    pub async fn bucket(&self, name: &str) -> S3Result<Bucket> {
        self.state.store.bucket(name).await.map_err(|e| S3Error::bucket_lookup(name, e))
    }

    /// The request's action and key when it addresses bucket `name` (none otherwise).
    fn action_on(&self, name: &str) -> (&'static str, Option<&str>) {
        if self.target.bucket.as_deref() == Some(name) {
            (self.target.action, self.target.key.as_deref())
        } else {
            ("", None)
        }
    }

    /// The bucket policy's verdict on `action` over the bucket (or its object `key`). A Deny
    /// spares the owner's policy management; under RestrictPublicBuckets a public policy
    /// allows nobody but the owner. `prefix` stands in for s3:prefix.
    async fn policy_verdict(
        &self,
        bucket: &Bucket,
        action: &str,
        key: Option<&str>,
        object: Option<&ObjectRecord>,
        prefix: Option<&str>,
    ) -> S3Result<Decision> {
        if action.is_empty() {
            return Ok(Decision::NotMatched);
        }
        let Some(policy) = self.state.policies.load(&self.state.store, bucket.id).await? else { return Ok(Decision::NotMatched) };
        let is_owner = self.caller().is_some_and(|u| u.id == bucket.owner.id);
        let loaded;
        let object = match (object, key) {
            (None, Some(k)) if policy.reads_object_tags() => {
                loaded = self.state.store.object(bucket.id, k, self.query.get("versionId")).await.ok().map(|(rec, _)| rec);
                loaded.as_ref()
            }
            (object, _) => object,
        };
        let resource = arn(&bucket.name, key);
        let context = |k: &str| self.condition_values(k, object, prefix);
        let caller = self.caller().map(|u| policy::Caller { id: &u.id, name: &u.name });
        let verdict = policy.evaluate(&policy::Request { action, resource: &resource, caller, context: &context });
        Ok(match verdict {
            Decision::Deny if is_owner && OWNER_KEEPS.contains(&action) => Decision::NotMatched,
            Decision::Allow
                if !is_owner
                    && policy.is_public()
                    && crate::access::public_access::load(self.state, bucket.id).await?.is_some_and(|b| b.restrict_public_buckets) =>
            {
                Decision::NotMatched
            }
            other => other,
        })
    }

    /// The request's values for a policy condition key (lower-cased; tag keys keep their case).
    fn condition_values(&self, key: &str, object: Option<&ObjectRecord>, prefix: Option<&str>) -> Option<Vec<String>> {
        let one = |v: Option<&str>| v.map(|v| vec![v.to_string()]);
        match key {
            "aws:sourceip" => self.req.peer_addr().map(|a| vec![a.ip().to_string()]),
            "aws:securetransport" => one(Some(if self.req.connection_info().scheme() == "https" { "true" } else { "false" })),
            "aws:referer" => one(self.header("referer")),
            "aws:useragent" => one(self.header("user-agent")),
            "s3:prefix" => one(prefix.or_else(|| self.query.get("prefix"))),
            "s3:delimiter" => one(self.query.get("delimiter")),
            "s3:max-keys" => one(self.query.get("max-keys")),
            "s3:versionid" => one(self.query.get("versionId")),
            "s3:object-lock-mode" | "s3:object-lock-legal-hold" | "s3:object-lock-retain-until-date" | "s3:object-lock-remaining-retention-days" => {
                self.lock_condition(key)
            }
            "s3:requestobjecttagkeys" => {
                let tags = self.request_tags();
                (!tags.is_empty()).then(|| tags.into_iter().map(|(k, _)| k).collect())
            }
            _ => {
                if let Some(tag) = key.strip_prefix("s3:existingobjecttag/") {
                    let tags = &object?.meta.tags;
                    return tags.iter().find(|(k, _)| k == tag).map(|(_, v)| vec![v.clone()]);
                }
                if let Some(tag) = key.strip_prefix("s3:requestobjecttag/") {
                    return self.request_tags().into_iter().find(|(k, _)| k == tag).map(|(_, v)| vec![v]);
                }
                // s3:x-amz-acl, s3:x-amz-server-side-encryption, s3:x-amz-copy-source, ...
                one(key.strip_prefix("s3:x-amz-").and_then(|_| self.header(&key[3..])))
            }
        }
    }

    /// The request's Object Lock values: from a body already read, else from its headers.
    fn lock_condition(&self, key: &str) -> Option<Vec<String>> {
        use crate::bucket_config::object_lock::{LEGAL_HOLD, MODE, RETAIN_UNTIL};
        let asked = match self.lock_request.get() {
            Some(l) => l.clone(),
            None => LockRequest {
                mode: self.header(MODE).map(str::to_string),
                retain_until_ms: self.header(RETAIN_UNTIL).and_then(|d| crate::bucket_config::object_lock::parse_date(d).ok()),
                legal_hold: self.header(LEGAL_HOLD).map(str::to_string),
            },
        };
        let value = match key {
            "s3:object-lock-mode" => asked.mode,
            "s3:object-lock-legal-hold" => asked.legal_hold,
            "s3:object-lock-retain-until-date" => asked.retain_until_ms.map(crate::bucket_config::object_lock::format_date),
            // Whole days from now until the date, rounded up.
            _ => asked.retain_until_ms.map(|until| ((until - coffer_storage::now_ms()).max(0) + 86_399_999) / 86_400_000).map(|d| d.to_string()),
        };
        value.map(|v| vec![v])
    }

    /// The tags a request sets with the x-amz-tagging header.
    fn request_tags(&self) -> Vec<(String, String)> {
        let Some(raw) = self.header("x-amz-tagging") else { return Vec::new() };
        let q = Query::parse(raw);
        q.pairs().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Checks `wanted` on a loaded bucket: an explicit Deny in its policy wins, then the owner,
    /// an Allow in the policy, or an ACL grant. An object read on a bucket (may a missing key
    /// be reported as missing?) is a question about listing, asked as s3:ListBucket.
    pub async fn check_bucket(&self, bucket: &Bucket, wanted: Permission) -> S3Result<()> {
        let (mut action, mut key) = self.action_on(&bucket.name);
        let mut prefix = None;
        if wanted == Permission::Read && key.is_some() && action.starts_with("s3:GetObject") {
            (action, prefix, key) = ("s3:ListBucket", key, None);
        }
        self.check_bucket_as(bucket, action, key, prefix, wanted).await
    }

    /// Checks `action` on one key of `bucket`, decided as for the bucket (a DeleteObjects
    /// request asks this for each of its keys).
    pub async fn check_key(&self, bucket: &Bucket, key: &str, action: &str, wanted: Permission) -> S3Result<()> {
        self.check_bucket_as(bucket, action, Some(key), None, wanted).await
    }

    /// Whether the bucket has a policy (so decisions may differ from key to key).
    pub async fn has_policy(&self, bucket: &Bucket) -> S3Result<bool> {
        Ok(self.state.policies.load(&self.state.store, bucket.id).await?.is_some())
    }

    async fn check_bucket_as(&self, bucket: &Bucket, action: &str, key: Option<&str>, prefix: Option<&str>, wanted: Permission) -> S3Result<()> {
        match self.policy_verdict(bucket, action, key, None, prefix).await? {
            Decision::Deny => return Err(denied()),
            Decision::Allow => return Ok(()),
            Decision::NotMatched => {}
        }
        if self.caller().is_some_and(|u| u.id == bucket.owner.id) {
            return Ok(());
        }
        let grants = bucket_grants(self.state, bucket.id).await?;
        let grants = crate::access::public_access::effective(self.state, bucket.id, &grants).await?;
        if acl::allows(&bucket.owner.id, &grants, self.caller(), wanted) {
            Ok(())
        } else {
            Err(denied())
        }
    }

    /// Checks `wanted` on an object version in the addressed bucket: the bucket policy, then
    /// the object's owner (its writer) or its grants.
    pub async fn check_object(&self, rec: &ObjectRecord, wanted: Permission) -> S3Result<()> {
        let has_policy = self.state.policies.load(&self.state.store, rec.bucket_id).await?.is_some();
        if let (true, Some(name)) = (has_policy, self.target.bucket.as_deref()) {
            if let Ok(bucket) = self.state.store.bucket(name).await {
                if bucket.id == rec.bucket_id {
                    // Other keys of the request's bucket (a website's index or error document) are read.
                    let same_key = self.target.key.as_deref() == Some(rec.key.as_str());
                    let action = if same_key { self.target.action } else { "s3:GetObject" };
                    return self.check_object_in(&bucket, rec, wanted, action).await;
                }
            }
        }
        self.object_acl(rec, wanted).await
    }

    /// Checks `wanted` on an object version of `bucket` for `action` (a copy's source is read
    /// with s3:GetObject while the request itself is a PutObject).
    pub async fn check_object_in(&self, bucket: &Bucket, rec: &ObjectRecord, wanted: Permission, action: &str) -> S3Result<()> {
        match self.policy_verdict(bucket, action, Some(&rec.key), Some(rec), None).await? {
            Decision::Deny => Err(denied()),
            Decision::Allow => Ok(()),
            Decision::NotMatched => self.object_acl(rec, wanted).await,
        }
    }

    async fn object_acl(&self, rec: &ObjectRecord, wanted: Permission) -> S3Result<()> {
        if self.caller().is_some_and(|u| u.id == rec.owner_id) {
            return Ok(());
        }
        let grants = rec.meta.acl.as_deref().unwrap_or(&[]);
        let grants = crate::access::public_access::effective(self.state, rec.bucket_id, grants).await?;
        if acl::allows(&rec.owner_id, &grants, self.caller(), wanted) {
            Ok(())
        } else {
            Err(denied())
        }
    }

    /// The checksum mode GET and HEAD return checksums in.
    pub fn checksum_mode(&self) -> bool {
        self.header("x-amz-checksum-mode").is_some_and(|v| v.eq_ignore_ascii_case("ENABLED"))
    }
}
