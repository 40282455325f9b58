"""The authorization sweep: every operation of the router (`Operation` in
server/src/http/router.rs) is sent anonymously and as a signed-in user without grants against
another owner's bucket, objects and upload, and must be refused unless S3 allows it (each
exception says why). The server's log shows which operation each request was routed to, so
every entry is proved to reach the handler it names. A unit test in the server crate
(`every_operation_is_in_the_authorization_sweep`) fails when a variant has no entry in SWEEP."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Callable

import boto3
import pytest
import urllib3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import REGION, bucket_usage_request, create_user, policy, random_bucket_name, start_server, statement, stop_server

DENIED = "AccessDenied"  # 403 AccessDenied (403 with no body for HEAD requests)
ALLOWED = "allowed"  # 2xx
KEYS_DENIED = "per-key AccessDenied"  # 200 whose body refuses every key and deletes none


@dataclass
class Case:
    """One operation: the boto3 parameters besides Bucket (callables get the fixture), or a
    `call` for requests boto3 cannot make by the operation's name, and what an anonymous
    caller and a signed-in user without grants get."""

    params: dict = field(default_factory=dict)
    anonymous: str = DENIED
    other: str = DENIED
    why: str = ""
    call: Callable | None = None


def send(name: str, case: Case, client, f):
    """Sends operation `name` with `client` (boto3's method is its snake_case name)."""
    if case.call:
        return case.call(client, f)
    params = {"Bucket": f.bucket, **{k: v(f) if callable(v) else v for k, v in case.params.items()}}
    return getattr(client, re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower())(**params)


def _post_form(c, f):
    """PostObject: a browser form, signed by `c`'s user (anonymous: no policy, no signature)."""
    if c.meta.config.signature_version is UNSIGNED:
        fields = {"key": "posted"}
    else:
        post = c.generate_presigned_post(f.bucket, "posted")
        fields = post["fields"]
    return urllib3.PoolManager(retries=False).request(
        "POST", f"{f.endpoint}/{f.bucket}", fields={**fields, "file": ("f.txt", b"posted")})


def _preflight(c, f):
    return urllib3.PoolManager(retries=False).request("OPTIONS", f"{f.endpoint}/{f.bucket}/obj", headers={
        "Origin": "https://allowed.example", "Access-Control-Request-Method": "GET"})


PUBLIC_ACCESS_OFF = {k: False for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}
CORS = {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["https://allowed.example"]}]}
SSE = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
LIFECYCLE = {"Rules": [{"ID": "old-logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 365}}]}
TAGS = {"TagSet": [{"Key": "k", "Value": "v"}]}
REPLICATION = {"Role": "arn:aws:iam::1:role/r", "Rules": [{"ID": "r", "Priority": 1, "Status": "Enabled", "Filter": {},
               "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": "arn:aws:s3:::elsewhere"}}]}
OWNERSHIP = {"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
WEBSITE = {"IndexDocument": {"Suffix": "index.html"}}

OBJ = {"Key": "obj"}
MP = {"Key": "mp", "UploadId": lambda f: f.upload_id}
COPY_SOURCE = lambda f: {"Bucket": f.bucket, "Key": "obj"}  # noqa: E731

SWEEP: dict[str, Case] = {
    "ListBuckets": Case(call=lambda c, f: c.list_buckets(), other=ALLOWED,
                        why="any signed-in user lists buckets; the list holds only their own (checked below)"),
    "CreateBucket": Case(other="BucketAlreadyExists",
                         why="any signed-in user may create buckets; a taken name is 409, never a takeover"),
    "DeleteBucket": Case(),
    "HeadBucket": Case(),
    "GetBucketLocation": Case(),
    "GetBucketVersioning": Case(),
    "PutBucketVersioning": Case({"VersioningConfiguration": {"Status": "Suspended"}}),
    "GetBucketAcl": Case(),
    "PutBucketAcl": Case({"ACL": "private"}),
    "PostObject": Case(call=_post_form),
    "GetBucketPolicy": Case(),
    "PutBucketPolicy": Case({"Policy": lambda f: f.policy}),
    "DeleteBucketPolicy": Case(),
    "GetBucketPolicyStatus": Case(),
    "GetBucketWebsite": Case(),
    "PutBucketWebsite": Case({"WebsiteConfiguration": WEBSITE}),
    "DeleteBucketWebsite": Case(),
    "GetBucketLogging": Case(),
    "PutBucketLogging": Case({"BucketLoggingStatus": lambda f: {"LoggingEnabled": {"TargetBucket": f.bucket, "TargetPrefix": "stolen/"}}}),
    "GetBucketOwnershipControls": Case(),
    "PutBucketOwnershipControls": Case({"OwnershipControls": OWNERSHIP}),
    "DeleteBucketOwnershipControls": Case(),
    "GetPublicAccessBlock": Case(),
    "PutPublicAccessBlock": Case({"PublicAccessBlockConfiguration": PUBLIC_ACCESS_OFF}),
    "DeletePublicAccessBlock": Case(),
    "GetBucketEncryption": Case(),
    "PutBucketEncryption": Case({"ServerSideEncryptionConfiguration": SSE}),
    "DeleteBucketEncryption": Case(),
    "GetBucketCors": Case(),
    "PutBucketCors": Case({"CORSConfiguration": CORS}),
    "DeleteBucketCors": Case(),
    "GetBucketLifecycleConfiguration": Case(),
    "PutBucketLifecycleConfiguration": Case({"LifecycleConfiguration": LIFECYCLE}),
    "DeleteBucketLifecycle": Case(),
    "GetBucketNotificationConfiguration": Case(),
    "PutBucketNotificationConfiguration": Case({"NotificationConfiguration": {}}),
    "GetBucketReplication": Case(),
    "PutBucketReplication": Case({"ReplicationConfiguration": REPLICATION}),
    "DeleteBucketReplication": Case(),
    "CorsPreflight": Case(call=_preflight, anonymous=ALLOWED, other=ALLOWED,
                          why="browsers send preflights without credentials (S3 too); it only tells "
                              "the bucket's CORS rule for that origin, and grants nothing"),
    "GetObjectTagging": Case(OBJ),
    "PutObjectTagging": Case({**OBJ, "Tagging": TAGS}),
    "DeleteObjectTagging": Case(OBJ),
    "GetBucketTagging": Case(),
    "PutBucketTagging": Case({"Tagging": TAGS}),
    "DeleteBucketTagging": Case(),
    "GetObjectAcl": Case(OBJ),
    "PutObjectAcl": Case({**OBJ, "ACL": "private"}),
    "ListObjects": Case(),
    "ListObjectsV2": Case(),
    "ListObjectVersions": Case(),
    "DeleteObjects": Case({"Delete": {"Objects": [OBJ]}}, anonymous=KEYS_DENIED, other=KEYS_DENIED,
                          why="S3 answers a batch delete 200 and refuses each key in the body"),
    "GetObject": Case(OBJ),
    "HeadObject": Case(OBJ),
    "PutObject": Case({**OBJ, "Body": b"overwritten"}),
    "CopyObject": Case({"Key": "copy", "CopySource": COPY_SOURCE}),
    "DeleteObject": Case(OBJ),
    "GetObjectAttributes": Case({**OBJ, "ObjectAttributes": ["ETag"]}),
    "ListMultipartUploads": Case(),
    "CreateMultipartUpload": Case({"Key": "mp2"}),
    "UploadPart": Case({**MP, "PartNumber": 2, "Body": b"x"}),
    "UploadPartCopy": Case({**MP, "PartNumber": 3, "CopySource": COPY_SOURCE}),
    "CompleteMultipartUpload": Case({**MP, "MultipartUpload": lambda f: {"Parts": [{"PartNumber": 1, "ETag": f.part_etag}]}}),
    "AbortMultipartUpload": Case(MP),
    "ListParts": Case(MP),
    "RestoreObject": Case({**OBJ, "RestoreRequest": {"Days": 1}}),
    "GetObjectLockConfiguration": Case(),
    "PutObjectLockConfiguration": Case({"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}}),
    "GetObjectRetention": Case(OBJ),
    "PutObjectRetention": Case({**OBJ, "Retention": {"Mode": "COMPLIANCE", "RetainUntilDate": datetime(2100, 1, 1, tzinfo=timezone.utc)}}),
    "GetObjectLegalHold": Case(OBJ),
    "PutObjectLegalHold": Case({**OBJ, "LegalHold": {"Status": "ON"}}),
    "GetBucketUsage": Case(call=lambda c, f: bucket_usage_request(c, f.bucket)),
    "NotImplemented": Case(call=lambda c, f: c.get_bucket_request_payment(Bucket=f.bucket),
                           anonymous="NotImplemented", other="NotImplemented",
                           why="operations Coffer lacks answer 501 to everyone before any handler runs: "
                               "nothing is read or changed, not even whether the bucket exists"),
}


@pytest.fixture(scope="module")
def sweep_server(tmp_root):
    # The server logs which operation each request id was routed to.
    saved = os.environ.get("COFFER_LOG")
    os.environ["COFFER_LOG"] = "info,coffer_server::entry=debug"
    try:
        srv = start_server(tmp_root, "http")
    finally:
        if saved is None:
            os.environ.pop("COFFER_LOG")
        else:
            os.environ["COFFER_LOG"] = saved
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def owned(sweep_server):
    """A bucket of root's with an object, every configuration set, and an upload in progress."""
    s3 = sweep_server.client()
    b = random_bucket_name("sweep")
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=b, Key="obj", Body=b"owner's data", Tagging="k=v")
    s3.put_bucket_tagging(Bucket=b, Tagging=TAGS)
    s3.put_bucket_cors(Bucket=b, CORSConfiguration=CORS)
    s3.put_bucket_website(Bucket=b, WebsiteConfiguration=WEBSITE)
    s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration=SSE)
    s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration=LIFECYCLE)
    s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls=OWNERSHIP)
    s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=PUBLIC_ACCESS_OFF)
    # A policy that grants nobody anything (so reading it is not NoSuchBucketPolicy).
    doc = policy(statement("Deny", {"AWS": "arn:aws:iam::nobody:root"}, "s3:*", [f"arn:aws:s3:::{b}/*"]))
    s3.put_bucket_policy(Bucket=b, Policy=doc)
    upload_id = s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=b, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"p" * 100)["ETag"]
    return SimpleNamespace(bucket=b, upload_id=upload_id, part_etag=etag, policy=doc, endpoint=sweep_server.endpoint)


