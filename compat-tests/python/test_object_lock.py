"""Object Lock through boto3 and the AWS CLI: lock on a new or an existing versioned bucket,
default retention, per-version retention and legal hold on every way of writing, S3's errors
for misuse, per-key refusals in DeleteObjects, uploads that must carry an integrity header,
the bypass as a permission a bucket policy can withhold, the s3:object-lock-* policy
condition keys, and lifecycle that never removes a protected version."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import urllib3
from botocore.exceptions import ClientError

from harness import aws_runner, create_user, policy, random_bucket_name, start_server, statement, stop_server, wait_until


def code(excinfo) -> tuple[int, str]:
    r = excinfo.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def later(**kw) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(**kw)


@pytest.fixture
def vault(http_server):
    s3 = http_server.client()
    name = random_bucket_name("lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield s3, name
    # Whatever is still protected stays: Object Lock is not undone by tests either. Lift holds
    # and bypass GOVERNANCE so the session's bucket count stays small.
    versions = s3.list_object_versions(Bucket=name)
    for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        try:
            s3.put_object_legal_hold(Bucket=name, Key=v["Key"], VersionId=v["VersionId"], LegalHold={"Status": "OFF"})
        except ClientError:
            pass
        try:
            s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"], BypassGovernanceRetention=True)
        except ClientError:
            pass


def test_lock_configuration_with_the_aws_cli(http_server, vault):
    s3, b = vault
    aws = aws_runner(http_server)
    conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
    aws("s3api", "put-object-lock-configuration", "--bucket", b, "--object-lock-configuration", json.dumps(conf))
    got = json.loads(aws("s3api", "get-object-lock-configuration", "--bucket", b).stdout)["ObjectLockConfiguration"]
    assert got == conf
    out = json.loads(aws("s3api", "put-object", "--bucket", b, "--key", "k", "--body", __file__).stdout)
    head = s3.head_object(Bucket=b, Key="k")
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"] > later(hours=23)
    until = later(days=2).strftime("%Y-%m-%dT%H:%M:%SZ")
    aws("s3api", "put-object-retention", "--bucket", b, "--key", "k", "--version-id", out["VersionId"],
        "--retention", json.dumps({"Mode": "GOVERNANCE", "RetainUntilDate": until}))
    aws("s3api", "put-object-legal-hold", "--bucket", b, "--key", "k", "--version-id", out["VersionId"], "--legal-hold", "Status=ON")
    refused = aws("s3api", "delete-object", "--bucket", b, "--key", "k", "--version-id", out["VersionId"], "--bypass-governance-retention", check=False)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr, "a legal hold holds even with the bypass"
    aws("s3api", "put-object-legal-hold", "--bucket", b, "--key", "k", "--version-id", out["VersionId"], "--legal-hold", "Status=OFF")
    refused = aws("s3api", "delete-object", "--bucket", b, "--key", "k", "--version-id", out["VersionId"], check=False)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    aws("s3api", "delete-object", "--bucket", b, "--key", "k", "--version-id", out["VersionId"], "--bypass-governance-retention")


def test_lock_on_an_existing_bucket_and_misuse(http_server):
    s3 = http_server.client()
    b = random_bucket_name("lock")
    s3.create_bucket(Bucket=b)
    enabled = {"ObjectLockEnabled": "Enabled"}
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration=enabled)
    assert code(e) == (409, "InvalidBucketState")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=b, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later(days=1))
    assert code(e) == (400, "InvalidRequest")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration=enabled)
    for bad in ({"Mode": "GOVERNANCE", "Days": 0}, {"Mode": "COMPLIANCE", "Years": -1}):
        with pytest.raises(ClientError) as e:
            s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={**enabled, "Rule": {"DefaultRetention": bad}})
        assert code(e) == (400, "InvalidRetentionPeriod")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=b, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE")
    assert code(e)[0] == 400, "a mode needs a date"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=b, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later(days=-1))
    assert code(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.put_object_legal_hold(Bucket=b, Key="missing", LegalHold={"Status": "ON"})
    assert code(e) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    assert code(e) == (409, "InvalidBucketState")
    # The bypass header on a bucket without lock changes nothing.
    plain = random_bucket_name("plain")
    s3.create_bucket(Bucket=plain)
    s3.put_object(Bucket=plain, Key="k", Body=b"x")
    s3.delete_object(Bucket=plain, Key="k", BypassGovernanceRetention=True)
    s3.delete_bucket(Bucket=plain)


def test_every_upload_path_sets_a_lock(http_server, vault):
    s3, b = vault
    until = later(days=3)
    s3.put_object(Bucket=b, Key="put", Body=b"x", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "put"}, ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    up = s3.create_multipart_upload(Bucket=b, Key="multi", ObjectLockLegalHoldStatus="ON")
    etag = s3.upload_part(Bucket=b, Key="multi", UploadId=up["UploadId"], PartNumber=1, Body=b"part")["ETag"]
    s3.complete_multipart_upload(Bucket=b, Key="multi", UploadId=up["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    post = s3.generate_presigned_post(b, "posted", Fields={"x-amz-object-lock-mode": "GOVERNANCE",
                                                              "x-amz-object-lock-retain-until-date": until.strftime("%Y-%m-%dT%H:%M:%SZ")},
                                      Conditions=[{"x-amz-object-lock-mode": "GOVERNANCE"},
                                                  ["starts-with", "$x-amz-object-lock-retain-until-date", ""]])
    r = urllib3.PoolManager().request("POST", post["url"], fields={**post["fields"], "file": ("f", b"posted", "text/plain")})
    assert r.status == 204, r.data
    heads = {k: s3.head_object(Bucket=b, Key=k) for k in ("put", "copy", "multi", "posted")}
    assert (heads["put"]["ObjectLockMode"], heads["put"]["ObjectLockRetainUntilDate"]) == ("COMPLIANCE", until)
    assert heads["copy"]["ObjectLockMode"] == "GOVERNANCE", "a copy's lock is its own, not its source's"
    assert heads["multi"]["ObjectLockLegalHoldStatus"] == "ON" and "ObjectLockMode" not in heads["multi"]
    assert heads["posted"]["ObjectLockMode"] == "GOVERNANCE"
    listed = s3.list_objects_v2(Bucket=b)["KeyCount"]
    assert listed == 4, "listings are unaffected"
    attrs = s3.get_object_attributes(Bucket=b, Key="put", ObjectAttributes=["ETag", "ObjectSize"])
    assert attrs["ObjectSize"] == 1

    # DeleteObjects refuses each protected version on its own, and deletes the rest.
    free = s3.put_object(Bucket=b, Key="free", Body=b"y")["VersionId"]
    versions = {v["Key"]: v["VersionId"] for v in s3.list_object_versions(Bucket=b)["Versions"]}
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "put", "VersionId": versions["put"]}, {"Key": "free", "VersionId": free}]})
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("put", "AccessDenied")]
    assert [d["Key"] for d in r["Deleted"]] == ["free"]


def test_lock_parameters_need_an_integrity_header(http_server, vault):
    s3, b = vault
    # A presigned PUT carries neither Content-MD5 nor a checksum.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "k", "ObjectLockMode": "GOVERNANCE",
                                                          "ObjectLockRetainUntilDate": later(days=1)})
    until = later(days=1).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = urllib3.PoolManager().request("PUT", url, body=b"x", headers={"x-amz-object-lock-mode": "GOVERNANCE",
                                                                     "x-amz-object-lock-retain-until-date": until})
    assert r.status == 400 and b"<Code>InvalidRequest</Code>" in r.data and b"Content-MD5" in r.data


def test_bypass_is_a_permission_and_lock_condition_keys_are_enforced(http_server, vault):
    s3, b = vault
    user = create_user(http_server, "writer")
    writer = http_server.client(user)
    s3.put_bucket_policy(Bucket=b, Policy=policy(
        statement("Allow", {"AWS": user.name}, ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
                                                "s3:PutObjectRetention", "s3:GetObjectRetention", "s3:ListBucket", "s3:ListBucketVersions"],
                  [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]),
        statement("Deny", {"AWS": user.name}, "s3:BypassGovernanceRetention", f"arn:aws:s3:::{b}/*"),
        # No retention longer than 10 days, and none in COMPLIANCE mode.
        statement("Deny", {"AWS": user.name}, "s3:PutObjectRetention", f"arn:aws:s3:::{b}/*",
                  {"NumericGreaterThan": {"s3:object-lock-remaining-retention-days": "10"}}),
        statement("Deny", {"AWS": user.name}, ["s3:PutObject", "s3:PutObjectRetention"], f"arn:aws:s3:::{b}/*",
                  {"StringEquals": {"s3:object-lock-mode": "COMPLIANCE"}}),
    ))
    v = writer.put_object(Bucket=b, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later(days=5))["VersionId"]
    with pytest.raises(ClientError) as e:
        writer.put_object(Bucket=b, Key="c", Body=b"x", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=later(days=5))
    assert code(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        writer.put_object_retention(Bucket=b, Key="k", VersionId=v, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(days=30)})
    assert code(e) == (403, "AccessDenied")
    writer.put_object_retention(Bucket=b, Key="k", VersionId=v, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(days=8)})
    with pytest.raises(ClientError) as e:
        writer.delete_object(Bucket=b, Key="k", VersionId=v, BypassGovernanceRetention=True)
    assert code(e) == (403, "AccessDenied"), "the writer may not bypass"
    s3.delete_bucket_policy(Bucket=b)
    s3.delete_object(Bucket=b, Key="k", VersionId=v, BypassGovernanceRetention=True)


def test_lifecycle_never_removes_a_protected_version(tmp_root):
    srv = start_server(tmp_root, "http", ("--lifecycle-day-secs", "1"))
    try:
        s3 = srv.client()
        b = random_bucket_name("lock")
        s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
        kept = s3.put_object(Bucket=b, Key="k", Body=b"old", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=later(seconds=6))["VersionId"]
        free = s3.put_object(Bucket=b, Key="j", Body=b"old")["VersionId"]
        s3.put_object(Bucket=b, Key="k", Body=b"new")
        s3.put_object(Bucket=b, Key="j", Body=b"new")
        s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
            {"ID": "noncurrent", "Status": "Enabled", "Filter": {"Prefix": ""}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})

        def ids(key):
            return {v["VersionId"] for v in s3.list_object_versions(Bucket=b, Prefix=key)["Versions"]}

        wait_until(lambda: free not in ids("j"), timeout=30, what="the unprotected noncurrent version to expire")
        assert kept in ids("k"), "lifecycle skipped the retained version"
        wait_until(lambda: kept not in ids("k"), timeout=40, what="the version to expire once its retention passed")
    finally:
        stop_server(srv)
