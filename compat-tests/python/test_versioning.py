"""Versioning with boto3, awscli (s3api) and rclone: every write a version, the null version,
suspend and resume, delete markers, GET/DELETE by version id, and version listings."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from harness import empty_and_delete_bucket, random_bucket_name


@pytest.fixture
def versioned(http_server):
    s3 = http_server.client()
    name = random_bucket_name("ver")
    s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(s3, name)


def body(s3, bucket, key, **kw):
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


def error(excinfo):
    r = excinfo.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["ResponseMetadata"]["HTTPHeaders"]


def test_versions_null_version_suspend_and_resume(http_server, versioned):
    s3 = http_server.client()
    b = versioned
    s3.put_object(Bucket=b, Key="k", Body=b"before")  # written before versioning: the null version
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="k", Body=b"two")["VersionId"]
    assert len({v1, v2, "null"}) == 3
    assert body(s3, b, "k") == b"two"
    assert body(s3, b, "k", VersionId=v1) == b"one"
    assert body(s3, b, "k", VersionId="null") == b"before"

    # Suspended: writes replace the null version and keep the others.
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    put = s3.put_object(Bucket=b, Key="k", Body=b"suspended")
    assert "VersionId" not in put
    versions = s3.list_object_versions(Bucket=b)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted([v1, v2, "null"])
    assert body(s3, b, "k", VersionId="null") == b"suspended"
    latest = [v for v in versions if v["IsLatest"]]
    assert [v["VersionId"] for v in latest] == ["null"]

    # Resumed: new versions again, and the bucket never goes back to unversioned.
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    v3 = s3.put_object(Bucket=b, Key="k", Body=b"three")["VersionId"]
    assert v3 not in (v1, v2, "null")
    assert len(s3.list_object_versions(Bucket=b)["Versions"]) == 4


def test_delete_markers_and_permanent_deletes(http_server, versioned):
    s3 = http_server.client()
    b = versioned
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"one")["VersionId"]
    deleted = s3.delete_object(Bucket=b, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k")
    code, status, headers = error(e)
    assert (code, status, headers.get("x-amz-delete-marker")) == ("NoSuchKey", 404, "true")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=b, Key="k")
    assert error(e)[1:] == (404, e.value.response["ResponseMetadata"]["HTTPHeaders"])
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k", VersionId=marker)
    assert error(e)[:2] == ("MethodNotAllowed", 405)
    assert s3.list_objects_v2(Bucket=b).get("KeyCount") == 0

    listed = s3.list_object_versions(Bucket=b)
    assert [m["VersionId"] for m in listed["DeleteMarkers"]] == [marker]
    assert listed["DeleteMarkers"][0]["IsLatest"] is True
    # Removing the current delete marker brings the previous version back.
    s3.delete_object(Bucket=b, Key="k", VersionId=marker)
    assert body(s3, b, "k") == b"one"
    # DeleteObjects with versions reports what it removed.
    v2 = s3.put_object(Bucket=b, Key="k", Body=b"two")["VersionId"]
    out = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "k", "VersionId": v1}, {"Key": "k"}]})
    deleted = {(d["Key"], d.get("VersionId")): d for d in out["Deleted"]}
    assert ("k", v1) in deleted
    assert deleted[("k", None)]["DeleteMarker"] is True and deleted[("k", None)]["DeleteMarkerVersionId"]
    assert body(s3, b, "k", VersionId=v2) == b"two"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k", VersionId=v1)
    assert error(e)[:2] == ("NoSuchVersion", 404)


def test_copy_from_a_version_and_tags_per_version(http_server, versioned):
    s3 = http_server.client()
    b = versioned
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=b, Key="src", Body=b"old", Tagging="gen=1")["VersionId"]
    s3.put_object(Bucket=b, Key="src", Body=b"new")
    copied = s3.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1 and copied["VersionId"]
    assert body(s3, b, "dst") == b"old"
    assert s3.get_object_tagging(Bucket=b, Key="src", VersionId=v1)["TagSet"] == [{"Key": "gen", "Value": "1"}]
    assert s3.get_object_tagging(Bucket=b, Key="src")["TagSet"] == []


def test_a_previous_version_is_restored_by_copying_it_onto_its_key(http_server, versioned):
    s3 = http_server.client()
    b = versioned
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"good", ContentType="text/x-good")["VersionId"]
    s3.put_object(Bucket=b, Key="k", Body=b"bad")
    restored = s3.copy_object(Bucket=b, Key="k", CopySource={"Bucket": b, "Key": "k", "VersionId": v1})
    assert restored["CopySourceVersionId"] == v1 and restored["VersionId"] != v1
    got = s3.get_object(Bucket=b, Key="k")
    assert got["Body"].read() == b"good" and got["ContentType"] == "text/x-good"
    assert len(s3.list_object_versions(Bucket=b)["Versions"]) == 3
    # Without a version id it is a copy onto itself that changes nothing.
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=b, Key="k", CopySource={"Bucket": b, "Key": "k"})
    assert error(e)[:2] == ("InvalidRequest", 400)


def test_awscli_s3api_versions(server, aws, tmp_path):
    s3 = server.client()
    b = random_bucket_name("ver")
    s3.create_bucket(Bucket=b)
    try:
        _awscli_versions(s3, b, aws, tmp_path)
    finally:
        empty_and_delete_bucket(s3, b)


def _awscli_versions(s3, b, aws, tmp_path):
    aws("s3api", "put-bucket-versioning", "--bucket", b, "--versioning-configuration", "Status=Enabled")
    ids = [s3.put_object(Bucket=b, Key="doc.txt", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    listed = json.loads(aws("s3api", "list-object-versions", "--bucket", b).stdout)
    assert sorted(v["VersionId"] for v in listed["Versions"]) == sorted(ids)
    out = tmp_path / "first.txt"
    aws("s3api", "get-object", "--bucket", b, "--key", "doc.txt", "--version-id", ids[0], str(out))
    assert out.read_bytes() == b"v0"
    aws("s3api", "delete-object", "--bucket", b, "--key", "doc.txt", "--version-id", ids[2])
    assert body(s3, b, "doc.txt") == b"v1"
    listed = json.loads(aws("s3api", "list-object-versions", "--bucket", b).stdout)
    assert sorted(v["VersionId"] for v in listed["Versions"]) == sorted(ids[:2])


def test_rclone_lists_versions(http_server, versioned, rclone):
    b = versioned
    s3 = http_server.client()
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    for i in range(2):
        s3.put_object(Bucket=b, Key="notes.txt", Body=f"rev {i}".encode())
    current = rclone("lsf", f"coffer:{b}").stdout.split()
    assert current == ["notes.txt"]
    with_versions = rclone("lsf", "--s3-versions", f"coffer:{b}").stdout.split()
    assert len(with_versions) == 2, with_versions
    assert "notes.txt" in with_versions
    old = [name for name in with_versions if name != "notes.txt"][0]
    assert old.startswith("notes-v") and old.endswith(".txt"), old
    # The old version's bytes through rclone's version-named path.
    assert rclone("cat", "--s3-versions", f"coffer:{b}/{old}").stdout == "rev 0"
