"""Browser POST uploads: forms made by boto3's generate_presigned_post (SigV4, and SigV2 with
signature_version='s3'), sent as multipart/form-data the way a browser sends them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from harness import create_user, empty_and_delete_bucket, policy, post_form, random_bucket_name, statement


@pytest.mark.parametrize("signature", ["s3v4", "s3"])
def test_presigned_post_uploads(http_server, http_bucket, signature):
    s3 = http_server.client(signature_version=signature)
    post = s3.generate_presigned_post(
        http_bucket, "uploads/${filename}",
        Fields={"success_action_status": "201", "Content-Type": "image/jpeg"},
        Conditions=[["starts-with", "$key", "uploads/"], {"success_action_status": "201"},
                    {"Content-Type": "image/jpeg"}, ["content-length-range", 1, 1024]],
        ExpiresIn=300,
    )
    r = post_form(post["url"], post["fields"])
    assert r.status == 201, r.data
    assert b"<Key>uploads/photo.jpg</Key>" in r.data
    got = http_server.client().get_object(Bucket=http_bucket, Key="uploads/photo.jpg")
    assert got["Body"].read() == b"picture bytes" and got["ContentType"] == "image/jpeg"

    # A field the policy does not allow, a body over the size range, a forged signature.
    bad = dict(post["fields"], key="elsewhere/x.jpg")
    assert post_form(post["url"], bad).status == 403
    assert post_form(post["url"], post["fields"], data=b"x" * 2000).status == 400
    forged = dict(post["fields"])
    sig_field = "x-amz-signature" if "x-amz-signature" in forged else "signature"
    forged[sig_field] = forged[sig_field][:-4] + ("0000" if signature == "s3v4" else "AAA=")
    assert post_form(post["url"], forged).status == 403


def test_post_redirect_and_expiry(http_server, http_bucket):
    s3 = http_server.client(signature_version="s3v4")
    post = s3.generate_presigned_post(http_bucket, "r.txt", Fields={"success_action_redirect": "http://app.test/done"},
                                      Conditions=[{"success_action_redirect": "http://app.test/done"}], ExpiresIn=300)
    r = post_form(post["url"], post["fields"])
    assert r.status == 303 and r.headers["Location"].startswith("http://app.test/done?bucket=")
    expired = s3.generate_presigned_post(http_bucket, "late.txt", ExpiresIn=-10)
    r = post_form(expired["url"], expired["fields"])
    assert r.status == 403 and b"expired" in r.data
    # No key field at all.
    fields = {k: v for k, v in post["fields"].items() if k != "key"}
    assert post_form(post["url"], fields).status == 400


def test_a_post_into_a_versioned_bucket_names_its_version(http_server, http_bucket):
    s3 = http_server.client()
    s3.put_bucket_versioning(Bucket=http_bucket, VersioningConfiguration={"Status": "Enabled"})
    post = s3.generate_presigned_post(http_bucket, "posted", ExpiresIn=300)
    r = post_form(post["url"], post["fields"])
    assert r.status == 204
    assert r.headers["x-amz-version-id"] == s3.head_object(Bucket=http_bucket, Key="posted")["VersionId"]


def test_a_bucket_policy_decides_a_post_on_its_key_and_its_lock_fields(http_server):
    """A form upload is a PutObject on the form's key, as a PUT is: a Deny on a prefix, or on
    the Object Lock a request asks for, holds for forms too."""
    s3 = http_server.client()
    bucket = random_bucket_name("post")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    user = create_user(http_server, "poster")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        statement("Allow", {"AWS": user.name}, "s3:PutObject", f"arn:aws:s3:::{bucket}/*"),
        statement("Deny", {"AWS": user.name}, "s3:PutObject", f"arn:aws:s3:::{bucket}/private/*"),
        statement("Deny", {"AWS": user.name}, "s3:PutObject", f"arn:aws:s3:::{bucket}/*",
                  {"Null": {"s3:object-lock-mode": "false"}}),
    ))
    poster = http_server.client(user)

    def post(key, **fields):
        form = poster.generate_presigned_post(bucket, key, Fields=fields, Conditions=[{k: v} for k, v in fields.items()], ExpiresIn=300)
        return post_form(form["url"], form["fields"]).status

    try:
        assert post("public/a.jpg") == 204
        assert post("private/a.jpg") == 403
        until = (datetime.now(timezone.utc) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert post("public/locked.jpg", **{"x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": until}) == 403
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["public/a.jpg"]
    finally:
        empty_and_delete_bucket(s3, bucket)
