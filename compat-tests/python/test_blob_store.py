"""Blobs kept outside the data dir with `--blobs`: in a bucket of another S3 service (moto
here, or the service COFFER_TEST_BLOBS_ENDPOINT names, e.g. Garage; Ceph RGW or a cloud bucket
in production) and in a shared directory. The index stays in the data dir and records where the
blobs are."""

import dataclasses
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import (
    BLOB_REMOTE,
    blob_hashes,
    coffer_admin,
    coffer_binary,
    external_s3_service,
    hash_of,
    random_bucket_name,
    start_server,
    stop_server,
    use_s3_blobs,
    wait_until,
    with_metadata,
)

MiB = 1024 * 1024
PREFIX = "node-a/"


class RemoteSetup:
    """A server whose blobs live in a bucket of an S3 service under a prefix ending in PREFIX,
    restartable on its data dir."""

    def __init__(self, tmp_root, srv, moto_client, blob_bucket, prefix):
        self.tmp_root, self.srv, self.moto, self.bucket, self.prefix = tmp_root, srv, moto_client, blob_bucket, prefix

    def restart(self, *args):
        stop_server(self.srv)
        self.srv = start_server(self.tmp_root, "http", args, data_dir=self.srv.data_dir, port=self.srv.port)

    def put_one(self, key: str):
        """A new bucket with one 1 MiB object `key` in it: (client, bucket, the object's bytes)."""
        s3 = self.srv.client()
        bucket = random_bucket_name()
        s3.create_bucket(Bucket=bucket)
        data = os.urandom(MiB)
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        return s3, bucket, data

    def keys(self) -> list[str]:
        """The blob objects' keys in the remote bucket under the prefix."""
        pages = self.moto.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def blobs(self) -> set[str]:
        """The hashes (hex SHA-256) of the blobs in the remote bucket under the prefix."""
        return {hash_of(k[len(self.prefix):]) for k in self.keys()}

    def key_of(self, digest: str) -> str:
        """The key blob `digest` is stored under."""
        [key] = [k for k in self.keys() if hash_of(k[len(self.prefix):]) == digest]
        return key


@pytest.fixture(scope="module")
def remote(tmp_root, request):
    service = external_s3_service() or request.getfixturevalue("moto_service")
    data_dir = Path(tempfile.mkdtemp(prefix="blobs-s3-", dir=tmp_root)) / "data"
    data_dir.mkdir()
    args = use_s3_blobs(data_dir, service, PREFIX)
    _, _, _, blob_bucket, prefix = args[1].split("/", 4)
    setup = RemoteSetup(tmp_root, start_server(tmp_root, "http", args, data_dir=data_dir), service.client(), blob_bucket, prefix)
    yield setup
    stop_server(setup.srv)




def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_objects_are_stored_in_the_remote_bucket_and_read_back(remote):
    srv, moto_client, blob_bucket = remote.srv, remote.moto, remote.bucket
    s3 = srv.client()
    bucket = random_bucket_name()
    s3.create_bucket(Bucket=bucket)
    big = os.urandom(3 * MiB + 17)
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    s3.put_object(Bucket=bucket, Key="small", Body=b"inline in the index")
    assert sha(big) in remote.blobs()
    assert blob_hashes(srv.data_dir) == set(), "nothing is kept in the data dir's blobs/"

    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
    assert s3.get_object(Bucket=bucket, Key="big", Range="bytes=1000000-1000099")["Body"].read() == big[1000000:1000100]
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"inline in the index"

    # Multipart: each part is a blob there; completing copies nothing.
    parts_data = [os.urandom(5 * MiB), os.urandom(2 * MiB)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
    parts = []
    for n, data in enumerate(parts_data, start=1):
        etag = s3.upload_part(Bucket=bucket, Key="multi", UploadId=upload, PartNumber=n, Body=data)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=upload, MultipartUpload={"Parts": parts})
    assert {sha(d) for d in parts_data} <= remote.blobs()
    assert s3.get_object(Bucket=bucket, Key="multi")["Body"].read() == b"".join(parts_data)

    # A copy shares the blob; encrypted bytes are what the remote gets.
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "big"})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == big
    secret = os.urandom(MiB)
    s3.put_object(Bucket=bucket, Key="sealed", Body=secret, ServerSideEncryption="AES256")
    assert s3.get_object(Bucket=bucket, Key="sealed")["Body"].read() == secret
    assert sha(secret) not in remote.blobs(), "the remote never sees plaintext"

    report = json.loads(coffer_admin(srv, "check", "--json", "--grace", "0").stdout)
    assert report["damaged"] == [] and report["orphans"] == [], report
    assert report["blob_files"] == len(remote.blobs())


