"""Several Coffer nodes sharing one PostgreSQL index and one blob directory, behind HAProxy
(issue 15): clients talk to the balancer and each request may land on either node.

Needs COFFER_TEST_POSTGRES (scripts/test.sh starts a throwaway PostgreSQL) and Debian's
haproxy; skipped without them.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import subprocess
import secrets
import time
import uuid
from pathlib import Path

import botocore.exceptions
import pytest

from cluster import HAPROXY, new_master_key, start_cluster
from harness import CofferServer, KmsKey, User, aws_runner, coffer_binary, new_postgres_database, random_bucket_name, start_server

pytestmark = pytest.mark.skipif(not os.environ.get("COFFER_TEST_POSTGRES") or not HAPROXY, reason="needs COFFER_TEST_POSTGRES and haproxy")

NODES = 2


@pytest.fixture(scope="module")
def cluster_env():
    """What every node of the cluster is given: one database and one master key."""
    return {"COFFER_METADATA": new_postgres_database(), "COFFER_MASTER_KEY": new_master_key()}


def clustered(tmp_root, env, count):
    """`count` nodes (own data dirs, one database, one shared blob dir, one master key: `env`)
    and a balancer in front of them: yields (balancer as a CofferServer, [node, ...])."""
    c = start_cluster(Path(tmp_root) / f"cluster-{uuid.uuid4().hex[:8]}", env, ("--access-log-interval", "1s"), nodes=count)
    yield c.balancer, c.nodes
    c.stop()


@pytest.fixture(scope="module")
def cluster(tmp_root, cluster_env):
    """NODES nodes on `cluster_env` behind a balancer: (balancer, [node, node])."""
    yield from clustered(tmp_root, cluster_env, NODES)


@pytest.fixture(scope="module")
def cluster_of_three(tmp_root):
    """Three nodes behind a balancer, a site of their own (database, blob dir, master key)."""
    env = {"COFFER_METADATA": new_postgres_database(), "COFFER_MASTER_KEY": new_master_key()}
    yield from clustered(tmp_root, env, 3)


@pytest.fixture(params=["cluster", "cluster_of_three"], ids=["2-nodes", "3-nodes"])
def some_cluster(request):
    """The core tests' cluster: the two-node one, then the three-node one."""
    return request.getfixturevalue(request.param)


def new_bucket(cluster) -> str:
    balancer, _ = cluster
    name = random_bucket_name()
    balancer.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def cluster_bucket(cluster):
    return new_bucket(cluster)


@pytest.fixture
def some_bucket(some_cluster):
    return new_bucket(some_cluster)


def test_read_after_write_across_nodes(some_cluster, some_bucket):
    _, nodes = some_cluster
    clients = [n.client() for n in nodes]
    for i in range(40):
        # Every node writes, and what it wrote is read on the next one.
        writer, reader = clients[i % len(clients)], clients[(i + 1) % len(clients)]
        body = secrets.token_bytes(100 + i * 997)
        writer.put_object(Bucket=some_bucket, Key=f"k{i}", Body=body)
        assert reader.get_object(Bucket=some_bucket, Key=f"k{i}")["Body"].read() == body
        writer.delete_object(Bucket=some_bucket, Key=f"k{i}")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            reader.head_object(Bucket=some_bucket, Key=f"k{i}")
        assert e.value.response["Error"]["Code"] == "404"


def test_multipart_parts_on_different_nodes(some_cluster, some_bucket):
    balancer, nodes = some_cluster
    # At least three parts, one node after another, so every node uploads one; the last part
    # is the small one.
    count = max(3, len(nodes))
    datas = [secrets.token_bytes(5 << 20) for _ in range(count - 1)] + [secrets.token_bytes(1234)]
    upload = nodes[0].client().create_multipart_upload(Bucket=some_bucket, Key="big")["UploadId"]
    parts = []
    for n, data in enumerate(datas, start=1):
        node = nodes[(n - 1) % len(nodes)]
        etag = node.client().upload_part(Bucket=some_bucket, Key="big", UploadId=upload, PartNumber=n, Body=data)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    listed = nodes[0].client().list_parts(Bucket=some_bucket, Key="big", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in listed] == list(range(1, count + 1))
    nodes[-1].client().complete_multipart_upload(Bucket=some_bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts})
    got = balancer.client().get_object(Bucket=some_bucket, Key="big")["Body"].read()
    assert got == b"".join(datas)


def test_conditional_put_race_has_one_winner(some_cluster, some_bucket):
    _, nodes = some_cluster
    clients = [n.client() for n in nodes]
    for round_ in range(5):
        key_round = f"once-{round_}"
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            outcomes = list(pool.map(lambda i: put_key(clients, some_bucket, key_round, i), range(16)))
        assert outcomes.count(200) == 1, outcomes
        assert set(outcomes) <= {200, 409, 412}, outcomes


def put_key(clients, bucket, key, i):
    try:
        clients[i % len(clients)].put_object(Bucket=bucket, Key=key, Body=f"writer {i}".encode(), IfNoneMatch="*")
        return 200
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]


