"""The root user's HTTP admin API (`/_admin/…` on the S3 port): users and their keys, KMS
keys, remotes and tiers as JSON, each request signed with SigV4 (botocore's signer over a
raw request); anyone but the root user gets S3's AccessDenied with a request id. Runs on the
PostgreSQL index too (COFFER_TEST_METADATA=postgres)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import botocore.exceptions
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import REGION, User, coffer_admin, create_user, random_bucket_name, start_server, stop_server, wait_until


@pytest.fixture(scope="module")
def server(tmp_root):
    srv = start_server(tmp_root, "http")
    yield srv
    stop_server(srv)


def admin(srv, method: str, path: str, body=None, access_key: str | None = None, secret_key: str | None = None,
          endpoint: str | None = None):
    """A signed admin request: (status, headers, parsed JSON or XML error fields, raw bytes)."""
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = AWSRequest(method=method, url=(endpoint or srv.endpoint) + path, data=data,
                         headers={"content-type": "application/json"} if data else {})
    if access_key != "":
        creds = Credentials(access_key or srv.access_key, secret_key or srv.secret_key)
        S3SigV4Auth(creds, "s3", REGION).add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=prepared.body or None, method=method, headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(raw, timeout=30) as r:
            status, headers, content = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, content = e.code, e.headers, e.read()
    if content.startswith(b"<?xml"):
        root = ET.fromstring(content)
        parsed = {child.tag: child.text for child in root}
    else:
        parsed = json.loads(content) if content else None
    return status, headers, parsed


def user_client(srv, access_key, secret_key):
    return srv.client(User("x", access_key, secret_key))


def signs(srv, access_key, secret_key) -> bool:
    try:
        user_client(srv, access_key, secret_key).list_buckets()
        return True
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidAccessKeyId", e.response
        return False


def test_users_and_keys(server):
    name = "api-" + uuid.uuid4().hex[:8]
    status, _, new = admin(server, "POST", "/_admin/users", {"name": name})
    assert status == 201 and new["user"] == name and len(new["secret_key"]) == 40
    assert signs(server, new["access_key"], new["secret_key"])
    s3 = user_client(server, new["access_key"], new["secret_key"])
    bucket = random_bucket_name("adminapi")
    s3.create_bucket(Bucket=bucket)

    status, _, users = admin(server, "GET", "/_admin/users")
    assert status == 200
    mine = next(u for u in users if u["name"] == name)
    assert mine["enabled"] and mine["buckets"] == 1
    assert [(k["access_key"], k["enabled"]) for k in mine["access_keys"]] == [(new["access_key"], True)]
    assert all("secret" not in json.dumps(u) for u in users)
    # The CLI sees the same store.
    listed = json.loads(coffer_admin(server, "user", "list", "--json").stdout)
    assert name in [u["name"] for u in listed]

    # A second key, then a rotation of the first: the new key signs, the old one is disabled.
    status, _, second = admin(server, "POST", f"/_admin/users/{name}/keys")
    assert status == 201 and second["user"] == name
    status, _, rotated = admin(server, "POST", f"/_admin/keys/{new['access_key']}/rotate")
    assert status == 201 and rotated["user"] == name and rotated["access_key"] != new["access_key"]
    assert signs(server, rotated["access_key"], rotated["secret_key"])
    wait_until(lambda: not signs(server, new["access_key"], new["secret_key"]), 10, "the rotated-out key refused")
    _, _, info = admin(server, "GET", f"/_admin/users/{name}")
    assert sorted((k["access_key"], k["enabled"]) for k in info["access_keys"]) == sorted(
        [(new["access_key"], False), (second["access_key"], True), (rotated["access_key"], True)])

    # Disabling the user disables every key; enabling turns them all back on.
    status, _, keys = admin(server, "POST", f"/_admin/users/{name}/disable")
    assert status == 200 and not any(k["enabled"] for k in keys)
    wait_until(lambda: not signs(server, second["access_key"], second["secret_key"]), 10, "a disabled user's key refused")
    _, _, users = admin(server, "GET", "/_admin/users")
    assert not next(u for u in users if u["name"] == name)["enabled"]
    admin(server, "POST", f"/_admin/users/{name}/enable")
    wait_until(lambda: signs(server, second["access_key"], second["secret_key"]), 10, "an enabled user's key signs")

    # One key disabled, enabled and deleted by itself.
    status, _, key = admin(server, "POST", f"/_admin/keys/{second['access_key']}/disable")
    assert status == 200 and key == {**key, "access_key": second["access_key"], "enabled": False}
    assert admin(server, "POST", f"/_admin/keys/{second['access_key']}/enable")[2]["enabled"]
    assert admin(server, "DELETE", f"/_admin/keys/{second['access_key']}")[0] == 204
    status, _, err = admin(server, "DELETE", f"/_admin/keys/{second['access_key']}")
    assert (status, err["Code"]) == (404, "NoSuchEntity")

    # A user who owns a bucket is not deleted; root never is.
    status, _, err = admin(server, "DELETE", f"/_admin/users/{name}")
    assert (status, err["Code"]) == (409, "EntityConflict") and bucket in err["Message"]
    status, _, err = admin(server, "DELETE", "/_admin/users/root")
    assert (status, err["Code"]) == (409, "EntityConflict")
    assert admin(server, "POST", "/_admin/users/root/disable")[0] == 409
    s3.delete_bucket(Bucket=bucket)
    assert admin(server, "DELETE", f"/_admin/users/{name}")[0] == 204
    status, _, err = admin(server, "GET", f"/_admin/users/{name}")
    assert (status, err["Code"]) == (404, "NoSuchEntity")
    assert not signs(server, rotated["access_key"], rotated["secret_key"])

    # Chosen keys, a taken name, a bad name.
    ak, sk = "AK" + uuid.uuid4().hex[:12].upper(), uuid.uuid4().hex
    status, _, chosen = admin(server, "POST", "/_admin/users", {"name": name, "access_key": ak, "secret_key": sk})
    assert status == 201 and (chosen["access_key"], chosen["secret_key"]) == (ak, sk)
    assert signs(server, ak, sk)
    status, _, err = admin(server, "POST", "/_admin/users", {"name": name})
    assert (status, err["Code"]) == (409, "EntityConflict")
    status, _, err = admin(server, "POST", "/_admin/users", {"name": "no spaces"})
    assert (status, err["Code"]) == (400, "InvalidArgument")
    assert admin(server, "DELETE", f"/_admin/users/{name}")[0] == 204


def test_anyone_but_root_is_refused(server):
    """A user's own signature, an anonymous request and a wrong secret all fail, with S3's XML
    error body and a request id; nothing is changed."""
    user = create_user(server, "notroot")
    for method, path, body in [("GET", "/_admin/users", None), ("POST", "/_admin/users", {"name": "sneaky"}),
                               ("POST", "/_admin/kms", {"name": "sneaky"}), ("GET", "/_admin/remotes", None),
                               ("DELETE", "/_admin/users/root", None), ("GET", "/_admin/nothing-here", None)]:
        status, headers, err = admin(server, method, path, body, user.access_key, user.secret_key)
        assert (status, err["Code"]) == (403, "AccessDenied"), (method, path, err)
        assert err["RequestId"] and err["RequestId"] == headers["x-amz-request-id"]
    status, _, err = admin(server, "GET", "/_admin/users", access_key="")
    assert (status, err["Code"]) == (403, "AccessDenied")
    status, _, err = admin(server, "GET", "/_admin/users", secret_key="wrong-secret-wrong-secret")
    assert (status, err["Code"]) == (403, "SignatureDoesNotMatch")
    _, _, users = admin(server, "GET", "/_admin/users")
    assert "sneaky" not in [u["name"] for u in users]
    _, _, keys = admin(server, "GET", "/_admin/kms")
    assert "sneaky" not in [k["name"] for k in keys]


def test_malformed_requests(server):
    status, _, err = admin(server, "GET", "/_admin/nothing-here")
    assert (status, err["Code"]) == (404, "UnknownOperation")
    status, headers, err = admin(server, "PUT", "/_admin/users")
    assert (status, err["Code"]) == (405, "MethodNotAllowed") and headers["allow"] == "GET, POST"
    status, _, err = admin(server, "POST", "/_admin/users", b"{not json")
    assert (status, err["Code"]) == (400, "MalformedJSON")
    status, _, err = admin(server, "POST", "/_admin/users", {"name": "x", "admin": True})
    assert (status, err["Code"]) == (400, "MalformedJSON")
    # `_admin` is no bucket: S3 requests around it are unaffected.
    with pytest.raises(botocore.exceptions.ClientError):
        server.client().head_bucket(Bucket="_admin")


def test_kms_keys(server):
    name = "api-" + uuid.uuid4().hex[:8]
    status, _, key = admin(server, "POST", "/_admin/kms", {"name": name})
    assert status == 201 and key["name"] == name and key["enabled"] and key["version"] == 1
    assert key["arn"].endswith(key["id"])
    status, _, err = admin(server, "POST", "/_admin/kms", {"name": name})
    assert (status, err["Code"]) == (409, "EntityConflict")
    status, _, err = admin(server, "POST", "/_admin/kms", {"name": "bad name!"})
    assert (status, err["Code"]) == (400, "InvalidArgument")
    status, _, err = admin(server, "POST", "/_admin/kms/missing-key/rotate")
    assert (status, err["Code"]) == (404, "NoSuchEntity")

    s3 = server.client()
    bucket = random_bucket_name("adminkms")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret", ServerSideEncryption="aws:kms", SSEKMSKeyId=name)
    status, _, rotated = admin(server, "POST", f"/_admin/kms/{name}/rotate")
    assert status == 200 and rotated["version"] == 2
    assert admin(server, "POST", f"/_admin/kms/{key['id']}/disable")[2]["enabled"] is False
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert e.value.response["Error"]["Code"].startswith("KMS")
    _, _, keys = admin(server, "GET", "/_admin/kms")
    assert [(k["name"], k["enabled"], k["version"]) for k in keys if k["name"] == name] == [(name, False, 2)]
    assert admin(server, "POST", f"/_admin/kms/alias%2F{name}/enable")[2]["enabled"] is True
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"
    # The CLI sees the same keyring.
    assert name in coffer_admin(server, "kms", "list").stdout
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


def test_remotes_and_tiers(server, tmp_path):
    """A remote (this server itself, with the root keys) is added without its secret ever
    coming back, a tier on it and a directory tier are registered and listed, and removing a
    remote a tier uses is refused."""
    s3 = server.client()
    bucket = random_bucket_name("admintier")
    s3.create_bucket(Bucket=bucket)
    remote = "self-" + uuid.uuid4().hex[:6]
    spec = {"name": remote, "endpoint": server.endpoint, "access_key": server.access_key, "secret_key": server.secret_key}
    status, _, added = admin(server, "POST", "/_admin/remotes", spec)
    assert status == 201 and added["name"] == remote and added["path_style"] is True and "secret_key" not in added
    status, _, remotes = admin(server, "GET", "/_admin/remotes")
    assert status == 200 and remote in [r["name"] for r in remotes]
    assert server.secret_key not in json.dumps(remotes)
    status, _, err = admin(server, "POST", "/_admin/remotes", {**spec, "endpoint": "ftp://x"})
    assert (status, err["Code"]) == (400, "InvalidArgument")

    tier = {"name": "cold-" + uuid.uuid4().hex[:6], "kind": "remote", "remote": remote, "bucket": bucket,
            "prefix": "t/", "storage_classes": ["GLACIER_IR"]}
    status, _, added = admin(server, "POST", "/_admin/tiers", tier)
    assert status == 201 and added["remote"] == remote
    local = {"name": "disk-" + uuid.uuid4().hex[:6], "kind": "dir", "path": str(tmp_path / "tier"),
             "storage_classes": ["DEEP_ARCHIVE"], "archive": True}
    assert admin(server, "POST", "/_admin/tiers", local)[0] == 201
    assert (tmp_path / "tier").is_dir()
    _, _, tiers = admin(server, "GET", "/_admin/tiers")
    names = {t["name"]: t for t in tiers}
    assert names[tier["name"]]["storage_classes"] == ["GLACIER_IR"] and names[local["name"]]["archive"] is True
    status, _, err = admin(server, "POST", "/_admin/tiers", {**tier, "name": "x1", "storage_classes": ["COLD"]})
    assert (status, err["Code"]) == (400, "InvalidArgument")
    status, _, err = admin(server, "POST", "/_admin/tiers", {**tier, "name": "x2", "bucket": random_bucket_name("none")})
    assert (status, err["Code"]) == (400, "InvalidArgument")
    status, _, err = admin(server, "POST", "/_admin/tiers", {**local, "path": "relative/dir"})
    assert (status, err["Code"]) == (400, "InvalidArgument")
    status, _, err = admin(server, "DELETE", f"/_admin/remotes/{remote}")
    assert (status, err["Code"]) == (409, "EntityConflict")

    assert admin(server, "DELETE", f"/_admin/tiers/{tier['name']}")[0] == 204
    assert admin(server, "DELETE", f"/_admin/tiers/{local['name']}")[0] == 204
    status, _, err = admin(server, "DELETE", f"/_admin/tiers/{tier['name']}")
    assert (status, err["Code"]) == (404, "NoSuchEntity")
    assert admin(server, "DELETE", f"/_admin/remotes/{remote}")[0] == 204
    _, _, remotes = admin(server, "GET", "/_admin/remotes")
    assert remote not in [r["name"] for r in remotes]
    s3.delete_bucket(Bucket=bucket)
