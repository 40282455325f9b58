"""ACLs and Block Public Access with boto3: public grants open a bucket and an object to
anonymous readers; BlockPublicAcls refuses new public grants and IgnorePublicAcls stops the
existing ones from counting."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from harness import anonymous_get


def test_public_acls_and_block_public_access(http_server, http_bucket):
    s3 = http_server.client()
    b = http_bucket
    s3.put_object(Bucket=b, Key="open.txt", Body=b"hi", ACL="public-read")
    s3.put_object(Bucket=b, Key="closed.txt", Body=b"no")
    assert anonymous_get(http_server, f"/{b}/open.txt") == 200
    assert anonymous_get(http_server, f"/{b}/closed.txt") == 403
    assert anonymous_get(http_server, f"/{b}?list-type=2") == 403
    s3.put_bucket_acl(Bucket=b, ACL="public-read")
    assert anonymous_get(http_server, f"/{b}?list-type=2") == 200
    grants = s3.get_bucket_acl(Bucket=b)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") and g["Permission"] == "READ" for g in grants)

    with pytest.raises(ClientError) as e:
        s3.get_public_access_block(Bucket=b)
    assert e.value.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration"
    conf = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=conf)
    assert s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"] == conf
    for acl in ["public-read", "public-read-write", "authenticated-read"]:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=b, Key="new.txt", Body=b"x", ACL=acl)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with pytest.raises(ClientError) as e:
            s3.put_bucket_acl(Bucket=b, ACL=acl)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    s3.put_object(Bucket=b, Key="new.txt", Body=b"x", ACL="private")
    # Existing public grants still count until IgnorePublicAcls.
    assert anonymous_get(http_server, f"/{b}/open.txt") == 200
    conf["IgnorePublicAcls"] = True
    s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=conf)
    assert anonymous_get(http_server, f"/{b}/open.txt") == 403
    assert anonymous_get(http_server, f"/{b}?list-type=2") == 403
    s3.delete_public_access_block(Bucket=b)
    assert anonymous_get(http_server, f"/{b}/open.txt") == 200


def test_bad_canned_acl_is_invalid_argument(http_server, http_bucket):
    s3 = http_server.client()

    def bad_acl(request, **kwargs):
        del request.headers["x-amz-acl"]
        request.headers["x-amz-acl"] = "public-ready"

    s3.meta.events.register("before-sign.s3.PutBucketAcl", bad_acl)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket=http_bucket, ACL="public-read")
    assert (e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidArgument", 400)


def test_object_ownership_controls(http_server, http_bucket):
    s3 = http_server.client()
    b = http_bucket

    def code(excinfo):
        return excinfo.value.response["Error"]["Code"], excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]

    with pytest.raises(ClientError) as e:
        s3.get_bucket_ownership_controls(Bucket=b)
    assert code(e) == ("OwnershipControlsNotFoundError", 404)
    enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    s3.put_bucket_acl(Bucket=b, ACL="public-read")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls=enforced)
    assert code(e) == ("InvalidBucketAclWithObjectOwnership", 400)
    s3.put_bucket_acl(Bucket=b, ACL="private")
    s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls=enforced)
    rules = s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    # ACLs are off: only the owner's own control is accepted.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=b, Key="k", Body=b"x", ACL="public-read")
    assert code(e) == ("AccessControlListNotSupported", 400)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket=b, ACL="public-read")
    assert code(e) == ("AccessControlListNotSupported", 400)
    s3.put_object(Bucket=b, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    s3.delete_bucket_ownership_controls(Bucket=b)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_ownership_controls(Bucket=b)
    assert code(e) == ("OwnershipControlsNotFoundError", 404)

    created = b + "-own"
    s3.create_bucket(Bucket=created, ObjectOwnership="BucketOwnerPreferred")
    try:
        assert s3.get_bucket_ownership_controls(Bucket=created)["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerPreferred"
    finally:
        s3.delete_bucket(Bucket=created)
