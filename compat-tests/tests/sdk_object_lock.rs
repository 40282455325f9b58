//! Object Lock through the AWS SDK for Rust: a bucket created with lock, its default
//! retention, per-version retention and legal hold, deletes refused until the date passes
//! (a retention of two seconds expires during the test) or a legal hold is lifted, GOVERNANCE
//! bypassed by its owner, and COMPLIANCE that only moves later.

use aws_smithy_types::DateTime;
use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus,
    ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};
use coffer_compat_tests::{assert_s3_error, TestServer};
use std::time::{Duration, SystemTime};

fn in_secs(secs: u64) -> DateTime {
    DateTime::from(SystemTime::now() + Duration::from_secs(secs))
}

#[tokio::test(flavor = "multi_thread")]
async fn locked_versions_outlive_deletes_until_their_date() {
    let server = TestServer::start();
    let s3 = server.client();
    s3.create_bucket().bucket("vault").object_lock_enabled_for_bucket(true).send().await.unwrap();
    let versioning = s3.get_bucket_versioning().bucket("vault").send().await.unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    let suspend = VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build();
    assert_s3_error(s3.put_bucket_versioning().bucket("vault").versioning_configuration(suspend).send().await, 409, "InvalidBucketState");

    // A default retention: every new version is retained a day in GOVERNANCE mode.
    let config = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(ObjectLockRule::builder().default_retention(DefaultRetention::builder().mode(ObjectLockRetentionMode::Governance).days(1).build()).build())
        .build();
    s3.put_object_lock_configuration().bucket("vault").object_lock_configuration(config).send().await.unwrap();
    let got = s3.get_object_lock_configuration().bucket("vault").send().await.unwrap();
    let rule = got.object_lock_configuration().and_then(|c| c.rule()).and_then(|r| r.default_retention()).unwrap();
    assert_eq!((rule.mode(), rule.days()), (Some(&ObjectLockRetentionMode::Governance), Some(1)));

    let defaulted = s3.put_object().bucket("vault").key("daily").body(ByteStream::from_static(b"backup")).send().await.unwrap();
    let head = s3.head_object().bucket("vault").key("daily").send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    let v = defaulted.version_id().unwrap().to_string();
    assert_s3_error(s3.delete_object().bucket("vault").key("daily").version_id(&v).send().await, 403, "AccessDenied");
    // A plain delete adds a delete marker, which is allowed; the version stays.
    s3.delete_object().bucket("vault").key("daily").send().await.unwrap();
    assert_eq!(s3.get_object().bucket("vault").key("daily").version_id(&v).send().await.unwrap().body.collect().await.unwrap().into_bytes().as_ref(), b"backup");
    // The owner may bypass GOVERNANCE.
    s3.delete_object().bucket("vault").key("daily").version_id(&v).bypass_governance_retention(true).send().await.unwrap();

    // COMPLIANCE for two seconds: nobody deletes it, the date only moves later, then time passes.
    let short = s3
        .put_object()
        .bucket("vault")
        .key("short")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_secs(2))
        .body(ByteStream::from_static(b"brief"))
        .send()
        .await
        .unwrap();
    let sv = short.version_id().unwrap().to_string();
    assert_s3_error(
        s3.delete_object().bucket("vault").key("short").version_id(&sv).bypass_governance_retention(true).send().await,
        403,
        "AccessDenied",
    );
    let earlier = ObjectLockRetention::builder().mode(ObjectLockRetentionMode::Compliance).retain_until_date(in_secs(1)).build();
    assert_s3_error(
        s3.put_object_retention().bucket("vault").key("short").version_id(&sv).retention(earlier).bypass_governance_retention(true).send().await,
        403,
        "AccessDenied",
    );
    let retention = s3.get_object_retention().bucket("vault").key("short").version_id(&sv).send().await.unwrap();
    assert_eq!(retention.retention().and_then(|r| r.mode()), Some(&ObjectLockRetentionMode::Compliance));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    s3.delete_object().bucket("vault").key("short").version_id(&sv).send().await.unwrap();

    // A legal hold blocks deletion without a date, until it is lifted.
    let held = s3.put_object().bucket("vault").key("held").body(ByteStream::from_static(b"evidence")).send().await.unwrap();
    let hv = held.version_id().unwrap().to_string();
    let on = ObjectLockLegalHold::builder().status(ObjectLockLegalHoldStatus::On).build();
    s3.put_object_legal_hold().bucket("vault").key("held").version_id(&hv).legal_hold(on).send().await.unwrap();
    assert_s3_error(
        s3.delete_object().bucket("vault").key("held").version_id(&hv).bypass_governance_retention(true).send().await,
        403,
        "AccessDenied",
    );
    let off = ObjectLockLegalHold::builder().status(ObjectLockLegalHoldStatus::Off).build();
    s3.put_object_legal_hold().bucket("vault").key("held").version_id(&hv).legal_hold(off).send().await.unwrap();
    let hold = s3.get_object_legal_hold().bucket("vault").key("held").version_id(&hv).send().await.unwrap();
    assert_eq!(hold.legal_hold().and_then(|h| h.status()), Some(&ObjectLockLegalHoldStatus::Off));
    s3.delete_object().bucket("vault").key("held").version_id(&hv).bypass_governance_retention(true).send().await.unwrap();

    // Lock calls on a bucket without lock.
    s3.create_bucket().bucket("plain").send().await.unwrap();
    s3.put_object().bucket("plain").key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    assert_s3_error(s3.get_object_retention().bucket("plain").key("k").send().await, 400, "InvalidRequest");
    assert_s3_error(s3.get_object_lock_configuration().bucket("plain").send().await, 404, "ObjectLockConfigurationNotFoundError");
}
