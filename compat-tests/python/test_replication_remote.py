"""Replication to remote endpoints: another Coffer (which keeps every version's id, time and
ETag, also of multipart and encrypted objects) and moto, an S3 service that is not Coffer
(which chooses its own version ids: Coffer keeps the map, and sends the source's identity as
metadata). Transient failures stay PENDING through a target outage and a kill -9 of the
source; permanent ones become FAILED with their reason."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from harness import (
    coffer_admin,
    create_kms_key,
    create_user,
    policy,
    random_bucket_name,
    start_server,
    statement,
    stop_server,
    wait_until,
)

ROLE = "arn:aws:iam::000000000000:role/replication"
MiB = 1024 * 1024


def rule(dest_arn: str, **extra) -> dict:
    r = {"ID": "offsite", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
         "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": dest_arn}}
    r.update(extra)
    return r


def versioned_bucket(s3, name: str) -> str:
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def all_versions(s3, bucket):
    """(versions, delete markers) of a bucket, every page, sorted."""
    versions, markers, kw = [], [], {}
    while True:
        r = s3.list_object_versions(Bucket=bucket, **kw)
        versions += [(v["Key"], v["VersionId"], v["ETag"], v["Size"], v["LastModified"]) for v in r.get("Versions", [])]
        markers += [(m["Key"], m["VersionId"], m["LastModified"]) for m in r.get("DeleteMarkers", [])]
        if not r.get("IsTruncated"):
            return sorted(versions), sorted(markers)
        kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}


def statuses(srv, bucket) -> dict[tuple[str, str], list[str]]:
    """`coffer admin replication versions`: (key, version) -> [status, target, remote version, error]."""
    out = coffer_admin(srv, "replication", "versions", bucket).stdout
    rows = [line.split("\t") for line in out.splitlines() if line]
    return {(r[0], r[1]): r[2:] for r in rows}


def settled(srv, bucket, count: int) -> bool:
    s = statuses(srv, bucket)
    return len(s) >= count and all(v[0] != "PENDING" for v in s.values())


def upload_in_parts(s3, bucket, key, sizes, **kw):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **kw)
    parts = []
    for n, size in enumerate(sizes, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=os.urandom(size))["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts})


def linked(src_srv, peer):
    """Clients of both servers, a versioned bucket on each, and `peer` registered on the source
    as remote "peer"."""
    s3, remote = src_srv.client(), peer.client()
    src, dst = versioned_bucket(s3, random_bucket_name("src")), versioned_bucket(remote, random_bucket_name("dst"))
    coffer_admin(src_srv, "remote", "add", "peer", "--endpoint", peer.endpoint, "--access-key", peer.access_key, "--secret-key", peer.secret_key)
    return s3, remote, src, dst


@pytest.fixture
def two_coffers(tmp_root):
    src, peer = start_server(tmp_root, "http"), start_server(tmp_root, "http")
    yield src, peer
    for srv in (src, peer):
        stop_server(srv)


def test_coffer_to_coffer_keeps_every_version_identity(two_coffers):
    src_srv, peer = two_coffers
    s3, remote, src, dst = linked(src_srv, peer)
    coffer_admin(peer, "remote", "add", "back", "--endpoint", src_srv.endpoint, "--access-key", src_srv.access_key, "--secret-key", src_srv.secret_key)
    source_key, replica_key = create_kms_key(src_srv), create_kms_key(peer)
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": ROLE, "Rules": [
        rule(f"arn:coffer:replication::peer:{dst}",
             SourceSelectionCriteria={"SseKmsEncryptedObjects": {"Status": "Enabled"}},
             Destination={"Bucket": f"arn:coffer:replication::peer:{dst}", "EncryptionConfiguration": {"ReplicaKmsKeyID": replica_key.arn}})]})
    # A rule back from the destination: replicas are never replicated again, so no ping-pong.
    remote.put_bucket_replication(Bucket=dst, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(f"arn:coffer:replication::back:{src}")]})

    for client, bucket in ((s3, src), (remote, dst)):
        client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    s3.put_object(Bucket=src, Key="locked", Body=b"keep me", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until,
                  ObjectLockLegalHoldStatus="ON")
    s3.put_object(Bucket=src, Key="public", Body=b"for all", ACL="public-read")
    s3.put_object(Bucket=src, Key="small", Body=b"tiny", Tagging="team=ops&kind=a b", ContentType="text/plain", Metadata={"origin": "laptop"})
    s3.put_object(Bucket=src, Key="small", Body=b"tiny v2")
    upload_in_parts(s3, src, "multi", [5 * MiB, 5 * MiB, 1 * MiB])
    s3.put_object(Bucket=src, Key="sse-s3", Body=os.urandom(300_000), ServerSideEncryption="AES256")
    s3.put_object(Bucket=src, Key="sse-kms", Body=b"k" * 70_000, ServerSideEncryption="aws:kms", SSEKMSKeyId=source_key.arn)
    upload_in_parts(s3, src, "multi-sse", [5 * MiB, 2 * MiB], ServerSideEncryption="AES256")
    s3.delete_object(Bucket=src, Key="small")  # a delete marker, which the rule replicates
    doomed = s3.put_object(Bucket=src, Key="doomed", Body=b"x")["VersionId"]
    wait_until(lambda: settled(src_srv, src, 10), timeout=60, what="replication to settle")
    s3.delete_object(Bucket=src, Key="doomed", VersionId=doomed)  # a version delete: never replicated

    assert {v[0] for v in statuses(src_srv, src).values()} == {"COMPLETED"}
    src_versions, src_markers = all_versions(s3, src)
    dst_versions, dst_markers = all_versions(remote, dst)
    assert src_markers == dst_markers and len(dst_markers) == 1
    assert [v for v in dst_versions if v[0] != "doomed"] == src_versions, "version ids, ETags, sizes and times equal"
    assert any(v[0] == "doomed" for v in dst_versions)
    for key in ("multi", "sse-s3", "sse-kms", "multi-sse"):
        assert s3.head_object(Bucket=src, Key=key)["ReplicationStatus"] == "COMPLETED"
        head = remote.head_object(Bucket=dst, Key=key)
        assert head["ReplicationStatus"] == "REPLICA"
        assert remote.get_object(Bucket=dst, Key=key)["Body"].read() == s3.get_object(Bucket=src, Key=key)["Body"].read()
    assert remote.head_object(Bucket=dst, Key="sse-s3")["ServerSideEncryption"] == "AES256"
    kms = remote.head_object(Bucket=dst, Key="sse-kms")
    assert (kms["ServerSideEncryption"], kms["SSEKMSKeyId"]) == ("aws:kms", replica_key.arn)
    assert remote.head_object(Bucket=dst, Key="multi", PartNumber=3)["PartsCount"] == 3
    first = min(v[1] for v in src_versions if v[0] == "small")
    assert remote.get_object_tagging(Bucket=dst, Key="small", VersionId=first)["TagSet"] == s3.get_object_tagging(Bucket=src, Key="small", VersionId=first)["TagSet"]
    grants = remote.get_object_acl(Bucket=dst, Key="public")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"} in grants
    locked = remote.head_object(Bucket=dst, Key="locked")
    assert (locked["ObjectLockMode"], locked["ObjectLockRetainUntilDate"], locked["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", until, "ON")
    old = remote.head_object(Bucket=dst, Key="small", VersionId=first)
    assert (old["ContentType"], old["Metadata"]) == ("text/plain", {"origin": "laptop"})
    time.sleep(1.5)  # the destination's own worker has had its turns
    assert all_versions(s3, src) == (src_versions, src_markers), "nothing came back"
    assert {v[0] for v in statuses(peer, dst).values()} == {"REPLICA"}, "replicas are never queued again"


def test_a_replica_identity_needs_replication_permission(two_coffers):
    _, peer = two_coffers
    admin = peer.client()
    dst = versioned_bucket(admin, random_bucket_name("dst"))
    user = create_user(peer)
    admin.put_bucket_policy(Bucket=dst, Policy=policy(statement("Allow", {"AWS": user.name}, "s3:PutObject", f"arn:aws:s3:::{dst}/*")))
    s3 = peer.client(user)
    headers = {"x-coffer-replica-version-id": "0123456789abcdef", "x-coffer-replica-modified-ms": "1700000000000", "x-coffer-replica-etag": "0" * 32}

    def add_headers(request, **_):
        for name, value in headers.items():
            request.headers[name] = value

    s3.meta.events.register("before-sign.s3.PutObject", add_headers)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=dst, Key="k", Body=b"x")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    admin.meta.events.register("before-sign.s3.PutObject", add_headers)
    got = admin.put_object(Bucket=dst, Key="k", Body=b"x")
    assert got["VersionId"] == "0123456789abcdef"
    again = admin.put_object(Bucket=dst, Key="k", Body=b"x")
    assert again["VersionId"] == "0123456789abcdef", "a retried delivery is the same version"
    assert len(all_versions(admin, dst)[0]) == 1


def test_any_s3_target_gets_a_version_map_and_the_identity_as_metadata(tmp_root, http_server, moto):
    endpoint, moto_s3 = moto
    s3 = http_server.client()
    src = versioned_bucket(s3, random_bucket_name("src"))
    dst = versioned_bucket(moto_s3, random_bucket_name("moto"))
    coffer_admin(http_server, "remote", "add", f"moto-{src[-6:]}", "--endpoint", endpoint, "--access-key", "moto", "--secret-key", "moto-secret")
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(f"arn:coffer:replication::moto-{src[-6:]}:{dst}")]})
    small = s3.put_object(Bucket=src, Key="small", Body=b"hello", Metadata={"origin": "laptop"}, Tagging="a=1")
    multi = upload_in_parts(s3, src, "multi", [5 * MiB, 5 * MiB, 2 * MiB])
    marker = s3.delete_object(Bucket=src, Key="small")
    wait_until(lambda: settled(http_server, src, 3), timeout=60, what="replication to moto")

    mapped = statuses(http_server, src)
    for (key, version), (status, target, remote_version, error) in mapped.items():
        assert status == "COMPLETED" and target.endswith(f":{dst}") and remote_version not in ("-", version) and not error
    remote_small = mapped[("small", small["VersionId"])][2]
    head = moto_s3.head_object(Bucket=dst, Key="small", VersionId=remote_small)
    assert head["Metadata"]["coffer-source-version-id"] == small["VersionId"]
    assert head["Metadata"]["origin"] == "laptop" and head["ETag"] == small["ETag"]
    assert moto_s3.get_object_tagging(Bucket=dst, Key="small", VersionId=remote_small)["TagSet"] == [{"Key": "a", "Value": "1"}]
    remote_multi = mapped[("multi", multi["VersionId"])][2]
    assert moto_s3.head_object(Bucket=dst, Key="multi", VersionId=remote_multi)["ETag"] == multi["ETag"], "parts replayed with the same sizes"
    assert mapped[("small", marker["VersionId"])][2] in {m[1] for m in all_versions(moto_s3, dst)[1]}


def test_permanent_failures_keep_their_reason(http_server, moto):
    endpoint, _ = moto
    s3 = http_server.client()
    src = versioned_bucket(s3, random_bucket_name("src"))
    name = f"moto-bad-{src[-6:]}"
    coffer_admin(http_server, "remote", "add", name, "--endpoint", endpoint, "--access-key", "moto", "--secret-key", "moto-secret")
    # Registered when it existed... then gone: the rule names a bucket moto does not have.
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(f"arn:coffer:replication::{name}:never-made")]})
    v = s3.put_object(Bucket=src, Key="k", Body=b"x")["VersionId"]
    wait_until(lambda: settled(http_server, src, 1), timeout=30, what="the version to fail")
    status, _, _, error = statuses(http_server, src)[("k", v)]
    assert status == "FAILED" and "never-made" in error
    assert s3.head_object(Bucket=src, Key="k")["ReplicationStatus"] == "FAILED"


def test_target_down_then_kill_9_loses_nothing(tmp_root):
    """1,000 writes while the target Coffer is down stay PENDING; the source is killed with
    kill -9; both restart and every version arrives once, with its identity."""
    src_srv, peer = start_server(tmp_root, "http"), start_server(tmp_root, "http")
    try:
        s3, remote, src, dst = linked(src_srv, peer)
        s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(f"arn:coffer:replication::peer:{dst}")]})
        stop_server(peer)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: s3.put_object(Bucket=src, Key=f"k{i % 100:03}", Body=b"v%d" % i), range(1000)))
        # The worker's first try fails (on a loaded machine it may take a while to come).
        status = wait_until(lambda: (lambda out: out if "last error" in out else None)(coffer_admin(src_srv, "replication", "status", src).stdout),
                            timeout=30, what="a failed delivery to be reported")
        assert "pending: 1000 versions" in status, status
        src_srv.proc.kill()
        src_srv.proc.wait(timeout=15)
        peer = start_server(tmp_root, "http", data_dir=peer.data_dir, port=peer.port)
        src_srv = start_server(tmp_root, "http", data_dir=src_srv.data_dir)
        s3, remote = src_srv.client(), peer.client()
        # Retries back off (up to a few seconds by now); all arrive.
        wait_until(lambda: "pending: 0 versions" in coffer_admin(src_srv, "replication", "status", src).stdout, timeout=120,
                   what="the outage's versions to replicate")
        assert "completed: 1000 versions" in coffer_admin(src_srv, "replication", "status", src).stdout
        assert all_versions(remote, dst) == all_versions(s3, src), "every version once, with its identity"
    finally:
        for srv in (src_srv, peer):
            stop_server(srv)


def test_existing_objects_and_resync_after_the_target_is_emptied(two_coffers):
    src_srv, peer = two_coffers
    s3, remote, src, dst = linked(src_srv, peer)
    for i in range(30):
        s3.put_object(Bucket=src, Key=f"before/{i % 10}", Body=b"old %d" % i)
    s3.delete_object(Bucket=src, Key="before/0")
    # ExistingObjectReplication: what the bucket held before the rule replicates too.
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": ROLE, "Rules": [
        rule(f"arn:coffer:replication::peer:{dst}", ExistingObjectReplication={"Status": "Enabled"})]})
    wait_until(lambda: all_versions(remote, dst) == all_versions(s3, src), timeout=60, what="existing objects to replicate")
    assert "resync: none running" in coffer_admin(src_srv, "replication", "status", src).stdout

    # The destination loses everything; a resync puts back what it lacks, with the same identities.
    versions, markers = all_versions(remote, dst)
    for key, version, *_ in versions + markers:
        remote.delete_object(Bucket=dst, Key=key, VersionId=version)
    assert all_versions(remote, dst) == ([], [])
    s3.put_object(Bucket=src, Key="after", Body=b"new")
    out = coffer_admin(src_srv, "replication", "resync", src).stdout
    assert "resync of" in out
    wait_until(lambda: all_versions(remote, dst) == all_versions(s3, src), timeout=60, what="the resync to fill the target")
    assert len(all_versions(remote, dst)[0]) == 31


def test_resync_failed_retries_only_what_failed(http_server):
    s3 = http_server.client()
    src, dst = versioned_bucket(s3, random_bucket_name("src")), versioned_bucket(s3, random_bucket_name("dst"))
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(f"arn:aws:s3:::{dst}")]})
    s3.put_object(Bucket=src, Key="fine", Body=b"1")
    wait_until(lambda: s3.head_object(Bucket=src, Key="fine").get("ReplicationStatus") == "COMPLETED", what="the first version")
    s3.put_bucket_versioning(Bucket=dst, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=src, Key="refused", Body=b"2")
    wait_until(lambda: s3.head_object(Bucket=src, Key="refused").get("ReplicationStatus") == "FAILED", what="the version to fail")
    assert "versioning" in statuses(http_server, src)[("refused", s3.head_object(Bucket=src, Key="refused")["VersionId"])][3]
    s3.put_bucket_versioning(Bucket=dst, VersioningConfiguration={"Status": "Enabled"})
    coffer_admin(http_server, "replication", "resync", src, "--failed")
    wait_until(lambda: s3.head_object(Bucket=src, Key="refused").get("ReplicationStatus") == "COMPLETED", what="the failed version to replicate")
    assert s3.get_object(Bucket=dst, Key="refused")["Body"].read() == b"2"
    assert "failed: 0 versions" in coffer_admin(http_server, "replication", "status", src).stdout
