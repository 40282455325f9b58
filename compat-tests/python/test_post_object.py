"""Browser POST uploads: forms made by boto3's generate_presigned_post (SigV4, and SigV2 with
signature_version='s3'), sent as multipart/form-data the way a browser sends them."""

from __future__ import annotations

import pytest
import urllib3


def post_form(url, fields, filename="photo.jpg", data=b"picture bytes"):
    body = dict(fields)
    body["file"] = (filename, data, "image/jpeg")  # the file comes last, as browsers send it
    return urllib3.PoolManager(retries=False).request("POST", url, fields=body, redirect=False)


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
