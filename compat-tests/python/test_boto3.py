"""boto3 against coffer over HTTP and HTTPS.

Over HTTPS botocore sends PUT bodies as aws-chunked with a checksum trailer
(x-amz-checksum-crc32 by default), so every upload test runs under both schemes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import ssl
import urllib.error
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import empty_and_delete_bucket, random_bucket_name

MIB = 1024 * 1024
# Keep uploads and downloads single-request: multipart is tested elsewhere.
SINGLE_REQUEST = TransferConfig(multipart_threshold=1024 * MIB, multipart_chunksize=1024 * MIB)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def error_of(excinfo) -> tuple[str, int]:
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]


# ----------------------------------------------------------------------------- buckets


def test_create_list_delete_bucket(server):
    s3 = server.client()
    name = random_bucket_name()
    try:
        resp = s3.create_bucket(Bucket=name)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200

        listed = {b["Name"]: b for b in s3.list_buckets()["Buckets"]}
        assert name in listed
        assert listed[name]["CreationDate"] is not None

        head = s3.head_bucket(Bucket=name)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 200

        assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0

        resp = s3.delete_bucket(Bucket=name)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}

        with pytest.raises(ClientError) as e:
            s3.head_bucket(Bucket=name)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    finally:
        empty_and_delete_bucket(s3, name)


# ----------------------------------------------------------------------------- objects


def test_put_get_head_delete_with_metadata(server, bucket):
    s3 = server.client()
    data = os.urandom(123_457)
    key = "folder/object.bin"
    put = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType="application/x-coffer-test",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="x.bin"',
        Metadata={"color": "blue", "Mixed-Case": "Value With Spaces"},
    )
    assert put["ETag"] == f'"{md5_hex(data)}"'

    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["ETag"] == put["ETag"]
    assert got["ContentLength"] == len(data)
    assert got["ContentType"] == "application/x-coffer-test"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="x.bin"'
    assert got["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces"}
    assert got["LastModified"] is not None

    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == put["ETag"]
    assert head["ContentType"] == "application/x-coffer-test"
    assert head["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces"}

    # Overwrite replaces both data and metadata.
    put2 = s3.put_object(Bucket=bucket, Key=key, Body=b"short", Metadata={"v": "2"})
    assert put2["ETag"] == f'"{md5_hex(b"short")}"'
    got2 = s3.get_object(Bucket=bucket, Key=key)
    assert got2["Body"].read() == b"short"
    assert got2["Metadata"] == {"v": "2"}

    resp = s3.delete_object(Bucket=bucket, Key=key)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204

    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key)
    assert error_of(e) == ("NoSuchKey", 404)

    # Deleting a missing key succeeds (S3 semantics).
    resp = s3.delete_object(Bucket=bucket, Key=key)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_empty_object(server, bucket):
    s3 = server.client()
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["ContentLength"] == 0
    assert got["Body"].read() == b""
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


UNUSUAL_KEYS = [
    "with space/and+plus.txt",
    "ümlaut/ключ/鍵.bin",
    "query?chars&x=1#frag",
    "tilde~bang!dollar$paren(1)'quote'",
    "percent%20literal",
    "a//double//slash",
    "trailing/",
    "semi;colon,comma:colon@at",
]


def test_unusual_keys_roundtrip(server, bucket):
    s3 = server.client()
    bodies = {}
    for i, key in enumerate(UNUSUAL_KEYS):
        bodies[key] = f"body {i} for {key}".encode()
        s3.put_object(Bucket=bucket, Key=key, Body=bodies[key])
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(UNUSUAL_KEYS, key=lambda k: k.encode())
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)


def test_upload_download_fileobj_20mib(server, bucket, tmp_path):
    s3 = server.client()
    data = os.urandom(20 * MIB)
    s3.upload_fileobj(io.BytesIO(data), bucket, "big/20mib.bin", Config=SINGLE_REQUEST)

    head = s3.head_object(Bucket=bucket, Key="big/20mib.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{md5_hex(data)}"'  # single PUT, so a plain MD5 ETag

    out = tmp_path / "download.bin"
    with open(out, "wb") as f:
        s3.download_fileobj(bucket, "big/20mib.bin", f, Config=SINGLE_REQUEST)
    assert out.stat().st_size == len(data)
    assert out.read_bytes() == data


def test_ranged_get(server, bucket):
    s3 = server.client()
    data = os.urandom(1000)
    s3.put_object(Bucket=bucket, Key="r", Body=data)

    cases = [
        ("bytes=0-9", 0, 9),
        ("bytes=100-199", 100, 199),
        ("bytes=990-", 990, 999),
        ("bytes=-25", 975, 999),
        ("bytes=500-5000", 500, 999),  # end past the object is clamped
        ("bytes=999-999", 999, 999),
    ]
    for rng, start, end in cases:
        got = s3.get_object(Bucket=bucket, Key="r", Range=rng)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, rng
        assert got["ContentRange"] == f"bytes {start}-{end}/1000", rng
        assert got["ContentLength"] == end - start + 1, rng
        assert got["Body"].read() == data[start : end + 1], rng

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-1010")
    assert error_of(e) == ("InvalidRange", 416)


def test_copy_object(server, bucket):
    s3 = server.client()
    data = os.urandom(50_000)
    src_key = "src/with space+plus.txt"
    put = s3.put_object(
        Bucket=bucket, Key=src_key, Body=data, ContentType="text/plain", Metadata={"a": "1"}
    )

    # Default directive COPY keeps data, content type and metadata.
    resp = s3.copy_object(Bucket=bucket, Key="dst/copy1", CopySource={"Bucket": bucket, "Key": src_key})
    assert resp["CopyObjectResult"]["ETag"] == put["ETag"]
    got = s3.get_object(Bucket=bucket, Key="dst/copy1")
    assert got["Body"].read() == data
    assert got["Metadata"] == {"a": "1"}
    assert got["ContentType"] == "text/plain"

    # REPLACE swaps the metadata and content type but keeps the data.
    s3.copy_object(
        Bucket=bucket,
        Key="dst/copy2",
        CopySource={"Bucket": bucket, "Key": src_key},
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="application/x-replaced",
    )
    got = s3.get_object(Bucket=bucket, Key="dst/copy2")
    assert got["Body"].read() == data
    assert got["Metadata"] == {"b": "2"}
    assert got["ContentType"] == "application/x-replaced"

    # Copy to another bucket.
    other = random_bucket_name()
    s3.create_bucket(Bucket=other)
    try:
        s3.copy_object(Bucket=other, Key="x", CopySource={"Bucket": bucket, "Key": src_key})
        assert s3.get_object(Bucket=other, Key="x")["Body"].read() == data
    finally:
        empty_and_delete_bucket(s3, other)

    # The source is untouched.
    assert s3.get_object(Bucket=bucket, Key=src_key)["Body"].read() == data

    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst/x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_of(e) == ("NoSuchKey", 404)


def test_delete_objects(server, bucket):
    s3 = server.client()
    keys = [f"k{i}" for i in range(6)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())

    resp = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": k} for k in ["k0", "k1", "k2", "does-not-exist"]]},
    )
    assert sorted(d["Key"] for d in resp.get("Deleted", [])) == ["does-not-exist", "k0", "k1", "k2"]
    assert resp.get("Errors", []) == []
    remaining = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert remaining == ["k3", "k4", "k5"]

    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k3"}], "Quiet": True})
    assert quiet.get("Deleted", []) == []
    assert quiet.get("Errors", []) == []
    remaining = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert remaining == ["k4", "k5"]


def test_list_objects_v2_pagination(http_server, http_bucket):
    s3 = http_server.client(max_pool_connections=16)
    bucket = http_bucket
    keys = [f"p/{i % 4}/k{i:05d}" for i in range(1100)]

    def put(k):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, keys))
    expected = sorted(keys)

    # Default page size (1000) -> two pages.
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    assert [p["KeyCount"] for p in pages] == [1000, 100]
    assert pages[0]["IsTruncated"] is True
    assert pages[1]["IsTruncated"] is False
    got = [o["Key"] for p in pages for o in p["Contents"]]
    assert got == expected
    first = pages[0]["Contents"][0]
    assert first["Size"] == len(first["Key"])
    assert first["ETag"] == f'"{md5_hex(first["Key"].encode())}"'

    # Explicit page size.
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 300})
    )
    assert [p["KeyCount"] for p in pages] == [300, 300, 300, 200]
    assert [o["Key"] for p in pages for o in p["Contents"]] == expected

    # Delimiter groups the four "directories".
    resp = s3.list_objects_v2(Bucket=bucket, Prefix="p/", Delimiter="/")
    assert [c["Prefix"] for c in resp["CommonPrefixes"]] == ["p/0/", "p/1/", "p/2/", "p/3/"]
    assert resp.get("Contents", []) == []
    assert resp["KeyCount"] == 4

    # Prefix, paginated with a delimiter.
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="p/2/", Delimiter="/", PaginationConfig={"PageSize": 100}
        )
    )
    got = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert got == [k for k in expected if k.startswith("p/2/")]
    assert len(got) == 275

    # StartAfter.
    resp = s3.list_objects_v2(Bucket=bucket, StartAfter=expected[1049])
    assert [o["Key"] for o in resp["Contents"]] == expected[1050:]

    # ListObjects (v1) with markers.
    pages = list(
        s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 500})
    )
    assert [len(p["Contents"]) for p in pages] == [500, 500, 100]
    assert [o["Key"] for p in pages for o in p["Contents"]] == expected


# ----------------------------------------------------------------------------- errors


def test_error_codes(server, bucket):
    s3 = server.client()
    missing_bucket = random_bucket_name("missing")

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="no/such/key")
    assert error_of(e) == ("NoSuchKey", 404)

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=missing_bucket, Key="k")
    assert error_of(e) == ("NoSuchBucket", 404)

    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=missing_bucket)
    assert error_of(e) == ("NoSuchBucket", 404)

    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=missing_bucket, Key="k", Body=b"x")
    assert error_of(e) == ("NoSuchBucket", 404)

    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=missing_bucket)
    assert error_of(e) == ("NoSuchBucket", 404)

    s3.put_object(Bucket=bucket, Key="keeps-it-busy", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_of(e) == ("BucketNotEmpty", 409)


def test_wrong_credentials_rejected(server, bucket):
    s3 = server.client()
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")

    bad = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key="definitely-not-the-secret",
        region_name="us-east-1",
        verify=str(server.ca_bundle) if server.ca_bundle else True,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as e:
        bad.get_object(Bucket=bucket, Key="k")
    assert error_of(e) == ("SignatureDoesNotMatch", 403)

    unknown = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id="AKIDUNKNOWNUNKNOWN00",
        aws_secret_access_key="whatever",
        region_name="us-east-1",
        verify=str(server.ca_bundle) if server.ca_bundle else True,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as e:
        unknown.list_objects_v2(Bucket=bucket)
    assert error_of(e) == ("InvalidAccessKeyId", 403)


# ----------------------------------------------------------------------------- integrity


def test_content_md5(server, bucket):
    s3 = server.client()
    data = os.urandom(10_000)

    good = s3.put_object(
        Bucket=bucket, Key="md5-ok", Body=data, ContentMD5=b64(hashlib.md5(data).digest())
    )
    assert good["ETag"] == f'"{md5_hex(data)}"'

    with pytest.raises(ClientError) as e:
        s3.put_object(
            Bucket=bucket, Key="md5-bad", Body=data, ContentMD5=b64(hashlib.md5(b"other").digest())
        )
    assert error_of(e) == ("BadDigest", 400)
    # The failed upload left nothing behind.
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="md5-bad")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def _expected_checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "CRC32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "SHA256":
        return b64(hashlib.sha256(data).digest())
    if algorithm == "SHA1":
        return b64(hashlib.sha1(data).digest())
    raise ValueError(algorithm)


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256", "SHA1"])
def test_checksum_put_then_get(server, bucket, algorithm):
    s3 = server.client()
    # Several MiB so an aws-chunked body (HTTPS) spans more than one chunk.
    data = os.urandom(3 * MIB + 12345)
    expected = _expected_checksum(algorithm, data)
    field = f"Checksum{algorithm}"

    put = s3.put_object(Bucket=bucket, Key="ck", Body=data, ChecksumAlgorithm=algorithm)
    assert put.get(field) == expected
    assert put["ETag"] == f'"{md5_hex(data)}"'

    got = s3.get_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert got.get(field) == expected
    assert got["Body"].read() == data  # botocore also validates the checksum while reading

    head = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert head.get(field) == expected


def test_checksum_mismatch_rejected(server, bucket):
    s3 = server.client()
    data = os.urandom(5000)
    wrong = b64((zlib.crc32(data) ^ 0xFFFFFFFF).to_bytes(4, "big"))
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad-crc", Body=data, ChecksumCRC32=wrong)
    assert error_of(e) == ("BadDigest", 400)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad-crc")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# ----------------------------------------------------------------------------- presigned


def _http(req, ctx) -> tuple[int, bytes]:
    """Send a urllib request; return (status, body) for success and HTTP errors alike."""
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_presigned_get_and_put(server, bucket):
    # botocore presigns with SigV2 unless SigV4 is asked for; this is the SigV4 query form.
    s3 = server.client(signature_version="s3v4")
    ctx = ssl.create_default_context(cafile=str(server.ca_bundle)) if server.ca_bundle else None

    data = os.urandom(4096)
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "presigned/obj"}, ExpiresIn=300
    )
    req = urllib.request.Request(
        put_url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    status, body = _http(req, ctx)
    assert status == 200, f"presigned PUT -> {status}: {body[:2000]!r} (url {put_url})"
    assert s3.get_object(Bucket=bucket, Key="presigned/obj")["Body"].read() == data

    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "presigned/obj"}, ExpiresIn=300
    )
    status, body = _http(get_url, ctx)
    assert status == 200, f"presigned GET -> {status}: {body[:2000]!r} (url {get_url})"
    assert body == data

    # Tampering with the signature is rejected.
    bad_url = get_url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    status, body = _http(bad_url, ctx)
    assert status == 403, body[:2000]
    assert b"SignatureDoesNotMatch" in body


def test_presigned_sigv2_get(server, bucket):
    """boto3's default presigned URL (no signature_version set) is SigV2 query auth."""
    s3 = server.client()
    ctx = ssl.create_default_context(cafile=str(server.ca_bundle)) if server.ca_bundle else None
    s3.put_object(Bucket=bucket, Key="v2/obj", Body=b"sigv2 presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2/obj"}, ExpiresIn=300)
    assert "Signature=" in url and "X-Amz-Signature" not in url
    status, body = _http(url, ctx)
    assert status == 200, f"SigV2 presigned GET -> {status}: {body[:2000]!r}"
    assert body == b"sigv2 presigned"
