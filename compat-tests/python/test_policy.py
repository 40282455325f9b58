"""Bucket policies with boto3 and awscli: a second user denied, allowed by a policy naming
them, denied again by an explicit Deny; anonymous reads through a public-read policy, shut by
Block Public Access; an aws:SourceIp condition; MalformedPolicy; GetBucketPolicyStatus."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from harness import anonymous_get, policy, statement


def error_code(fn, *args, **kwargs) -> str:
    with pytest.raises(ClientError) as e:
        fn(*args, **kwargs)
    return e.value.response["Error"]["Code"]


def test_second_user_allowed_then_denied(http_server, http_bucket, other_user):
    s3, b = http_server.client(), http_bucket
    name, alt = other_user.name, http_server.client(other_user)
    s3.put_object(Bucket=b, Key="doc.txt", Body=b"hello")
    assert error_code(alt.get_object, Bucket=b, Key="doc.txt") == "AccessDenied"
    assert error_code(alt.list_objects_v2, Bucket=b) == "AccessDenied"

    allow = statement("Allow", {"AWS": f"arn:aws:iam::{name}:root"}, ["s3:GetObject", "s3:ListBucket", "s3:PutObject"],
                      [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"])
    s3.put_bucket_policy(Bucket=b, Policy=policy(allow))
    assert json.loads(s3.get_bucket_policy(Bucket=b)["Policy"])["Statement"][0]["Effect"] == "Allow"
    assert alt.get_object(Bucket=b, Key="doc.txt")["Body"].read() == b"hello"
    assert [o["Key"] for o in alt.list_objects_v2(Bucket=b)["Contents"]] == ["doc.txt"]
    alt.put_object(Bucket=b, Key="from-alt.txt", Body=b"x")
    # Not granted: deleting, and managing the policy.
    assert error_code(alt.delete_object, Bucket=b, Key="doc.txt") == "AccessDenied"
    assert error_code(alt.get_bucket_policy, Bucket=b) == "AccessDenied"

    deny = statement("Deny", {"AWS": name}, "s3:GetObject", f"arn:aws:s3:::{b}/doc.*")
    s3.put_bucket_policy(Bucket=b, Policy=policy(allow, deny))
    assert error_code(alt.get_object, Bucket=b, Key="doc.txt") == "AccessDenied"
    assert alt.get_object(Bucket=b, Key="from-alt.txt")["Body"].read() == b"x"

    # An explicit Deny binds the owner too, except for managing the policy itself.
    everyone_deny = statement("Deny", "*", "s3:*", [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"])
    s3.put_bucket_policy(Bucket=b, Policy=policy(everyone_deny))
    assert error_code(s3.get_object, Bucket=b, Key="doc.txt") == "AccessDenied"
    s3.delete_bucket_policy(Bucket=b)
    assert s3.get_object(Bucket=b, Key="doc.txt")["Body"].read() == b"hello"
    assert error_code(s3.get_bucket_policy, Bucket=b) == "NoSuchBucketPolicy"


def test_public_read_policy_and_block_public_access(http_server, http_bucket):
    s3, b = http_server.client(), http_bucket
    s3.put_object(Bucket=b, Key="site/index.html", Body=b"<p>hi</p>")
    assert anonymous_get(http_server, f"/{b}/site/index.html") == 403
    assert s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"] is False

    public = policy(statement("Allow", "*", "s3:GetObject", f"arn:aws:s3:::{b}/site/*"))
    s3.put_bucket_policy(Bucket=b, Policy=public)
    assert s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"] is True
    assert anonymous_get(http_server, f"/{b}/site/index.html") == 200
    assert anonymous_get(http_server, f"/{b}?list-type=2") == 403

    # RestrictPublicBuckets: the public policy grants nothing to anonymous callers any more.
    s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={"RestrictPublicBuckets": True})
    assert anonymous_get(http_server, f"/{b}/site/index.html") == 403
    assert s3.get_object(Bucket=b, Key="site/index.html")["Body"].read() == b"<p>hi</p>"

    # BlockPublicPolicy: a public policy is refused; one narrowed by a source IP range is not.
    s3.delete_bucket_policy(Bucket=b)
    s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={"BlockPublicPolicy": True})
    assert error_code(s3.put_bucket_policy, Bucket=b, Policy=public) == "AccessDenied"
    narrowed = policy(statement("Allow", "*", "s3:GetObject", f"arn:aws:s3:::{b}/site/*",
                                {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    s3.put_bucket_policy(Bucket=b, Policy=narrowed)
    assert s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"] is False


def test_source_ip_condition(http_server, http_bucket):
    s3, b = http_server.client(), http_bucket
    s3.put_object(Bucket=b, Key="k", Body=b"v")
    resource = f"arn:aws:s3:::{b}/*"
    s3.put_bucket_policy(Bucket=b, Policy=policy(
        statement("Allow", "*", "s3:GetObject", resource, {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})))
    assert anonymous_get(http_server, f"/{b}/k") == 403
    s3.put_bucket_policy(Bucket=b, Policy=policy(
        statement("Allow", "*", "s3:GetObject", resource, {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}})))
    assert anonymous_get(http_server, f"/{b}/k") == 200
    s3.put_bucket_policy(Bucket=b, Policy=policy(
        statement("Allow", "*", "s3:GetObject", resource),
        statement("Deny", "*", "s3:GetObject", resource, {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})))
    assert anonymous_get(http_server, f"/{b}/k") == 403
    assert error_code(s3.get_object, Bucket=b, Key="k") == "AccessDenied"


@pytest.mark.parametrize("doc, reason", [
    ('{"Version": "2012-10-17"}', "Missing required field Statement"),
    ('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:Nope!", "Resource": "arn:aws:s3:::BUCKET/*"}]}',
     "Policy has invalid action"),
    ('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::elsewhere/*"}]}',
     "Policy has invalid resource"),
    ('{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:s3:::x"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/*"}]}',
     "Invalid principal in policy"),
    ("not json", "This policy contains invalid Json"),
])
def test_malformed_policy(http_server, http_bucket, doc, reason):
    s3, b = http_server.client(), http_bucket
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=b, Policy=doc.replace("BUCKET", b))
    err = e.value.response["Error"]
    assert (err["Code"], err["Message"]) == ("MalformedPolicy", reason)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_awscli_put_bucket_policy(aws, server, bucket, tmp_path):
    doc = tmp_path / "policy.json"
    doc.write_text(policy(statement("Allow", "*", "s3:GetObject", f"arn:aws:s3:::{bucket}/*")))
    aws("s3api", "put-bucket-policy", "--bucket", bucket, "--policy", f"file://{doc}")
    out = json.loads(aws("s3api", "get-bucket-policy", "--bucket", bucket).stdout)
    assert json.loads(out["Policy"])["Statement"][0]["Action"] == "s3:GetObject"
    status = json.loads(aws("s3api", "get-bucket-policy-status", "--bucket", bucket).stdout)
    assert status["PolicyStatus"]["IsPublic"] is True
    aws("s3api", "delete-bucket-policy", "--bucket", bucket)


def test_delete_objects_decided_per_key(http_server, http_bucket, other_user):
    s3, b = http_server.client(), http_bucket
    name, alt = other_user.name, http_server.client(other_user)
    for key in ("tmp/a", "keep/b"):
        s3.put_object(Bucket=b, Key=key, Body=b"x")
    s3.put_bucket_policy(Bucket=b, Policy=policy(
        statement("Allow", {"AWS": name}, "s3:DeleteObject", f"arn:aws:s3:::{b}/tmp/*")))
    out = alt.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "tmp/a"}, {"Key": "keep/b"}]})
    assert [d["Key"] for d in out.get("Deleted", [])] == ["tmp/a"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("keep/b", "AccessDenied")]
    # An explicit Deny holds for the owner's batch deletes too.
    s3.put_bucket_policy(Bucket=b, Policy=policy(statement("Deny", "*", "s3:DeleteObject", f"arn:aws:s3:::{b}/keep/*")))
    out = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "keep/b"}]})
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("keep/b", "AccessDenied")]
    s3.delete_bucket_policy(Bucket=b)
    assert s3.get_object(Bucket=b, Key="keep/b")["Body"].read() == b"x"