def anonymous_client(srv):
    return boto3.client("s3", endpoint_url=srv.endpoint, region_name=REGION, config=Config(
        signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"}))


def outcome(call) -> tuple[int, str, str]:
    """(HTTP status, S3 error code or ALLOWED, request id) of a boto3 call or raw request."""
    try:
        r = call()
    except ClientError as e:
        meta = e.response["ResponseMetadata"]
        code = e.response.get("Error", {}).get("Code", "")
        # HEAD errors have no body; botocore names them by their status.
        code = DENIED if code == "403" else code
        return meta["HTTPStatusCode"], code, meta.get("RequestId") or meta["HTTPHeaders"].get("x-amz-request-id", "")
    if isinstance(r, urllib3.BaseHTTPResponse):
        found = re.search(rb"<Code>([^<]+)</Code>", r.data)
        code = found.group(1).decode() if r.status >= 300 and found else (ALLOWED if r.status < 300 else str(r.status))
        return r.status, code, r.headers.get("x-amz-request-id", "")
    code = ALLOWED
    if r.get("Errors") and not r.get("Deleted"):
        code = "per-key " + ",".join(sorted({e["Code"] for e in r["Errors"]}))
    return r["ResponseMetadata"]["HTTPStatusCode"], code, r["ResponseMetadata"]["RequestId"]


def routed_operations(srv) -> dict[str, str]:
    """Request id -> operation name, from the server's debug log."""
    log = srv.log_since(0, limit=10**9)
    return dict(re.findall(r'request\{id=([0-9A-F]+)\}.*?routed operation="(\w+)"', log))


def test_every_operation_refuses_strangers(sweep_server, owned):
    other = create_user(sweep_server, "stranger")
    callers = {"anonymous": anonymous_client(sweep_server), "other": sweep_server.client(other)}
    results = []
    for name, case in SWEEP.items():
        for who, client in callers.items():
            expected = case.anonymous if who == "anonymous" else case.other
            status, code, request_id = outcome(lambda: send(name, case, client, owned))
            results.append((name, who, expected, status, code, request_id))
    time.sleep(0.2)  # let the log reach the file
    routed = routed_operations(sweep_server)
    failures = []
    for name, who, expected, status, code, request_id in results:
        if code != expected or (expected == DENIED and status != 403):
            failures.append(f"{name} as {who}: expected {expected}, got {status} {code}")
        if routed.get(request_id) != name:
            failures.append(f"{name} as {who}: the request was routed to {routed.get(request_id)!r}")
    assert not failures, "\n".join(failures)


def test_nothing_of_the_owner_changed(sweep_server, owned):
    """Run after the sweep: every refused request left the owner's data as it was."""
    s3 = sweep_server.client()
    b = owned.bucket
    assert s3.get_object(Bucket=b, Key="obj")["Body"].read() == b"owner's data"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", [])]
    assert keys == ["obj"]
    assert len(s3.list_object_versions(Bucket=b).get("Versions", [])) == 1
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    assert s3.get_object_tagging(Bucket=b, Key="obj")["TagSet"] == TAGS["TagSet"]
    assert s3.get_bucket_tagging(Bucket=b)["TagSet"] == TAGS["TagSet"]
    assert json.loads(s3.get_bucket_policy(Bucket=b)["Policy"]) == json.loads(owned.policy)
    assert s3.get_bucket_cors(Bucket=b)["CORSRules"][0]["AllowedOrigins"] == ["https://allowed.example"]
    assert s3.get_bucket_website(Bucket=b)["IndexDocument"] == WEBSITE["IndexDocument"]
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=b)
    assert s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"] == PUBLIC_ACCESS_OFF
    assert s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"] == LIFECYCLE["Rules"]
    uploads = s3.list_multipart_uploads(Bucket=b).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp", owned.upload_id)]
    parts = s3.list_parts(Bucket=b, Key="mp", UploadId=owned.upload_id).get("Parts", [])
    assert [p["PartNumber"] for p in parts] == [1]
    grants = s3.get_bucket_acl(Bucket=b)["Grants"]
    assert len(grants) == 1 and grants[0]["Permission"] == "FULL_CONTROL"


def test_strangers_list_only_their_own_buckets(sweep_server, owned):
    other = create_user(sweep_server, "lister")
    names = [b["Name"] for b in sweep_server.client(other).list_buckets()["Buckets"]]
    assert owned.bucket not in names
