"""Bucket replication configuration through boto3 and the aws CLI: the document as put, S3's
checks (versioning on both sides, destinations that exist, registered remotes) and errors.
Versions replicate to a bucket on the same server through the outbox: same version ids,
times and ETags, PENDING then COMPLETED on the source and REPLICA on the destination."""

from __future__ import annotations

import json
import os

import pytest
from botocore.exceptions import ClientError

from harness import aws_runner, coffer_admin, empty_and_delete_bucket, random_bucket_name, wait_until

ROLE = "arn:aws:iam::000000000000:role/replication"


def rule(dest_arn: str, **extra) -> dict:
    r = {"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
         "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": dest_arn}}
    r.update(extra)
    return r


@pytest.fixture
def pair(http_server):
    s3 = http_server.client()
    names = [random_bucket_name("repl") for _ in range(2)]
    for n in names:
        s3.create_bucket(Bucket=n)
        s3.put_bucket_versioning(Bucket=n, VersioningConfiguration={"Status": "Enabled"})
    yield s3, names[0], names[1]
    for n in names:
        empty_and_delete_bucket(s3, n)


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_configuration_round_trips_with_the_aws_cli(http_server, pair):
    _, src, dst = pair
    aws = aws_runner(http_server)
    config = {"Role": ROLE, "Rules": [rule(f"arn:aws:s3:::{dst}", ExistingObjectReplication={"Status": "Enabled"})]}
    aws("s3api", "put-bucket-replication", "--bucket", src, "--replication-configuration", json.dumps(config))
    got = json.loads(aws("s3api", "get-bucket-replication", "--bucket", src).stdout)["ReplicationConfiguration"]
    assert got["Role"] == ROLE
    assert got["Rules"][0]["Destination"]["Bucket"] == f"arn:aws:s3:::{dst}"
    assert got["Rules"][0]["ExistingObjectReplication"] == {"Status": "Enabled"}
    aws("s3api", "delete-bucket-replication", "--bucket", src)
    missing = aws("s3api", "get-bucket-replication", "--bucket", src, check=False)
    assert missing.returncode != 0 and "ReplicationConfigurationNotFoundError" in missing.stderr


def test_s3s_checks(http_server, pair):
    s3, src, dst = pair
    put = lambda bucket, *rules: s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={"Role": ROLE, "Rules": list(rules)})
    with pytest.raises(ClientError) as e:
        s3.get_bucket_replication(Bucket=src)
    assert (code(e), e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("ReplicationConfigurationNotFoundError", 404)
    with pytest.raises(ClientError) as e:
        put(src, rule("arn:aws:s3:::no-such-bucket-here"))
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        put(src, rule(f"arn:aws:s3:::{src}"))
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        put(src, rule("arn:coffer:replication::nobody:b"))
    assert code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        put(src, rule(f"arn:aws:s3:::{dst}"), rule(f"arn:aws:s3:::{dst}", ID="two"))
    assert code(e) == "InvalidRequest"  # duplicate priority
    s3.put_bucket_versioning(Bucket=dst, VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(ClientError) as e:
        put(src, rule(f"arn:aws:s3:::{dst}"))
    assert code(e) == "InvalidRequest"
    s3.put_bucket_versioning(Bucket=src, VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_versioning(Bucket=dst, VersioningConfiguration={"Status": "Enabled"})
    with pytest.raises(ClientError) as e:
        put(src, rule(f"arn:aws:s3:::{dst}"))
    assert code(e) == "InvalidRequest"
    assert "Versioning must be 'Enabled'" in e.value.response["Error"]["Message"]


def test_a_registered_remote_is_a_destination(http_server, pair):
    s3, src, _ = pair
    name = f"peer-{src[-8:]}"
    coffer_admin(http_server, "remote", "add", name, "--endpoint", "http://127.0.0.1:9", "--access-key", "ak", "--secret-key", "secret-key")
    try:
        s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(f"arn:coffer:replication::{name}:offsite")]})
        got = s3.get_bucket_replication(Bucket=src)["ReplicationConfiguration"]
        assert got["Rules"][0]["Destination"]["Bucket"] == f"arn:coffer:replication::{name}:offsite"
    finally:
        s3.delete_bucket_replication(Bucket=src)
        coffer_admin(http_server, "remote", "remove", name)


def versions_of(s3, bucket):
    r = s3.list_object_versions(Bucket=bucket)
    rows = [(v["Key"], v["VersionId"], v["ETag"], v["Size"], v["LastModified"]) for v in r.get("Versions", [])]
    markers = [(m["Key"], m["VersionId"], m["LastModified"]) for m in r.get("DeleteMarkers", [])]
    return sorted(rows), sorted(markers)


