"""Several Coffer nodes sharing one PostgreSQL index and one blob directory, behind HAProxy
(issue 15): clients talk to the balancer and each request may land on either node.

Needs COFFER_TEST_POSTGRES (scripts/test.sh starts a throwaway PostgreSQL) and Debian's
haproxy; skipped without them.
"""

from __future__ import annotations

import concurrent.futures
import os
import secrets
import time
import uuid
from pathlib import Path

import botocore.exceptions
import pytest

from cluster import HAPROXY, start_cluster
from harness import aws_runner, new_postgres_database, random_bucket_name

pytestmark = pytest.mark.skipif(not os.environ.get("COFFER_TEST_POSTGRES") or not HAPROXY, reason="needs COFFER_TEST_POSTGRES and haproxy")


@pytest.fixture(scope="module")
def cluster(tmp_root):
    """Two nodes on one database and one blob dir behind a balancer: (balancer, [node, node])."""
    c = start_cluster(Path(tmp_root) / f"cluster-{uuid.uuid4().hex[:8]}", new_postgres_database())
    yield c.balancer, c.nodes
    c.stop()


@pytest.fixture
def cluster_bucket(cluster):
    balancer, _ = cluster
    name = random_bucket_name()
    balancer.client().create_bucket(Bucket=name)
    return name


def test_read_after_write_across_nodes(cluster, cluster_bucket):
    _, (a, b) = cluster
    ca, cb = a.client(), b.client()
    for i in range(40):
        writer, reader = (ca, cb) if i % 2 == 0 else (cb, ca)
        body = secrets.token_bytes(100 + i * 997)
        writer.put_object(Bucket=cluster_bucket, Key=f"k{i}", Body=body)
        assert reader.get_object(Bucket=cluster_bucket, Key=f"k{i}")["Body"].read() == body
        writer.delete_object(Bucket=cluster_bucket, Key=f"k{i}")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            reader.head_object(Bucket=cluster_bucket, Key=f"k{i}")
        assert e.value.response["Error"]["Code"] == "404"


def test_multipart_parts_on_different_nodes(cluster, cluster_bucket):
    balancer, (a, b) = cluster
    part = secrets.token_bytes(5 << 20)
    last = secrets.token_bytes(1234)
    upload = a.client().create_multipart_upload(Bucket=cluster_bucket, Key="big")["UploadId"]
    parts = []
    for n, (node, data) in enumerate([(a, part), (b, part[::-1]), (a, last)], start=1):
        etag = node.client().upload_part(Bucket=cluster_bucket, Key="big", UploadId=upload, PartNumber=n, Body=data)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    listed = a.client().list_parts(Bucket=cluster_bucket, Key="big", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3]
    b.client().complete_multipart_upload(Bucket=cluster_bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts})
    got = balancer.client().get_object(Bucket=cluster_bucket, Key="big")["Body"].read()
    assert got == part + part[::-1] + last


def test_conditional_put_race_has_one_winner(cluster, cluster_bucket):
    _, nodes = cluster
    clients = [n.client() for n in nodes]
    for round_ in range(5):
        key_round = f"once-{round_}"
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            outcomes = list(pool.map(lambda i: put_key(clients, cluster_bucket, key_round, i), range(16)))
        assert outcomes.count(200) == 1, outcomes
        assert set(outcomes) <= {200, 409, 412}, outcomes


def put_key(clients, bucket, key, i):
    try:
        clients[i % len(clients)].put_object(Bucket=bucket, Key=key, Body=f"writer {i}".encode(), IfNoneMatch="*")
        return 200
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]


def test_bucket_settings_reach_the_other_node(cluster, cluster_bucket):
    _, (a, b) = cluster
    b.client().get_bucket_versioning(Bucket=cluster_bucket)
    with pytest.raises(botocore.exceptions.ClientError):
        b.client().get_bucket_tagging(Bucket=cluster_bucket)
    a.client().put_bucket_tagging(Bucket=cluster_bucket, Tagging={"TagSet": [{"Key": "team", "Value": "ops"}]})
    deadline = time.monotonic() + 5
    while True:
        try:
            tags = b.client().get_bucket_tagging(Bucket=cluster_bucket)["TagSet"]
            assert tags == [{"Key": "team", "Value": "ops"}]
            break
        except botocore.exceptions.ClientError:
            assert time.monotonic() < deadline, "node b never saw node a's tags"
            time.sleep(0.2)


def test_awscli_sync_through_the_balancer(cluster, cluster_bucket, tmp_path):
    balancer, _ = cluster
    src = tmp_path / "src"
    src.mkdir()
    for i in range(30):
        (src / f"file{i:02}.bin").write_bytes(secrets.token_bytes(1000 + i * 3000))
    (src / "large.bin").write_bytes(secrets.token_bytes(12 << 20))
    aws = aws_runner(balancer)
    aws("s3", "sync", str(src), f"s3://{cluster_bucket}/backup/", check=True)
    listed = aws("s3", "ls", "--recursive", f"s3://{cluster_bucket}/backup/", check=True).stdout
    assert len(listed.strip().splitlines()) == 31
    dst = tmp_path / "dst"
    aws("s3", "sync", f"s3://{cluster_bucket}/backup/", str(dst), check=True)
    for f in src.iterdir():
        assert (dst / f.name).read_bytes() == f.read_bytes()
    # A second sync finds nothing to do: both nodes list the same objects.
    again = aws("s3", "sync", str(src), f"s3://{cluster_bucket}/backup/", check=True).stdout
    assert again.strip() == ""
