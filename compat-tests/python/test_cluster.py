"""Several Coffer nodes sharing one PostgreSQL index and one blob directory, behind HAProxy
(issue 15): clients talk to the balancer and each request may land on either node.

Needs COFFER_TEST_POSTGRES (scripts/test.sh starts a throwaway PostgreSQL) and Debian's
haproxy; skipped without them.
"""

from __future__ import annotations

import base64
import concurrent.futures
import os
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import botocore.exceptions
import pytest

from harness import (
    CofferServer,
    aws_runner,
    free_port,
    new_postgres_database,
    random_bucket_name,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.skipif(
    not os.environ.get("COFFER_TEST_POSTGRES") or not shutil.which("haproxy", path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", "")),
    reason="needs COFFER_TEST_POSTGRES and haproxy",
)

# The core tests run on two nodes and again on three (`@on_two_and_three`); the rest on two.
on_two_and_three = pytest.mark.parametrize("cluster", [2, 3], indirect=True, ids=["2-nodes", "3-nodes"])


def haproxy_config(port: int, nodes: list[CofferServer]) -> str:
    servers = "\n".join(f"    server node{i} {n.host_port}" for i, n in enumerate(nodes))
    return f"""
global
    maxconn 512
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    option http-server-close
frontend s3
    bind 127.0.0.1:{port}
    default_backend coffer
backend coffer
    balance roundrobin
{servers}
"""


@pytest.fixture(scope="module")
def cluster(tmp_root, request):
    """Nodes (two unless parametrized with a count; own data dirs, one database, one shared
    blob dir, one master key) and a balancer in front of them: (balancer as a CofferServer,
    [node, ...])."""
    count = getattr(request, "param", 2)
    base = Path(tmp_root) / f"cluster-{uuid.uuid4().hex[:8]}"
    shared_blobs = base / "blobs"
    shared_blobs.mkdir(parents=True)
    env = {
        "COFFER_METADATA": new_postgres_database(),
        "COFFER_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    nodes = [start_server(base, "http", ("--blobs", str(shared_blobs)), env_extra=env) for _ in range(count)]
    port = free_port()
    cfg = base / "haproxy.cfg"
    cfg.write_text(haproxy_config(port, nodes))
    log = open(base / "haproxy.log", "wb")
    proc = subprocess.Popen([shutil.which("haproxy", path="/usr/sbin:/usr/bin") or "haproxy", "-f", str(cfg), "-db"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    balancer = CofferServer("http", port, nodes[0].data_dir, base / "haproxy.log", proc, None)
    deadline = time.monotonic() + 20
    while True:
        try:
            balancer.client().list_buckets()
            break
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield balancer, nodes
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
    for n in nodes:
        stop_server(n)


@pytest.fixture
def cluster_bucket(cluster):
    balancer, _ = cluster
    name = random_bucket_name()
    balancer.client().create_bucket(Bucket=name)
    return name


@on_two_and_three
def test_read_after_write_across_nodes(cluster, cluster_bucket):
    _, nodes = cluster
    clients = [n.client() for n in nodes]
    for i in range(40):
        # Every node writes, and what it wrote is read on the next one.
        writer, reader = clients[i % len(clients)], clients[(i + 1) % len(clients)]
        body = secrets.token_bytes(100 + i * 997)
        writer.put_object(Bucket=cluster_bucket, Key=f"k{i}", Body=body)
        assert reader.get_object(Bucket=cluster_bucket, Key=f"k{i}")["Body"].read() == body
        writer.delete_object(Bucket=cluster_bucket, Key=f"k{i}")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            reader.head_object(Bucket=cluster_bucket, Key=f"k{i}")
        assert e.value.response["Error"]["Code"] == "404"


@on_two_and_three
def test_multipart_parts_on_different_nodes(cluster, cluster_bucket):
    balancer, nodes = cluster
    # At least three parts, one node after another, so every node uploads one; the last part
    # is the small one.
    count = max(3, len(nodes))
    datas = [secrets.token_bytes(5 << 20) for _ in range(count - 1)] + [secrets.token_bytes(1234)]
    upload = nodes[0].client().create_multipart_upload(Bucket=cluster_bucket, Key="big")["UploadId"]
    parts = []
    for n, data in enumerate(datas, start=1):
        node = nodes[(n - 1) % len(nodes)]
        etag = node.client().upload_part(Bucket=cluster_bucket, Key="big", UploadId=upload, PartNumber=n, Body=data)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    listed = nodes[0].client().list_parts(Bucket=cluster_bucket, Key="big", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in listed] == list(range(1, count + 1))
    nodes[-1].client().complete_multipart_upload(Bucket=cluster_bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts})
    got = balancer.client().get_object(Bucket=cluster_bucket, Key="big")["Body"].read()
    assert got == b"".join(datas)


@on_two_and_three
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
