"""Storage classes on real tiers, through boto3 and the aws CLI: a cold directory, an archive
directory (GLACIER-like: reads wait for RestoreObject), a bucket on a second Coffer and a
bucket on moto (an S3 service that is not Coffer) as remote tiers. Versions move by PUT with
a storage class, by lifecycle transitions and back by copying them to STANDARD; a kill -9 in
the middle of moves loses nothing. The server's lifecycle "day" lasts LC_DAY seconds."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from harness import (
    aws_runner,
    blob_hashes,
    coffer_admin,
    empty_and_delete_bucket,
    free_port,
    index_contents,
    random_bucket_name,
    start_server,
    stop_server,
    wait_until,
)

LC_DAY = 2
# Larger than the inline limit (64 KiB), so the bytes are a blob file that moves.
BIG = 300 * 1024


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def peer(tmp_root):
    """A second Coffer, whose bucket is a remote tier of the first."""
    srv = start_server(tmp_root, "http")
    srv.client().create_bucket(Bucket="tier-bucket")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def tiered(tmp_root, peer, moto):
    """A server with four tiers, registered while it runs."""
    srv = start_server(tmp_root, "http", ("--lifecycle-day-secs", str(LC_DAY)))
    dirs = {name: tmp_root / f"tier-{name}-{srv.port}" for name in ("cold", "vault")}
    coffer_admin(srv, "tier", "add", "cold", "--dir", dirs["cold"], "--storage-class", "STANDARD_IA", "--storage-class", "GLACIER_IR")
    coffer_admin(srv, "tier", "add", "vault", "--dir", dirs["vault"], "--storage-class", "GLACIER", "--storage-class", "DEEP_ARCHIVE", "--archive")
    coffer_admin(srv, "remote", "add", "peer", "--endpoint", peer.endpoint, "--access-key", peer.access_key, "--secret-key", peer.secret_key)
    coffer_admin(srv, "tier", "add", "peer", "--remote", "peer", "--bucket", "tier-bucket", "--prefix", "blobs/", "--storage-class", "ONEZONE_IA")
    endpoint, moto_client = moto
    moto_client.create_bucket(Bucket="coffer-cold")
    coffer_admin(srv, "remote", "add", "moto", "--endpoint", endpoint, "--access-key", "moto", "--secret-key", "moto-secret")
    coffer_admin(srv, "tier", "add", "moto", "--remote", "moto", "--bucket", "coffer-cold", "--storage-class", "INTELLIGENT_TIERING")
    # The server picks the tiers up within seconds.
    def loaded():
        lines = [line for line in srv.log_since(0, limit=10**7).splitlines() if "storage tiers changed" in line]
        return lines and all(f'"{t}"' in lines[-1] for t in ("cold", "vault", "peer", "moto"))

    wait_until(loaded, what="the server to load the tiers")
    srv.tier_dirs = dirs
    yield srv
    stop_server(srv)


@pytest.fixture
def client(tiered):
    return tiered.client()


@pytest.fixture
def bucket(client):
    name = random_bucket_name("tier")
    client.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(client, name)


def local_blobs(srv) -> set[str]:
    return blob_hashes(srv.data_dir)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- admin


def test_admin_lists_tiers_and_refuses_what_would_lose_track_of_data(tiered, client, bucket):
    listed = coffer_admin(tiered, "tier", "list").stdout
    for name in ("cold", "vault", "peer", "moto"):
        assert name in listed
    assert "(archive)" in listed.split("vault", 1)[1].splitlines()[0]
    remotes = coffer_admin(tiered, "remote", "list").stdout
    assert "peer" in remotes and "moto" in remotes and "moto-secret" not in remotes
    # Secrets of remotes are sealed in the index.
    index = index_contents(tiered.data_dir)
    assert b"moto-secret" not in index and tiered.secret_key.encode() not in index

    bad = coffer_admin(tiered, "tier", "add", "x", "--dir", "/tmp/x", "--storage-class", "PLATINUM", check=False)
    assert bad.returncode != 0 and "not an S3 storage class" in bad.stderr
    taken = coffer_admin(tiered, "remote", "remove", "peer", check=False)
    assert taken.returncode != 0 and "tier peer" in taken.stderr
    unreachable = coffer_admin(tiered, "tier", "add", "y", "--remote", "peer", "--bucket", "no-such-bucket", "--storage-class", "SNOW", check=False)
    assert unreachable.returncode != 0

    client.put_object(Bucket=bucket, Key="held", Body=b"c" * BIG, StorageClass="STANDARD_IA")
    in_use = coffer_admin(tiered, "tier", "remove", "cold", check=False)
    assert in_use.returncode != 0 and "still uses" in in_use.stderr


# ------------------------------------------------------------------ PUT with a class


@pytest.mark.parametrize("tier,cls", [("cold", "STANDARD_IA"), ("peer", "ONEZONE_IA"), ("moto", "INTELLIGENT_TIERING")])
def test_a_put_with_a_class_moves_the_bytes_to_its_tier(tiered, peer, moto, client, bucket, tier, cls):
    data = os.urandom(BIG)
    client.put_object(Bucket=bucket, Key="k", Body=data, StorageClass=cls)
    name = sha(data)

    def on_tier():
        if tier == "cold":
            return name in blob_hashes(tiered.tier_dirs["cold"])
        if tier == "peer":
            listed = peer.client().list_objects_v2(Bucket="tier-bucket", Prefix="blobs/").get("Contents", [])
            return f"blobs/{name}" in {o["Key"] for o in listed}
        listed = moto[1].list_objects_v2(Bucket="coffer-cold").get("Contents", [])
        return name in {o["Key"] for o in listed}

    wait_until(on_tier, what=f"the blob to reach tier {tier}")
    wait_until(lambda: name not in local_blobs(tiered), what="the local copy to be collected")
    got = client.get_object(Bucket=bucket, Key="k")
    assert got["StorageClass"] == cls
    assert got["Body"].read() == data
    part = client.get_object(Bucket=bucket, Key="k", Range="bytes=1000-1999")["Body"].read()
    assert part == data[1000:2000]
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["StorageClass"] for o in listed] == [cls]

    # Deleting the version lets the collector remove the tier's copy.
    client.delete_object(Bucket=bucket, Key="k")
    wait_until(lambda: not on_tier(), what="the tier copy to be collected")


def test_encrypted_and_multipart_objects_transition_as_stored(tiered, client, bucket):
    plain = b"secret-pattern-" * (BIG // 15)
    client.put_object(Bucket=bucket, Key="sealed", Body=plain, ServerSideEncryption="AES256")
    part = os.urandom(5 * 1024 * 1024)
    up = client.create_multipart_upload(Bucket=bucket, Key="multi")
    etags = [client.upload_part(Bucket=bucket, Key="multi", UploadId=up["UploadId"], PartNumber=n, Body=part)["ETag"] for n in (1, 2)]
    client.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags)]})
    aws = aws_runner(tiered)
    rules = '{"Rules": [{"ID": "ir", "Filter": {}, "Status": "Enabled", "Transitions": [{"Days": 1, "StorageClass": "GLACIER_IR"}]}]}'
    aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket, "--lifecycle-configuration", rules)
    cold = tiered.tier_dirs["cold"]
    wait_until(lambda: sha(part) in blob_hashes(cold), what="the parts to reach the cold tier")
    wait_until(lambda: all(client.head_object(Bucket=bucket, Key=k).get("StorageClass") == "GLACIER_IR" for k in ("sealed", "multi")),
               what="both objects to transition")
    wait_until(lambda: len(blob_hashes(cold)) >= 2, what="the sealed object to reach the cold tier")
    # Nothing left the server decrypted: no file on the tier holds the plaintext pattern.
    for f in (cold / "blobs").rglob("*"):
        if f.is_file():
            assert b"secret-pattern-secret-pattern" not in f.read_bytes()
    assert client.get_object(Bucket=bucket, Key="sealed")["Body"].read() == plain
    assert client.get_object(Bucket=bucket, Key="multi")["Body"].read() == part + part


# --------------------------------------------------------------------- transitions


def test_lifecycle_transitions_move_current_and_noncurrent_versions(tiered, client, bucket):
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = os.urandom(BIG)
    new = os.urandom(BIG)
    first = client.put_object(Bucket=bucket, Key="doc", Body=old)["VersionId"]
    client.put_object(Bucket=bucket, Key="doc", Body=new)
    client.put_object(Bucket=bucket, Key="logs/a", Body=b"l" * BIG)
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "cold-logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
         "Transitions": [{"Days": 1, "StorageClass": "STANDARD_IA"}, {"Days": 3, "StorageClass": "ONEZONE_IA"}]},
        {"ID": "old-versions", "Filter": {"Prefix": "doc"}, "Status": "Enabled",
         "NoncurrentVersionTransitions": [{"NoncurrentDays": 1, "StorageClass": "STANDARD_IA"}]},
    ]})

    def classes():
        r = client.list_object_versions(Bucket=bucket)
        return sorted((v["Key"], v["IsLatest"], v["StorageClass"]) for v in r["Versions"])

    wait_until(lambda: classes() == [("doc", False, "STANDARD_IA"), ("doc", True, "STANDARD"), ("logs/a", True, "STANDARD_IA")],
               what="the first transitions")
    wait_until(lambda: ("logs/a", True, "ONEZONE_IA") in classes(), what="the second transition of logs/a")
    wait_until(lambda: sha(old) in blob_hashes(tiered.tier_dirs["cold"]), what="the old version's bytes on the cold tier")
    head = client.head_object(Bucket=bucket, Key="doc", VersionId=first)
    assert head["StorageClass"] == "STANDARD_IA"
    assert client.get_object(Bucket=bucket, Key="doc", VersionId=first)["Body"].read() == old
    assert client.get_object(Bucket=bucket, Key="doc")["Body"].read() == new
    assert client.get_object(Bucket=bucket, Key="logs/a")["Body"].read() == b"l" * BIG


def test_copying_to_standard_brings_a_version_back(tiered, client, bucket):
    data = os.urandom(BIG)
    client.put_object(Bucket=bucket, Key="k", Body=data, StorageClass="STANDARD_IA")
    wait_until(lambda: sha(data) in blob_hashes(tiered.tier_dirs["cold"]), what="the move to the cold tier")
    client.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"}, StorageClass="STANDARD")
    wait_until(lambda: sha(data) in local_blobs(tiered), what="the move back to the local store")
    wait_until(lambda: sha(data) not in blob_hashes(tiered.tier_dirs["cold"]), what="the cold copy to be collected")
    got = client.get_object(Bucket=bucket, Key="k")
    assert "StorageClass" not in got
    assert got["Body"].read() == data


# ------------------------------------------------------------------ archive, restore


def test_archived_objects_need_a_restore_which_expires(tiered, client, bucket):
    aws = aws_runner(tiered)
    src = tiered.data_dir.parent / "archived.bin"
    data = os.urandom(BIG)
    src.write_bytes(data)
    aws("s3", "cp", str(src), f"s3://{bucket}/a", "--storage-class", "GLACIER")
    wait_until(lambda: sha(data) in blob_hashes(tiered.tier_dirs["vault"]), what="the move to the vault")

    with pytest.raises(ClientError) as e:
        client.get_object(Bucket=bucket, Key="a")
    assert (status(e), error_code(e)) == (403, "InvalidObjectState")
    assert e.value.response["Error"].get("StorageClass") == "GLACIER"
    with pytest.raises(ClientError) as e:
        client.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "a"})
    assert error_code(e) == "InvalidObjectState"
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "a").stdout)
    assert head["StorageClass"] == "GLACIER" and "Restore" not in head

    # A version that is not archived cannot be restored.
    client.put_object(Bucket=bucket, Key="hot", Body=b"hot")
    with pytest.raises(ClientError) as e:
        client.restore_object(Bucket=bucket, Key="hot", RestoreRequest={"Days": 1})
    assert (status(e), error_code(e)) == (403, "InvalidObjectState")

    out = aws("s3api", "restore-object", "--bucket", bucket, "--key", "a",
              "--restore-request", '{"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}}')
    assert out.returncode == 0
    # While it runs (or right after), a second request is refused or extends the copy.
    try:
        again = client.restore_object(Bucket=bucket, Key="a", RestoreRequest={"Days": 1})
        assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    except ClientError as err:
        assert (err.response["ResponseMetadata"]["HTTPStatusCode"], err.response["Error"]["Code"]) == (409, "RestoreAlreadyInProgress")
    restored = wait_until(lambda: 'ongoing-request="false"' in client.head_object(Bucket=bucket, Key="a").get("Restore", ""),
                          what="the restore to finish")
    assert restored
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "a").stdout)
    assert "expiry-date=" in head["Restore"] and head["StorageClass"] == "GLACIER"
    assert client.get_object(Bucket=bucket, Key="a")["Body"].read() == data
    client.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "a"})
    assert client.restore_object(Bucket=bucket, Key="a", RestoreRequest={"Days": 1})["ResponseMetadata"]["HTTPStatusCode"] == 200

    # One (compressed) day later the restored copy is gone again.
    def archived_again():
        try:
            client.get_object(Bucket=bucket, Key="a")
            return False
        except ClientError as err:
            return err.response["Error"]["Code"] == "InvalidObjectState"

    wait_until(archived_again, what="the restored copy to expire")
    # The worker drops the expired copy right after.
    wait_until(lambda: "Restore" not in client.head_object(Bucket=bucket, Key="a"), what="the restored copy to be dropped")
    assert client.get_object(Bucket=bucket, Key="copy")["Body"].read() == data


def test_bad_restore_requests(tiered, client, bucket):
    client.put_object(Bucket=bucket, Key="a", Body=b"x" * BIG, StorageClass="DEEP_ARCHIVE")
    with pytest.raises(ClientError) as e:
        client.restore_object(Bucket=bucket, Key="a", RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Warp"}})
    assert error_code(e) == "MalformedXML"
    with pytest.raises(ClientError) as e:
        client.restore_object(Bucket=bucket, Key="a", RestoreRequest={"Days": 0})
    assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        client.restore_object(Bucket=bucket, Key="missing", RestoreRequest={"Days": 1})
    assert error_code(e) == "NoSuchKey"
    assert client.restore_object(Bucket=bucket, Key="a", RestoreRequest={"Days": 2})["ResponseMetadata"]["HTTPStatusCode"] == 202


# --------------------------------------------------------------------- crash safety


def test_kill_9_during_moves_leaves_every_version_whole(tmp_root):
    srv = start_server(tmp_root, "http", ("--lifecycle-day-secs", "1"))
    cold = tmp_root / f"crash-cold-{srv.port}"
    coffer_admin(srv, "tier", "add", "cold", "--dir", cold, "--storage-class", "STANDARD_IA")
    client = srv.client()
    bucket = random_bucket_name("tier")
    client.create_bucket(Bucket=bucket)
    bodies = {f"k{i:03}": os.urandom(BIG + i) for i in range(60)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), bodies.items()))
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "cold", "Filter": {}, "Status": "Enabled", "Transitions": [{"Days": 1, "StorageClass": "STANDARD_IA"}]}]})
    wait_until(lambda: len(blob_hashes(cold)) >= 5, timeout=60, what="moves to start")
    srv.proc.kill()
    srv.proc.wait(timeout=15)
    restarted = start_server(tmp_root, "http", ("--lifecycle-day-secs", "1"), data_dir=srv.data_dir)
    try:
        client = restarted.client()
        wait_until(lambda: len(blob_hashes(cold)) == len(bodies), timeout=90, what="every blob on the cold tier")
        wait_until(lambda: not (set(bodies) and {sha(b) for b in bodies.values()} & local_blobs(restarted)), timeout=60,
                   what="the local copies to be collected")
        for key, data in bodies.items():
            got = client.get_object(Bucket=bucket, Key=key)
            assert got["StorageClass"] == "STANDARD_IA"
            assert got["Body"].read() == data, key
        check = coffer_admin(restarted, "check", "--quick", check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        empty_and_delete_bucket(client, bucket)
        wait_until(lambda: not blob_hashes(cold), timeout=60, what="the cold tier to be emptied")
    finally:
        stop_server(restarted)
        if srv._log_file is not None:
            srv._log_file.close()