def test_deleted_objects_free_their_remote_blobs(remote):
    srv, moto_client, blob_bucket = remote.srv, remote.moto, remote.bucket
    s3, bucket, data = remote.put_one("doomed")
    assert sha(data) in remote.blobs()
    s3.delete_object(Bucket=bucket, Key="doomed")
    # A blob published without a commit (a crash between the two) is an orphan there.
    orphan = os.urandom(1000)
    moto_client.put_object(Bucket=blob_bucket, Key=remote.prefix + sha(orphan), Body=orphan)
    # The collector and the orphan sweep run at start.
    remote.restart()
    wait_until(lambda: not {sha(data), sha(orphan)} & remote.blobs(),
               timeout=40, what="the collector to delete the remote blobs")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_missing_remote_blob_is_reported_by_check(remote):
    srv, moto_client, blob_bucket = remote.srv, remote.moto, remote.bucket
    s3, bucket, data = remote.put_one("lost")
    key = remote.key_of(sha(data))
    kept = moto_client.get_object(Bucket=blob_bucket, Key=key)["Body"].read()
    moto_client.delete_object(Bucket=blob_bucket, Key=key)
    result = coffer_admin(srv, "check", "--json", check=False)
    assert result.returncode != 0
    damaged = json.loads(result.stdout)["damaged"]
    assert [(d["hash"], d["damage"]) for d in damaged] == [(sha(data), "missing")]
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="lost")["Body"].read()
    # Put back, the object reads again.
    moto_client.put_object(Bucket=blob_bucket, Key=key, Body=kept)
    assert s3.get_object(Bucket=bucket, Key="lost")["Body"].read() == data


def test_the_data_dir_remembers_where_its_blobs_are(remote):
    srv, moto_client, blob_bucket = remote.srv, remote.moto, remote.bucket
    s3, bucket, data = remote.put_one("k")
    # Without --blobs, the recorded place is used.
    remote.restart()
    assert remote.srv.client().get_object(Bucket=bucket, Key="k")["Body"].read() == data
    # Another place is refused at start, naming the right one.
    stop_server(remote.srv)
    serve = [str(coffer_binary()), "serve", "--data-dir", str(srv.data_dir), "--address", "127.0.0.1:0", "--blobs", "datadir"]
    refused = subprocess.run(serve, capture_output=True, text=True, timeout=60, env=with_metadata(serve, None))
    assert refused.returncode != 0
    assert f"s3://{BLOB_REMOTE}/{blob_bucket}/{remote.prefix}" in refused.stderr, refused.stderr
    remote.restart()
    srv = remote.srv
    # The remote the blobs are on cannot be unregistered.
    removed = coffer_admin(srv, "remote", "remove", BLOB_REMOTE, check=False)
    assert removed.returncode != 0 and "blobs" in removed.stderr, removed.stderr
    assert srv.client().get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_a_remote_registered_with_another_region_is_refused_at_start_in_words(tmp_root):
    service = external_s3_service()
    if service is None or service.region == "us-east-1":
        pytest.skip("needs an S3 service that checks a region other than us-east-1 (COFFER_TEST_BLOBS_ENDPOINT, e.g. Garage)")
    data_dir = Path(tempfile.mkdtemp(prefix="blobs-region-", dir=tmp_root)) / "data"
    data_dir.mkdir()
    args = use_s3_blobs(data_dir, dataclasses.replace(service, region="us-east-1"))
    serve = [str(coffer_binary()), "serve", "--data-dir", str(data_dir), "--address", "127.0.0.1:0", *args]
    refused = subprocess.run(serve, capture_output=True, text=True, timeout=60, env=with_metadata(serve, None))
    assert refused.returncode != 0
    # The service's own words (a HEAD answer has none), and what to change.
    assert "AuthorizationHeaderMalformed" in refused.stderr and "region is us-east-1" in refused.stderr, refused.stderr


def test_blobs_in_a_shared_directory(tmp_root):
    shared = Path(tempfile.mkdtemp(prefix="shared-blobs-", dir=tmp_root))
    srv = start_server(tmp_root, "http", ("--blobs", str(shared)))
    try:
        s3 = srv.client()
        bucket = random_bucket_name()
        s3.create_bucket(Bucket=bucket)
        data = os.urandom(2 * MiB)
        s3.put_object(Bucket=bucket, Key="k", Body=data)
        assert blob_hashes(shared) == {sha(data)}
        assert blob_hashes(srv.data_dir) == set()
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data
        report = json.loads(coffer_admin(srv, "check", "--json").stdout)
        assert report["damaged"] == [] and report["blob_files"] == 1, report
    finally:
        stop_server(srv)
