"""Per-bucket quotas (`coffer admin bucket quota`): PutObject, CompleteMultipartUpload,
CopyObject and POST uploads that would pass the bytes or objects limit fail with 403
QuotaExceeded and store nothing; a PUT that cannot fit is refused before its body is sent;
concurrent writes cannot pass a limit; show and clear."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from harness import coffer_admin, post_form

MIB = 1024 * 1024


def set_quota(server, bucket, *args):
    return json.loads(coffer_admin(server, "bucket", "quota", bucket, *args, "--json").stdout)


def refused(call):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response
    assert err["Error"]["Code"] == "QuotaExceeded", err["Error"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    return err["Error"]["Message"]


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_put_past_the_byte_quota_is_refused_and_nothing_is_stored(http_server, http_bucket):
    s3 = http_server.client()
    shown = set_quota(http_server, http_bucket, "--max-bytes", "1000")
    assert shown["quota"] == {"max_bytes": 1000, "max_objects": None}
    s3.put_object(Bucket=http_bucket, Key="a", Body=b"x" * 600)
    message = refused(lambda: s3.put_object(Bucket=http_bucket, Key="b", Body=b"y" * 600))
    assert "1000 bytes" in message
    assert keys(s3, http_bucket) == ["a"]
    # A large body (a blob file, not inline) is refused the same way and leaves nothing.
    refused(lambda: s3.put_object(Bucket=http_bucket, Key="big", Body=b"z" * (2 * MIB)))
    assert keys(s3, http_bucket) == ["a"]
    s3.put_object(Bucket=http_bucket, Key="a", Body=b"x" * 1000)  # an overwrite that fits
    assert s3.head_object(Bucket=http_bucket, Key="a")["ContentLength"] == 1000

    assert "max bytes 1000 B" in coffer_admin(http_server, "bucket", "quota", http_bucket).stdout
    assert set_quota(http_server, http_bucket, "--clear")["quota"] == {"max_bytes": None, "max_objects": None}
    s3.put_object(Bucket=http_bucket, Key="b", Body=b"y" * 600)


def test_object_quota_and_overwrites(http_server, http_bucket):
    s3 = http_server.client()
    set_quota(http_server, http_bucket, "--max-objects", "2")
    s3.put_object(Bucket=http_bucket, Key="1", Body=b"one")
    s3.put_object(Bucket=http_bucket, Key="2", Body=b"two")
    assert "2 objects" in refused(lambda: s3.put_object(Bucket=http_bucket, Key="3", Body=b"three"))
    s3.put_object(Bucket=http_bucket, Key="2", Body=b"two, again")  # no new object
    s3.delete_object(Bucket=http_bucket, Key="1")
    s3.put_object(Bucket=http_bucket, Key="3", Body=b"three")
    assert keys(s3, http_bucket) == ["2", "3"]
    listed = {b["name"]: b for b in json.loads(coffer_admin(http_server, "bucket", "list", "--json").stdout)}
    assert listed[http_bucket]["quota"]["max_objects"] == 2 and listed[http_bucket]["objects"] == 2


def test_multipart_complete_past_the_quota_is_refused(http_server, http_bucket):
    s3 = http_server.client()
    set_quota(http_server, http_bucket, "--max-bytes", "8MiB")
    upload = s3.create_multipart_upload(Bucket=http_bucket, Key="mp")["UploadId"]
    parts = []
    for n in (1, 2):
        etag = s3.upload_part(Bucket=http_bucket, Key="mp", UploadId=upload, PartNumber=n, Body=bytes([n]) * (5 * MIB))["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    refused(lambda: s3.complete_multipart_upload(Bucket=http_bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts}))
    assert keys(s3, http_bucket) == []
    # The upload stays, so the client may raise the quota and complete it, or abort it.
    set_quota(http_server, http_bucket, "--max-bytes", "10MiB")
    s3.complete_multipart_upload(Bucket=http_bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    assert s3.head_object(Bucket=http_bucket, Key="mp")["ContentLength"] == 10 * MIB


def test_copy_past_the_quota_is_refused(http_server, http_bucket, second_http_bucket):
    s3 = http_server.client()
    s3.put_object(Bucket=http_bucket, Key="src", Body=b"s" * 3000)
    set_quota(http_server, http_bucket, "--max-bytes", "5000")
    refused(lambda: s3.copy_object(Bucket=http_bucket, Key="copy", CopySource={"Bucket": http_bucket, "Key": "src"}))
    assert keys(s3, http_bucket) == ["src"]
    # Copies count their logical bytes even though they share the source's blob.
    set_quota(http_server, second_http_bucket, "--max-bytes", "2999")
    refused(lambda: s3.copy_object(Bucket=second_http_bucket, Key="c", CopySource={"Bucket": http_bucket, "Key": "src"}))
    assert keys(s3, second_http_bucket) == []


def test_post_upload_past_the_quota_is_refused(http_server, http_bucket):
    s3 = http_server.client()
    set_quota(http_server, http_bucket, "--max-bytes", "100")
    post = s3.generate_presigned_post(http_bucket, "form-${filename}")
    resp = post_form(post["url"], post["fields"], data=b"p" * 200)
    assert resp.status == 403 and b"<Code>QuotaExceeded</Code>" in resp.data
    assert keys(s3, http_bucket) == []
    assert post_form(post["url"], post["fields"], data=b"p" * 50).status == 204


def test_concurrent_writes_cannot_pass_the_quota(http_server, http_bucket):
    """The quota is checked inside the index commit, so racing writers cannot overshoot it."""
    s3 = http_server.client(max_pool_connections=32)
    set_quota(http_server, http_bucket, "--max-objects", "10", "--max-bytes", "100KiB")

    def put(i):
        try:
            s3.put_object(Bucket=http_bucket, Key=f"k{i:03}", Body=b"c" * 4096)
            return "OK"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(put, range(64)))
    assert results.count("OK") == 10 and results.count("QuotaExceeded") == 54, results
    assert len(keys(s3, http_bucket)) == 10


def test_a_put_that_cannot_fit_is_refused_before_its_body(http_server, http_bucket):
    s3 = http_server.client()
    set_quota(http_server, http_bucket, "--max-bytes", "10MiB")
    url = urllib.parse.urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": http_bucket, "Key": "huge"}, ExpiresIn=300))
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=10)
    conn.putrequest("PUT", f"{url.path}?{url.query}", skip_accept_encoding=True)
    conn.putheader("Content-Length", str(1024 * MIB))
    conn.endheaders()
    conn.send(b"h" * 65536)  # a sliver of the declared gigabyte
    response = conn.getresponse()
    assert response.status == 403 and b"<Code>QuotaExceeded</Code>" in response.read()
    conn.close()
    assert keys(s3, http_bucket) == []