def test_an_upload_refused_before_its_body_is_read_gets_its_answer(cluster, cluster_bucket):
    # A node answers an anonymous PUT to a private bucket before reading its body, and closes
    # the connection. Closing with the body unread used to reset the connection, and HAProxy,
    # still sending the body, then lost the answer and closed on the client without one.
    balancer, _ = cluster
    body = b"x" * (2 << 20)
    for i in range(30):
        conn = http.client.HTTPConnection("127.0.0.1", balancer.port, timeout=30)
        try:
            try:
                conn.request("PUT", f"/{cluster_bucket}/refused-{i}", body=body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the answer may come before the whole body has gone out
            assert conn.getresponse().status == 403, f"attempt {i}"
        finally:
            conn.close()


def test_bucket_settings_reach_the_other_node_at_its_next_request(cluster, cluster_env, cluster_bucket):
    _, (a, b) = cluster
    ca, cb = a.client(), b.client()
    cb.get_bucket_versioning(Bucket=cluster_bucket)
    with pytest.raises(botocore.exceptions.ClientError):
        cb.get_bucket_tagging(Bucket=cluster_bucket)  # node b has cached that there are none
    for round_ in range(5):
        tags = [{"Key": "round", "Value": str(round_)}]
        ca.put_bucket_tagging(Bucket=cluster_bucket, Tagging={"TagSet": tags})
        assert cb.get_bucket_tagging(Bucket=cluster_bucket)["TagSet"] == tags, round_
    # A policy, which node b keeps parsed: a deny set through a is enforced by b at once, and
    # so is its removal.
    cb.put_object(Bucket=cluster_bucket, Key="k", Body=b"x")
    user = User(f"reader{uuid.uuid4().hex[:8]}", "AK" + uuid.uuid4().hex[:16].upper(), uuid.uuid4().hex)
    admin(a, cluster_env, "user", "create", user.name, "--access-key", user.access_key, "--secret-key", user.secret_key)
    reader = b.client(user)
    allow = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{cluster_bucket}/*"}
    ca.put_bucket_policy(Bucket=cluster_bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [allow]}))
    assert reader.get_object(Bucket=cluster_bucket, Key="k")["Body"].read() == b"x"
    ca.delete_bucket_policy(Bucket=cluster_bucket)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        reader.get_object(Bucket=cluster_bucket, Key="k")
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_bucket_logging_turned_on_at_one_node_logs_requests_at_the_other(cluster, cluster_bucket):
    from test_bucket_logging import logging_on, wait_for_records

    _, (a, b) = cluster
    target = random_bucket_name("logs")
    a.client().create_bucket(Bucket=target)
    b.client().list_objects_v2(Bucket=cluster_bucket)  # node b has read which buckets log
    logging_on(a.client(), cluster_bucket, target, "from-b/")
    time.sleep(1.5)  # other nodes trust what they read for a second, as with every bucket setting
    logged = b.client().put_object(Bucket=cluster_bucket, Key="logged", Body=b"x")["ResponseMetadata"]["RequestId"]
    wait_for_records(a.client(), target, "from-b/", [logged])


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


def admin(node: CofferServer, env: dict, *args: str) -> str:
    """`coffer admin ARGS` on `node`'s configuration (the cluster's database and key)."""
    proc = subprocess.run([str(coffer_binary()), "admin", *args, "--data-dir", str(node.data_dir)],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def kms_admin(node: CofferServer, env: dict, *args: str) -> str:
    """`coffer admin kms ARGS` on `node`'s configuration."""
    return admin(node, env, "kms", *args)


def kms_put(client, bucket: str, key: str, body: bytes, kms_key: str | None = None) -> str:
    """An SSE-KMS PUT (with the KMS's default key when `kms_key` is None): the key id it used."""
    extra = {"SSEKMSKeyId": kms_key} if kms_key else {}
    client.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms", **extra)
    return client.head_object(Bucket=bucket, Key=key)["SSEKMSKeyId"]


def test_kms_keys_are_the_site_s(cluster, cluster_env, cluster_bucket):
    """The keyring lives in the shared index: a key made on one node serves on the other at
    once, and a change to it reaches every node within a few seconds."""
    _, (a, b) = cluster
    ca, cb = a.client(), b.client()
    # Both nodes make (or find) the default key on first use: one key for the site.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        defaults = list(pool.map(lambda c: kms_put(c[1], cluster_bucket, f"default-{c[0]}", b"x"), enumerate([ca, cb])))
    assert defaults[0] == defaults[1], defaults
    out = kms_admin(a, cluster_env, "create", f"shared-{uuid.uuid4().hex[:8]}")
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    key = KmsKey(fields["name"].strip(), fields["id"].strip(), fields["arn"].strip())
    body = secrets.token_bytes(70_000)
    # Node b has the keyring cached from the PUT above, without this key: it looks again.
    assert kms_put(cb, cluster_bucket, "sealed", body, key.name) == key.arn
    assert ca.get_object(Bucket=cluster_bucket, Key="sealed")["Body"].read() == body
    for node in (a, b):
        assert not (node.data_dir / "kms" / "keyring.json").exists()
        assert not (node.data_dir / "master.key.fingerprint").exists()
    kms_admin(b, cluster_env, "disable", key.name)
    deadline = time.monotonic() + 5
    while True:
        try:
            ca.get_object(Bucket=cluster_bucket, Key="sealed")["Body"].read()
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "KMS.DisabledException", e.response
            break
        assert time.monotonic() < deadline, "node a never saw the key disabled"
        time.sleep(0.2)
    kms_admin(a, cluster_env, "enable", key.name)
    listed = kms_admin(b, cluster_env, "list", "--json")
    assert key.id in listed


def test_a_node_with_another_master_key_refuses_to_start(cluster, cluster_env, tmp_root):
    base = Path(tmp_root) / f"stray-{uuid.uuid4().hex[:8]}"
    base.mkdir()
    with pytest.raises(RuntimeError) as refused:
        start_server(base, "http", env_extra={**cluster_env, "COFFER_MASTER_KEY": new_master_key()})
    assert "give every node the same master key" in str(refused.value)
