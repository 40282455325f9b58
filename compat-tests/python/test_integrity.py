"""Verified reads with boto3: bytes altered on disk (a blob file, a multipart part, an inline
body in the index) make GET fail, as a 500 or a broken body, and never come back as data."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest
from botocore.exceptions import ClientError


def blob_path(server, data: bytes):
    h = hashlib.sha256(data).hexdigest()
    return server.data_dir / "blobs" / h[0:2] / h[2:4] / h


def flip_byte(path, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x20]))


def get_outcome(s3, bucket: str, key: str, **kw) -> bytes | str:
    """The object's bytes, or how the read failed: 'status 500 ...' or 'body: ...'."""
    try:
        resp = s3.get_object(Bucket=bucket, Key=key, **kw)
    except ClientError as e:
        return f"status {e.response['ResponseMetadata']['HTTPStatusCode']} {e.response['Error']['Code']}"
    try:
        return resp["Body"].read()
    except Exception as e:  # botocore raises IncompleteReadError or ResponseStreamingError
        return f"body: {type(e).__name__}: {e}"


@pytest.mark.local_blobs
@pytest.mark.sqlite_index
def test_altered_bytes_are_never_served(http_server, http_bucket):
    s3 = http_server.client()
    start = http_server.log_size()
    large = os.urandom(3 * 1024 * 1024 + 5)
    medium = os.urandom(100 * 1024)
    small = b"a small object that lives inside the index " + os.urandom(16).hex().encode()
    for key, data in [("large", large), ("medium", medium), ("small", small)]:
        s3.put_object(Bucket=http_bucket, Key=key, Body=data)
    part1, part2 = os.urandom(5 * 1024 * 1024), os.urandom(1024 * 1024)
    upload = s3.create_multipart_upload(Bucket=http_bucket, Key="parts")["UploadId"]
    etags = [
        s3.upload_part(Bucket=http_bucket, Key="parts", UploadId=upload, PartNumber=n, Body=d)["ETag"]
        for n, d in [(1, part1), (2, part2)]
    ]
    s3.complete_multipart_upload(
        Bucket=http_bucket, Key="parts", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]},
    )
    assert get_outcome(s3, http_bucket, "large") == large

    flip_byte(blob_path(http_server, large), 3 * 1024 * 1024)
    flip_byte(blob_path(http_server, medium), 5)
    flip_byte(blob_path(http_server, part2), 12345)
    altered = bytes([small[0] ^ 0x20]) + small[1:]
    db = sqlite3.connect(http_server.data_dir / "index.sqlite", timeout=10)
    with db:
        assert db.execute("UPDATE inline_bodies SET data = ? WHERE data = ?", (altered, small)).rowcount == 1
    db.close()

    outcome = get_outcome(s3, http_bucket, "large")
    assert isinstance(outcome, str) and outcome.startswith("body:"), outcome
    assert get_outcome(s3, http_bucket, "medium") == "status 500 InternalError"
    outcome = get_outcome(s3, http_bucket, "parts")
    assert isinstance(outcome, str) and outcome.startswith("body:"), outcome
    assert get_outcome(s3, http_bucket, "small") == "status 500 InternalError"

    # Untouched ranges still read.
    assert get_outcome(s3, http_bucket, "large", Range="bytes=0-999") == large[:1000]
    assert get_outcome(s3, http_bucket, "parts", Range="bytes=1000-2999") == part1[1000:3000]

    log = http_server.log_since(start, limit=10_000_000)
    for data in (large, medium, part2, small):
        assert hashlib.sha256(data).hexdigest() in log