def test_versions_replicate_to_a_bucket_here_with_their_identity(http_server, pair):
    s3, src, dst = pair
    aws = aws_runner(http_server)
    config = {"Role": ROLE, "Rules": [rule(f"arn:aws:s3:::{dst}", DeleteMarkerReplication={"Status": "Enabled"})]}
    aws("s3api", "put-bucket-replication", "--bucket", src, "--replication-configuration", json.dumps(config))
    # Rules both ways: replicas are never replicated again.
    s3.put_bucket_replication(Bucket=dst, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(f"arn:aws:s3:::{src}")]})

    s3.put_object(Bucket=src, Key="small", Body=b"tiny", Tagging="k=v")
    s3.put_object(Bucket=src, Key="small", Body=b"tiny v2")
    s3.put_object(Bucket=src, Key="sealed", Body=os.urandom(200_000), ServerSideEncryption="AES256")
    part = os.urandom(5 * 1024 * 1024)
    up = s3.create_multipart_upload(Bucket=src, Key="multi")
    etags = [s3.upload_part(Bucket=src, Key="multi", UploadId=up["UploadId"], PartNumber=n, Body=part)["ETag"] for n in (1, 2)]
    s3.complete_multipart_upload(Bucket=src, Key="multi", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags)]})
    s3.delete_object(Bucket=src, Key="small")  # a delete marker: replicated (the rule says so)
    doomed = s3.put_object(Bucket=src, Key="doomed", Body=b"x")["VersionId"]

    def settled():
        heads = [s3.head_object(Bucket=src, Key=k) for k in ("sealed", "multi")]
        return all(h.get("ReplicationStatus") == "COMPLETED" for h in heads) and versions_of(s3, dst)[1]

    wait_until(settled, what="replication to complete")
    # A delete of a specific version is never replicated.
    s3.delete_object(Bucket=src, Key="doomed", VersionId=doomed)
    wait_until(lambda: versions_of(s3, dst)[0] and any(k == "doomed" for k, *_ in versions_of(s3, dst)[0]), what="doomed to arrive")

    src_versions, src_markers = versions_of(s3, src)
    dst_versions, dst_markers = versions_of(s3, dst)
    assert src_markers == dst_markers
    assert [v for v in dst_versions if v[0] != "doomed"] == src_versions
    assert len(src_versions) == 4 and len(dst_versions) == 5
    head = aws("s3api", "head-object", "--bucket", dst, "--key", "multi").stdout
    assert json.loads(head)["ReplicationStatus"] == "REPLICA"
    assert s3.get_object(Bucket=dst, Key="multi")["Body"].read() == part + part
    tagged = min(v[1] for v in src_versions if v[0] == "small")  # version ids sort by age
    assert s3.get_object_tagging(Bucket=dst, Key="small", VersionId=tagged)["TagSet"] == [{"Key": "k", "Value": "v"}]
    status = coffer_admin(http_server, "replication", "status", src).stdout
    assert "pending: 0 versions" in status and "failed: 0 versions" in status and "completed: " in status
    # No ping-pong: nothing came back to the source from the destination's own rule.
    assert versions_of(s3, src) == (src_versions, src_markers)
    for bucket in (src, dst):
        s3.delete_bucket_replication(Bucket=bucket)


def test_a_destination_that_cannot_take_replicas_fails_the_version(http_server, pair):
    s3, src, dst = pair
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(f"arn:aws:s3:::{dst}")]})
    s3.put_bucket_versioning(Bucket=dst, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=src, Key="k", Body=b"x")
    wait_until(lambda: s3.head_object(Bucket=src, Key="k").get("ReplicationStatus") == "FAILED", what="the version to fail")
    assert "failed: 1 versions, 1 bytes" in coffer_admin(http_server, "replication", "status", src).stdout
    s3.delete_bucket_replication(Bucket=src)


def test_kill_9_loses_no_queued_replication(tmp_root):
    """1,000 versions queued; the server killed while it drains them; after a restart every
    version is COMPLETED with exactly one replica."""
    from concurrent.futures import ThreadPoolExecutor

    from harness import start_server, stop_server

    srv = start_server(tmp_root, "http")
    s3 = srv.client()
    src, dst = random_bucket_name("repl"), random_bucket_name("repl")
    for n in (src, dst):
        s3.create_bucket(Bucket=n)
        s3.put_bucket_versioning(Bucket=n, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(f"arn:aws:s3:::{dst}")]})
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: s3.put_object(Bucket=src, Key=f"k{i % 100:03}", Body=b"v%d" % i)["VersionId"], range(1000)))
    srv.proc.kill()
    # (How many were still queued varies with the machine; the run's log line says.)
    print("pending at the kill:", coffer_admin(srv, "replication", "status", src).stdout.splitlines()[0])
    srv.proc.wait(timeout=15)
    restarted = start_server(tmp_root, "http", data_dir=srv.data_dir)
    try:
        s3 = restarted.client()

        def replica_ids():
            out, kw = [], {}
            while True:
                r = s3.list_object_versions(Bucket=dst, **kw)
                out += [v["VersionId"] for v in r.get("Versions", [])]
                if not r.get("IsTruncated"):
                    return out
                kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}

        wait_until(lambda: len(replica_ids()) >= 1000, timeout=120, what="every version to replicate")
        got = replica_ids()
        assert sorted(got) == sorted(ids), "each version exactly once"
        status = coffer_admin(restarted, "replication", "status", src).stdout
        assert "pending: 0 versions" in status and "completed: 1000 versions" in status
    finally:
        stop_server(restarted)
        if srv._log_file is not None:
            srv._log_file.close()
