//! The Object Lock a new version gets: its request's `x-amz-object-lock-*` headers (or POST
//! form fields), else the bucket's default retention, checked as S3 checks them. A write
//! that sets a lock, or goes into a bucket with a default retention, must carry Content-MD5 or
//! an `x-amz-checksum-*` header.

use crate::bucket_config::object_lock::{bucket_lock, not_enabled, parse_date, parse_mode};
use crate::http::error::{S3Error, S3Result};
use crate::request::ctx::Ctx;
use coffer_storage::{Bucket, VersionLock};

pub use crate::bucket_config::object_lock::{BYPASS, LEGAL_HOLD, MODE, RETAIN_UNTIL};

/// The lock parameters of a request, as sent.
#[derive(Default)]
pub struct LockParams<'a> {
    pub mode: Option<&'a str>,
    pub retain_until: Option<&'a str>,
    pub legal_hold: Option<&'a str>,
}

impl<'a> LockParams<'a> {
    pub fn from_headers(ctx: &'a Ctx<'_>) -> LockParams<'a> {
        LockParams { mode: ctx.header(MODE), retain_until: ctx.header(RETAIN_UNTIL), legal_hold: ctx.header(LEGAL_HOLD) }
    }

    fn any(&self) -> bool {
        self.mode.is_some() || self.retain_until.is_some() || self.legal_hold.is_some()
    }
}

/// The lock of a version a request writes into `bucket` at `now_ms`. `integrity_checked`
/// says whether the request carries Content-MD5 or a flexible checksum (None: the caller
/// checks nothing, e.g. CreateMultipartUpload, whose parts carry the bytes).
pub async fn for_new_version(ctx: &Ctx<'_>, bucket: &Bucket, params: &LockParams<'_>, integrity_checked: Option<bool>, now_ms: i64) -> S3Result<VersionLock> {
    let setting = bucket_lock(&ctx.state.store, bucket.id).await?;
    let Some(setting) = setting else {
        return match params.any() {
            true => Err(not_enabled()),
            false => Ok(VersionLock::default()),
        };
    };
    let retention = match (params.mode, params.retain_until) {
        (None, None) => setting.default_retention.as_ref().map(|d| (d.mode, d.until_ms(now_ms))),
        (Some(mode), Some(date)) => {
            let mode = parse_mode(mode).ok_or_else(|| S3Error::invalid_argument("Unknown wormMode directive.").with("ArgumentName", MODE))?;
            let until = parse_date(date)?;
            if until <= now_ms {
                return Err(S3Error::invalid_argument("The retain until date must be in the future!").with("ArgumentName", RETAIN_UNTIL));
            }
            Some((mode, until))
        }
        _ => {
            return Err(S3Error::invalid_argument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
            ))
        }
    };
    let legal_hold = match params.legal_hold {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(_) => return Err(S3Error::invalid_argument("Legal Hold must be either of 'ON' or 'OFF'").with("ArgumentName", LEGAL_HOLD)),
    };
    let lock = VersionLock { retention, legal_hold };
    if integrity_checked == Some(false) && !lock.is_none() {
        return Err(S3Error::invalid_request(
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
        ));
    }
    Ok(lock)
}

/// Whether a request asks to bypass GOVERNANCE retention and may: the header, and
/// `s3:BypassGovernanceRetention` on the key (the owner has it unless a policy denies it).
/// On a bucket without lock the header changes nothing.
pub async fn bypass_governance(ctx: &Ctx<'_>, bucket: &Bucket, key: &str) -> S3Result<bool> {
    if !ctx.header(BYPASS).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    Ok(ctx.check_key(bucket, key, "s3:BypassGovernanceRetention", coffer_storage::Permission::Write).await.is_ok())
}
