//! MFA delete: a TOTP device registered with `coffer admin mfa enable`, MfaDelete turned on
//! with PutBucketVersioning, and permanent version deletes refused without a valid x-amz-mfa.

use coffer_compat_tests::aws_sdk_s3::primitives::ByteStream;
use coffer_compat_tests::aws_sdk_s3::types::{
    BucketVersioningStatus, Delete, MfaDelete, MfaDeleteStatus, ObjectIdentifier, VersioningConfiguration,
};
use coffer_compat_tests::{assert_s3_error, TestServer};
use coffer_crypto::totp;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or_else(|| panic!("no {name} in {out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn mfa_delete_guards_version_deletes_and_versioning_changes() {
    let server = TestServer::start();
    let out = server.admin(&["mfa", "enable", "root"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = String::from_utf8(out.stdout).unwrap();
    let serial = field(&out, "serial:").to_string();
    let secret = totp::secret_from_base32(field(&out, "secret:")).unwrap();
    assert!(field(&out, "otpauth URL:").starts_with("otpauth://totp/"));
    let mfa = |code: &str| format!("{serial} {code}");

    let s3 = server.client();
    s3.create_bucket().bucket("guarded").send().await.unwrap();
    let enable = |mfa_on: bool| {
        VersioningConfiguration::builder()
            .status(BucketVersioningStatus::Enabled)
            .mfa_delete(if mfa_on { MfaDelete::Enabled } else { MfaDelete::Disabled })
            .build()
    };
    // Turning MfaDelete on needs a valid code.
    assert_s3_error(
        s3.put_bucket_versioning().bucket("guarded").versioning_configuration(enable(true)).mfa(mfa("000000")).send().await,
        403,
        "AccessDenied",
    );
    s3.put_bucket_versioning()
        .bucket("guarded")
        .versioning_configuration(enable(true))
        .mfa(mfa(&totp::code_at(&secret, now())))
        .send()
        .await
        .unwrap();
    let v = s3.get_bucket_versioning().bucket("guarded").send().await.unwrap();
    assert_eq!(v.mfa_delete(), Some(&MfaDeleteStatus::Enabled));

    let put = s3.put_object().bucket("guarded").key("k").body(ByteStream::from_static(b"keep")).send().await.unwrap();
    let version = put.version_id().unwrap().to_string();
    // A plain delete only adds a delete marker: allowed without MFA.
    s3.delete_object().bucket("guarded").key("k").send().await.unwrap();
    // Permanent deletes need the code.
    assert_s3_error(s3.delete_object().bucket("guarded").key("k").version_id(&version).send().await, 403, "AccessDenied");
    let batch = Delete::builder().objects(ObjectIdentifier::builder().key("k").version_id(&version).build().unwrap()).build().unwrap();
    assert_s3_error(s3.delete_objects().bucket("guarded").delete(batch.clone()).send().await, 403, "AccessDenied");
    let still = s3.get_object().bucket("guarded").key("k").version_id(&version).send().await.unwrap();
    assert_eq!(still.body.collect().await.unwrap().into_bytes().as_ref(), b"keep");
    // Suspending versioning needs it too.
    let suspend = VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build();
    assert_s3_error(s3.put_bucket_versioning().bucket("guarded").versioning_configuration(suspend).send().await, 403, "AccessDenied");

    s3.delete_objects().bucket("guarded").delete(batch).mfa(mfa(&totp::code_at(&secret, now()))).send().await.unwrap();
    assert_s3_error(s3.get_object().bucket("guarded").key("k").version_id(&version).send().await, 404, "NoSuchVersion");
}
