"""The admin CLI against a running server: users (list, info, delete refused while they own
buckets), access keys (several per user; disable, enable and delete seen by the server within
two seconds as 403 InvalidAccessKeyId; a user's keys all at once; rotation), buckets (list, info with logical and stored bytes),
`coffer admin info`, JSON and table output, and `--config` read as `serve` reads it."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from harness import User, coffer_admin, coffer_binary, create_user, empty_and_delete_bucket, random_bucket_name, run_cli

# The server trusts a looked-up key for a second; allow a busy machine some more.
KEY_CHANGE_S = 2.5


def admin_json(server, *args):
    return json.loads(coffer_admin(server, *args, "--json").stdout)


def error_code(call) -> str:
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return "OK"


def settles(check, want, within=KEY_CHANGE_S):
    """Polls `check()` until it returns `want` (it must within `within` seconds); returns how long it took."""
    start = time.monotonic()
    while True:
        got = check()
        if got == want:
            return time.monotonic() - start
        assert time.monotonic() - start < within, f"still {got!r} after {within}s (want {want!r})"
        time.sleep(0.1)


def test_users_list_info_and_delete(http_server):
    user = create_user(http_server, "cli")
    listed = {u["name"]: u for u in admin_json(http_server, "user", "list")}
    assert listed[user.name]["keys"] == 1 and listed[user.name]["buckets"] == 0
    assert "root" in listed
    table = coffer_admin(http_server, "user", "list").stdout
    assert table.splitlines()[0].split()[:2] == ["NAME", "KEYS"] and user.name in table

    client = http_server.client(user)
    bucket = random_bucket_name()
    client.create_bucket(Bucket=bucket)
    info = admin_json(http_server, "user", "info", user.name)
    assert info["bucket_names"] == [bucket]
    assert [k["access_key"] for k in info["access_keys"]] == [user.access_key]
    assert info["mfa_serial"] is None

    refused = coffer_admin(http_server, "user", "delete", user.name, check=False)
    assert refused.returncode != 0
    assert f"still owns 1 bucket(s): {bucket}" in refused.stderr
    assert error_code(lambda: client.head_bucket(Bucket=bucket)) == "OK", "a refused delete changes nothing"

    client.delete_bucket(Bucket=bucket)
    coffer_admin(http_server, "user", "delete", user.name)
    assert user.name not in {u["name"] for u in admin_json(http_server, "user", "list")}
    settles(lambda: error_code(client.list_buckets), "InvalidAccessKeyId")
    missing = coffer_admin(http_server, "user", "info", user.name, check=False)
    assert missing.returncode != 0 and f"no user called {user.name}" in missing.stderr
    root = coffer_admin(http_server, "user", "delete", "root", check=False)
    assert root.returncode != 0 and "cannot be deleted" in root.stderr


def test_key_rotation_without_downtime(http_server):
    old = create_user(http_server, "rot")
    new_key = admin_json(http_server, "key", "create", old.name)
    assert new_key["user"] == old.name and len(new_key["secret_key"]) == 40
    new = User(old.name, new_key["access_key"], new_key["secret_key"])
    old_client, new_client = http_server.client(old), http_server.client(new)
    bucket = random_bucket_name()
    old_client.create_bucket(Bucket=bucket)
    try:
        assert [b["Name"] for b in new_client.list_buckets()["Buckets"]] == [bucket], "both keys are the same user"
        keys = {k["access_key"]: k for k in admin_json(http_server, "key", "list", old.name)}
        assert set(keys) == {old.access_key, new.access_key} and all(k["enabled"] for k in keys.values())

        disabled = admin_json(http_server, "key", "disable", old.access_key)
        assert disabled["enabled"] is False
        took = settles(lambda: error_code(old_client.list_buckets), "InvalidAccessKeyId")
        print(f"disabled key refused after {took:.2f}s")
        try:
            old_client.put_object(Bucket=bucket, Key="k", Body=b"x")
        except ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert error_code(lambda: new_client.put_object(Bucket=bucket, Key="k", Body=b"x")) == "OK"
        status = {k["access_key"]: k["enabled"] for k in admin_json(http_server, "key", "list")}
        assert status[old.access_key] is False and status[new.access_key] is True
        assert "disabled" in coffer_admin(http_server, "key", "list", old.name).stdout

        coffer_admin(http_server, "key", "enable", old.access_key)
        settles(lambda: error_code(old_client.list_buckets), "OK")
        coffer_admin(http_server, "key", "delete", old.access_key)
        settles(lambda: error_code(old_client.list_buckets), "InvalidAccessKeyId")
        assert [k["access_key"] for k in admin_json(http_server, "key", "list", old.name)] == [new.access_key]
        gone = coffer_admin(http_server, "key", "disable", old.access_key, check=False)
        assert gone.returncode != 0 and "no access key" in gone.stderr
        nobody = coffer_admin(http_server, "key", "create", "nobody-" + uuid.uuid4().hex[:6], check=False)
        assert nobody.returncode != 0 and "no user called" in nobody.stderr
    finally:
        empty_and_delete_bucket(new_client, bucket)


def test_user_disable_enable_and_key_rotate(http_server):
    """`user disable|enable` turn all of a user's keys off and on (never root's); `key rotate`
    prints a new key for the same user and disables the old one."""
    user = create_user(http_server, "dis")
    second = admin_json(http_server, "key", "create", user.name)
    clients = [http_server.client(user), http_server.client(User(user.name, second["access_key"], second["secret_key"]))]
    keys = admin_json(http_server, "user", "disable", user.name)
    assert sorted(k["access_key"] for k in keys if not k["enabled"]) == sorted([user.access_key, second["access_key"]])
    for client in clients:
        settles(lambda c=client: error_code(c.list_buckets), "InvalidAccessKeyId")
    coffer_admin(http_server, "user", "enable", user.name)
    for client in clients:
        settles(lambda c=client: error_code(c.list_buckets), "OK")
    refused = coffer_admin(http_server, "user", "disable", "root", check=False)
    assert refused.returncode != 0 and "cannot be disabled" in refused.stderr

    rotated = admin_json(http_server, "key", "rotate", user.access_key)
    assert rotated["user"] == user.name and len(rotated["secret_key"]) == 40
    settles(lambda: error_code(clients[0].list_buckets), "InvalidAccessKeyId")
    new_client = http_server.client(User(user.name, rotated["access_key"], rotated["secret_key"]))
    settles(lambda: error_code(new_client.list_buckets), "OK")
    assert "secret key" in coffer_admin(http_server, "key", "rotate", second["access_key"]).stdout
    coffer_admin(http_server, "user", "delete", user.name)


def test_bucket_list_and_info(http_server, http_bucket):
    s3 = http_server.client()
    s3.put_bucket_versioning(Bucket=http_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=http_bucket, Tagging={"TagSet": [{"Key": "team", "Value": "ops"}]})
    body = bytes(range(256)) * 1024  # 256 KiB, stored as a blob
    s3.put_object(Bucket=http_bucket, Key="a", Body=body)
    s3.put_object(Bucket=http_bucket, Key="a", Body=body)  # a second version, same bytes
    s3.put_object(Bucket=http_bucket, Key="b", Body=b"small")
    s3.delete_object(Bucket=http_bucket, Key="b")  # a delete marker over "b"

    info = admin_json(http_server, "bucket", "info", http_bucket)
    assert info["name"] == http_bucket and info["owner"] == "root" and info["versioning"] == "Enabled"
    assert (info["objects"], info["versions"], info["delete_markers"]) == (1, 3, 1)
    assert info["logical_bytes"] == 2 * len(body) + 5
    assert info["stored_bytes"] == len(body) + 5, "identical versions are stored once"
    assert "tagging" in info["configuration"] and info["object_lock"] is False
    assert info["quota"] == {"max_bytes": None, "max_objects": None}

    listed = {b["name"]: b for b in admin_json(http_server, "bucket", "list")}
    assert listed[http_bucket]["versions"] == 3 and listed[http_bucket]["logical_bytes"] == 2 * len(body) + 5
    table = coffer_admin(http_server, "bucket", "info", http_bucket).stdout
    assert "stored bytes:" in table and "256.0 KiB (262149)" in table
    assert http_bucket in coffer_admin(http_server, "bucket", "list").stdout
    missing = coffer_admin(http_server, "bucket", "info", "no-such-" + http_bucket, check=False)
    assert missing.returncode != 0 and "no bucket called" in missing.stderr


def test_store_info(http_server, http_bucket):
    http_server.client().put_object(Bucket=http_bucket, Key="k", Body=b"12345")
    info = admin_json(http_server, "info")
    assert info["data_dir"] == str(http_server.data_dir)
    assert info["server"]["pid"] == http_server.proc.pid and info["server"]["uptime_secs"] >= 0
    assert info["counts"]["users"] >= 1 and info["counts"]["buckets"] >= 1 and info["objects"] >= 1
    assert info["disk"]["index_bytes"] > 0 and info["disk"]["filesystem_free_bytes"] > 0
    text = coffer_admin(http_server, "info").stdout
    assert f"running (pid {http_server.proc.pid}" in text and "filesystem:" in text


@pytest.mark.sqlite_index  # its config file names only the data dir
def test_admin_commands_read_the_config_file(http_server, tmp_path):
    """`--config` gives admin commands the data dir (and region) as it gives them to `serve`."""
    config = tmp_path / "coffer.toml"
    config.write_text(f'data_dir = "{http_server.data_dir}"\nregion = "eu-central-1"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    coffer = str(coffer_binary())
    users = json.loads(run_cli([coffer, "admin", "user", "list", "--json", "--config", str(config)], env=env).stdout)
    assert "root" in {u["name"] for u in users}
    name = "cfg-" + uuid.uuid4().hex[:8]
    created = run_cli([coffer, "admin", "kms", "create", name, "--config", str(config)], env=env).stdout
    assert ":eu-central-1:" in created, "the region comes from the file"
    listed = run_cli([coffer, "admin", "kms", "list"], env={**env, "COFFER_CONFIG": str(config)}).stdout
    assert name in listed, "COFFER_CONFIG names the file too"
    keys = json.loads(run_cli([coffer, "admin", "kms", "list", "--json", "--config", str(config)], env=env).stdout)
    assert any(k["name"] == name and k["enabled"] for k in keys)
    user = json.loads(run_cli([coffer, "admin", "user", "create", name, "--json", "--config", str(config)], env=env).stdout)
    assert user["user"] == name and len(user["access_key"]) == 20 and len(user["secret_key"]) == 40
    assert json.loads(run_cli([coffer, "admin", "tier", "list", "--json", "--config", str(config)], env=env).stdout) == []
    info = json.loads(run_cli([coffer, "admin", "info", "--json", "--config", str(config)], env=env).stdout)
    assert info["data_dir"] == str(http_server.data_dir)


@pytest.mark.sqlite_index  # `scrub status` reads the SQLite file
def test_the_older_status_commands_print_json_too(http_server, http_bucket):
    scrub = admin_json(http_server, "scrub", "status")
    assert set(scrub) == {"state", "corrupt"} and scrub["corrupt"] == []
    assert isinstance(admin_json(http_server, "notify", "list"), list)
    replication = admin_json(http_server, "replication", "status", http_bucket)
    assert (replication["pending"], replication["failed"], replication["resync"]) == (0, 0, None)
    assert "pending: 0 versions" in coffer_admin(http_server, "replication", "status", http_bucket).stdout
    assert "corrupt blobs: 0" in coffer_admin(http_server, "scrub", "status").stdout
