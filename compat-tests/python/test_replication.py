"""Bucket replication configuration through boto3 and the aws CLI: the document as put, S3's
checks (versioning on both sides, destinations that exist, registered remotes) and errors.
Replicating itself comes with the outbox (issue 13)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from harness import aws_runner, coffer_admin, empty_and_delete_bucket, random_bucket_name

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
