"""GetBucketUsage, Coffer's own bucket subresource (`GET /BUCKET?coffer-usage`): the object
count and bytes of a bucket, current after every write, for exactly the callers that may list
the bucket (s3:ListBucket through ownership, a bucket policy or an ACL), AccessDenied for the
rest. The web console's bucket list shows these figures."""

from __future__ import annotations

import urllib3
from botocore import UNSIGNED

from harness import bucket_usage, bucket_usage_request, coffer_admin, create_user, policy, statement


def refusal(client, bucket) -> str:
    r = bucket_usage_request(client, bucket)
    assert r.status >= 400, r.data
    return f"{r.status} {r.data.decode()}"


def test_owner_sees_current_counts(http_server, http_bucket):
    s3, b = http_server.client(), http_bucket
    assert bucket_usage(s3, b) == {"Objects": 0, "Versions": 0, "DeleteMarkers": 0, "LogicalBytes": 0}
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=b, Key="a", Body=b"x" * 1000)
    s3.put_object(Bucket=b, Key="a", Body=b"y" * 500)
    s3.put_object(Bucket=b, Key="b/c", Body=b"z" * 24)
    assert bucket_usage(s3, b) == {"Objects": 2, "Versions": 3, "DeleteMarkers": 0, "LogicalBytes": 1524}
    s3.delete_object(Bucket=b, Key="b/c")
    assert bucket_usage(s3, b) == {"Objects": 1, "Versions": 3, "DeleteMarkers": 1, "LogicalBytes": 1524}
    coffer_admin(http_server, "bucket", "quota", b, "--max-bytes", "1MiB", "--max-objects", "10")
    assert bucket_usage(s3, b) == {"Objects": 1, "Versions": 3, "DeleteMarkers": 1, "LogicalBytes": 1524,
                                   "MaxBytes": 1024 * 1024, "MaxObjects": 10}


def test_only_callers_who_may_list_the_bucket(http_server, http_bucket):
    s3, b = http_server.client(), http_bucket
    s3.put_object(Bucket=b, Key="k", Body=b"v")
    stranger = http_server.client(create_user(http_server, "usage"))
    anonymous = http_server.client(signature_version=UNSIGNED)
    for who in (stranger, anonymous):
        assert "AccessDenied" in refusal(who, b)

    # s3:ListBucket granted by the bucket policy lets the user in, and nothing else does.
    canonical = stranger.list_buckets()["Owner"]["ID"]
    arn = f"arn:aws:s3:::{b}"
    s3.put_bucket_policy(Bucket=b, Policy=policy(statement("Allow", {"CanonicalUser": canonical}, "s3:GetObject", arn + "/*")))
    assert "AccessDenied" in refusal(stranger, b)
    s3.put_bucket_policy(Bucket=b, Policy=policy(statement("Allow", {"CanonicalUser": canonical}, "s3:ListBucket", arn)))
    assert bucket_usage(stranger, b)["Objects"] == 1
    assert stranger.list_objects_v2(Bucket=b)["KeyCount"] == 1
    assert "AccessDenied" in refusal(anonymous, b)

    # A grant limited to one prefix covers listing that prefix, not the whole bucket's totals.
    only_home = statement("Allow", {"CanonicalUser": canonical}, "s3:ListBucket", arn, {"StringEquals": {"s3:prefix": "home/"}})
    s3.put_bucket_policy(Bucket=b, Policy=policy(only_home))
    stranger.list_objects_v2(Bucket=b, Prefix="home/")
    assert "AccessDenied" in refusal(stranger, b)

    # An explicit Deny of s3:ListBucket refuses it as it refuses the listing.
    s3.put_bucket_policy(Bucket=b, Policy=policy(
        statement("Allow", {"CanonicalUser": canonical}, "s3:ListBucket", arn),
        statement("Deny", {"CanonicalUser": canonical}, "s3:ListBucket", arn)))
    assert "AccessDenied" in refusal(stranger, b)

    # Public read through the ACL: anyone may list, so anyone may count.
    s3.delete_bucket_policy(Bucket=b)
    s3.delete_public_access_block(Bucket=b)
    s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.put_bucket_acl(Bucket=b, ACL="public-read")
    assert bucket_usage(anonymous, b)["Objects"] == 1


def test_errors(http_server, http_bucket):
    assert "NoSuchBucket" in refusal(http_server.client(), "no-such-bucket-here")
    put = urllib3.PoolManager(retries=False).request("PUT", f"{http_server.endpoint}/{http_bucket}?coffer-usage")
    assert put.status == 405 and b"MethodNotAllowed" in put.data
