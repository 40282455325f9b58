"""The README's "Immutable backups" recipe, run as written: its set-up commands, its bucket
policy, its lifecycle rule and its retention-extension pass are read from the README. restic
and rclone back up with the backup user's keys; the same keys then try to destroy the backups
and fail; the owner prunes with restic, and the pruned versions stay until their retention
passes, then lifecycle frees them. The server's lifecycle day lasts a second; retention is
a day where it must outlast the test, and seconds where it must pass during it."""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import (
    CofferServer,
    User,
    aws_runner,
    coffer_admin,
    debian_tool,
    env_without,
    make_sample_tree,
    post_form,
    random_bucket_name,
    run_cli,
    start_server,
    stop_server,
    tree_digest,
    wait_until,
    write_random_file,
)

pytestmark = pytest.mark.cli

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "### Immutable backups"
# The README's names, replaced by each test's own.
BUCKET, USER, PREFIX = "backups", "backup", "restic/"


# ------------------------------------------------------------------- the README's recipe


@dataclass(frozen=True)
class Recipe:
    """The runnable parts of the README section."""

    setup: list[list[str]]  # step 1, each command as argv
    policy: str  # backup-policy.json
    reclaim: str  # reclaim.json
    extension_pass: str  # the Python of step 5


def read_recipe() -> Recipe:
    text = README.read_text()
    start = text.index(SECTION) + len(SECTION)
    end = re.search(r"^##+ ", text[start:], re.M)
    section = text[start:start + end.start()] if end else text[start:]
    blocks: dict[str, list[str]] = {}
    for lang, body in re.findall(r"^```(\w+)\n(.*?)^```", section, re.M | re.S):
        blocks.setdefault(lang, []).append(body)
    setup = [shlex.split(line, comments=True) for line in blocks["sh"][0].splitlines() if line.strip()]
    policy, reclaim = blocks["json"]
    return Recipe(setup, policy, reclaim, blocks["python"][0])


RECIPE = read_recipe()


def extend_retention(s3, bucket: str, prefix: str, until: datetime) -> int:
    """The README's retention-extension pass (step 5), as written there."""
    namespace: dict = {}
    exec(RECIPE.extension_pass, namespace)  # noqa: S102 - the README's own code, under test
    return namespace["extend_retention"](s3, bucket, prefix, until)


@dataclass
class Vault:
    """A bucket set up by the recipe: the owner's client, the backup user and their client."""

    server: CofferServer
    bucket: str
    user: User
    owner: object
    backup: object


# Retention where it must outlast the test (the shortest default S3 allows), for the README's 30.
RETENTION_DAYS = 1


def replaced(text: str, old: str, new: str) -> str:
    """`text` with `old` replaced by `new`; `old` must be there (the README still says it)."""
    assert old in text, f"the README's recipe no longer says {old!r}"
    return text.replace(old, new)


def set_up(server: CofferServer, tmp_path: Path) -> Vault:
    """Runs step 1 as the README writes it, with this test's bucket and user names and a
    default retention of RETENTION_DAYS."""
    bucket = random_bucket_name("backups")
    user_name = f"backup{bucket[-8:]}"
    policy_file = tmp_path / "backup-policy.json"
    policy = replaced(RECIPE.policy, f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{bucket}")
    policy_file.write_text(replaced(policy, f'"AWS": "{USER}"', f'"AWS": "{user_name}"'))
    replaced(" ".join(a for argv in RECIPE.setup for a in argv), '"Days": 30', "")

    def adapt(arg: str) -> str:
        if arg == BUCKET:
            return bucket
        if arg == "file://backup-policy.json":
            return f"file://{policy_file}"
        return arg.replace('"Days": 30', f'"Days": {RETENTION_DAYS}')

    aws = aws_runner(server)
    user = None
    for argv in RECIPE.setup:
        if argv[:4] == ["coffer", "admin", "user", "create"]:
            assert argv[4:] == [USER]
            out = coffer_admin(server, "user", "create", user_name).stdout
            keys = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
            user = User(user_name, keys["access key"].strip(), keys["secret key"].strip())
            continue
        assert argv[:3] == ["aws", "--endpoint-url", "http://127.0.0.1:9000"], argv
        aws(*map(adapt, argv[3:]))
    assert user is not None, "the recipe creates the backup user"
    return Vault(server, bucket, user, server.client(), server.client(user))


def reclaim_rule(noncurrent_days: int) -> dict:
    """reclaim.json, with `noncurrent_days` instead of 30."""
    return json.loads(replaced(RECIPE.reclaim, '"NoncurrentDays": 30', f'"NoncurrentDays": {noncurrent_days}'))


# ------------------------------------------------------------------------------- clients


def restic_runner(vault: Vault, tmp_path: Path, user: User | None):
    """restic on the recipe's repository with `user`'s keys (None: the owner's)."""
    exe = debian_tool("restic", "restic")
    env = env_without("AWS_", "RESTIC_")
    env.update({
        "AWS_ACCESS_KEY_ID": user.access_key if user else vault.server.access_key,
        "AWS_SECRET_ACCESS_KEY": user.secret_key if user else vault.server.secret_key,
        "RESTIC_PASSWORD": "correct horse battery staple",
        "RESTIC_CACHE_DIR": str(tmp_path / f"restic-cache-{user.name if user else 'owner'}"),
    })
    repo = f"s3:{vault.server.endpoint}/{vault.bucket}/{PREFIX.rstrip('/')}"

    def run(*args, check=True):
        return run_cli([exe, "-r", repo, *map(str, args)], env=env, check=check, timeout=300)

    return run


def rclone_runner(vault: Vault, tmp_path: Path):
    """rclone with the README's remote `vault` and the backup user's keys (a Go client: no
    AWS_CA_BUNDLE)."""
    exe = debian_tool("rclone", "rclone")
    env = env_without("AWS_", "RCLONE_")
    env.update({
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
        "RCLONE_CONFIG_VAULT_TYPE": "s3",
        "RCLONE_CONFIG_VAULT_PROVIDER": "Other",
        "RCLONE_CONFIG_VAULT_ENDPOINT": vault.server.endpoint,
        "RCLONE_CONFIG_VAULT_REGION": "us-east-1",
        "RCLONE_CONFIG_VAULT_ACCESS_KEY_ID": vault.user.access_key,
        "RCLONE_CONFIG_VAULT_SECRET_ACCESS_KEY": vault.user.secret_key,
        "RCLONE_CONFIG_VAULT_FORCE_PATH_STYLE": "true",
        "RCLONE_CONFIG_VAULT_ACL": "bucket-owner-full-control",
    })

    def run(*args, check=True):
        return run_cli([exe, "--retries", "1", "--low-level-retries", "1", *map(str, args)], env=env, check=check, timeout=180)

    return run


# ------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def vault_server(tmp_root):
    """A server whose lifecycle day lasts one second."""
    srv = start_server(tmp_root, "http", ("--lifecycle-day-secs", "1"))
    yield srv
    stop_server(srv)


def error(excinfo) -> tuple[int, str]:
    r = excinfo.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def later(**kw) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(**kw)


def all_versions(s3, bucket: str, prefix: str = "") -> tuple[list[dict], list[dict]]:
    versions, markers = [], []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        versions += page.get("Versions", [])
        markers += page.get("DeleteMarkers", [])
    return versions, markers


def stored_bytes(s3, bucket: str) -> int:
    return sum(v["Size"] for v in all_versions(s3, bucket)[0])


def back_up_twice(restic, src: Path) -> None:
    """init and two backups; the file the second one lacks leaves a pack only the first needs."""
    make_sample_tree(src)
    write_random_file(src / "big.bin", 5 * 1024 * 1024)
    write_random_file(src / "gone" / "old.bin", 2 * 1024 * 1024)
    restic("init")
    restic("backup", src)
    (src / "gone" / "old.bin").unlink()
    (src / "a.txt").write_text("changed after the first backup\n")
    restic("backup", src)


def restored_matches(restic, src: Path, dst: Path) -> bool:
    restic("restore", "latest", "--target", dst)
    return tree_digest(dst / src.relative_to("/")) == tree_digest(src)


# --------------------------------------------------------------------------------- tests


def test_the_backup_keys_cannot_destroy_the_backups(vault_server, tmp_path):
    vault = set_up(vault_server, tmp_path)
    owner, backup, bucket = vault.owner, vault.backup, vault.bucket
    restic = restic_runner(vault, tmp_path, vault.user)
    rclone = rclone_runner(vault, tmp_path)
    assert owner.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled", "Object Lock turned versioning on"

    # Step 2: restic and rclone back up with the backup keys (rclone in parts of 5 MiB, so a
    # multipart upload gets the default retention too).
    src = tmp_path / "src"
    back_up_twice(restic, src)
    rclone("copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", src, f"vault:{bucket}/rclone")
    rclone("check", src, f"vault:{bucket}/rclone")

    versions, _ = all_versions(owner, bucket)
    assert any(v["Key"].startswith("rclone/") for v in versions) and any(v["Key"].startswith("restic/data/") for v in versions)
    for v in versions:
        head = owner.head_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        left = head["ObjectLockRetainUntilDate"] - datetime.now(timezone.utc)
        assert head["ObjectLockMode"] == "COMPLIANCE" and timedelta(days=RETENTION_DAYS, hours=-1) < left <= timedelta(days=RETENTION_DAYS), v["Key"]
    pack = next(v for v in versions if v["Key"].startswith("restic/data/") and v["IsLatest"])
    key, version = pack["Key"], pack["VersionId"]

    # Step 3: the backup keys try to destroy the backups.
    def retention(mode, until):
        return lambda: backup.put_object_retention(Bucket=bucket, Key=key, VersionId=version,
                                                   Retention={"Mode": mode, "RetainUntilDate": until} if mode else {})
    attempts = {
        "delete a version": lambda: backup.delete_object(Bucket=bucket, Key=key, VersionId=version),
        "delete a version, bypassing governance": lambda: backup.delete_object(
            Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True),
        "a plain delete of a pack": lambda: backup.delete_object(Bucket=bucket, Key=key),
        "a plain delete of the repository's config": lambda: backup.delete_object(Bucket=bucket, Key="restic/config"),
        "shorten the retention": retention("COMPLIANCE", later(hours=1)),
        "change the mode": retention("GOVERNANCE", later(days=2)),
        "remove the retention": retention(None, None),
        "retention beyond 60 days": retention("COMPLIANCE", later(days=100)),
        "a lock of its own": lambda: backup.put_object(Bucket=bucket, Key=key, Body=b"x", ObjectLockMode="GOVERNANCE",
                                                       ObjectLockRetainUntilDate=later(minutes=1)),
        "lift the lock with a legal hold call": lambda: backup.put_object_legal_hold(
            Bucket=bucket, Key=key, VersionId=version, LegalHold={"Status": "OFF"}),
        "a lifecycle rule": lambda: backup.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "wipe", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]}),
        "remove the lifecycle rules": lambda: backup.delete_bucket_lifecycle(Bucket=bucket),
        "a new policy": lambda: backup.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/*"}]})),
        "remove the policy": lambda: backup.delete_bucket_policy(Bucket=bucket),
        "suspend versioning": lambda: backup.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}),
        "drop the default retention": lambda: backup.put_object_lock_configuration(
            Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}),
        "delete the bucket": lambda: backup.delete_bucket(Bucket=bucket),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ClientError) as e:
            attempt()
        assert error(e) == (403, "AccessDenied"), what
    lock = {"x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": later(minutes=1).strftime("%Y-%m-%dT%H:%M:%SZ")}
    form = backup.generate_presigned_post(bucket, key, Fields=lock, Conditions=[{k: v} for k, v in lock.items()], ExpiresIn=300)
    assert post_form(form["url"], form["fields"]).status == 403, "a lock of its own, in a browser form"
    batch = backup.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]})
    assert not batch.get("Deleted") and len(batch["Errors"]) == len(versions)
    assert {e["Code"] for e in batch["Errors"]} == {"AccessDenied"}
    purge = rclone("purge", f"vault:{bucket}/rclone", check=False)
    assert purge.returncode != 0 and "AccessDenied" in purge.stderr + purge.stdout
    rclone("check", src, f"vault:{bucket}/rclone")
    assert all_versions(owner, bucket)[0] == versions, "every version is still there"

    # Not even the owner deletes a locked version; the bucket is not empty.
    with pytest.raises(ClientError) as e:
        owner.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
    assert error(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        owner.delete_bucket(Bucket=bucket)
    assert error(e) == (409, "BucketNotEmpty")

    # An overwrite (ransomware encrypting in place) adds a version and leaves the old one:
    # restic notices the damage, the owner copies the old version back.
    backup.put_object(Bucket=bucket, Key=key, Body=os.urandom(pack["Size"]))
    assert owner.get_object(Bucket=bucket, Key=key, VersionId=version)["ContentLength"] == pack["Size"]
    damaged = restic("check", "--read-data", check=False)
    assert damaged.returncode != 0 and "does not match" in damaged.stdout + damaged.stderr
    owner.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": version})

    # A DELETE without a version id (here the owner's) adds a marker; the version is still
    # there by its id, and removing the marker brings the object back.
    config = owner.head_object(Bucket=bucket, Key="restic/config")["VersionId"]
    marker = owner.delete_object(Bucket=bucket, Key="restic/config")
    assert marker["DeleteMarker"] and marker["VersionId"] != config
    with pytest.raises(ClientError) as e:
        owner.head_object(Bucket=bucket, Key="restic/config")
    assert error(e)[0] == 404
    assert restic("snapshots", check=False).returncode != 0
    assert owner.get_object(Bucket=bucket, Key="restic/config", VersionId=config)["Body"].read()
    owner.delete_object(Bucket=bucket, Key="restic/config", VersionId=marker["VersionId"])

    assert "no errors were found" in restic("check", "--read-data").stdout
    assert restored_matches(restic, src, tmp_path / "restore")
    rclone("check", src, f"vault:{bucket}/rclone")

    # Step 4: the owner prunes. Every file restic removes gets a delete marker; the versions
    # stay, locked, and lifecycle skips them while they are retained.
    owner_restic = restic_runner(vault, tmp_path, None)
    before = all_versions(owner, bucket)[0]
    out = owner_restic("forget", "--keep-last", "1", "--prune").stdout
    assert "1 snapshots have been removed" in out
    after, markers = all_versions(owner, bucket)
    assert {v["VersionId"] for v in before} <= {v["VersionId"] for v in after}, "prune removed no version"
    pruned = [m["Key"] for m in markers if m["IsLatest"] and not m["Key"].startswith("restic/locks/")]
    assert any(k.startswith("restic/data/") for k in pruned) and any(k.startswith("restic/snapshots/") for k in pruned)
    hidden = next(v for v in after if v["Key"] in pruned and v["Key"].startswith("restic/data/"))
    with pytest.raises(ClientError) as e:
        owner.delete_object(Bucket=bucket, Key=hidden["Key"], VersionId=hidden["VersionId"])
    assert error(e) == (403, "AccessDenied")
    owner.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=reclaim_rule(1))
    time.sleep(3)  # three lifecycle days
    assert {v["VersionId"] for v in all_versions(owner, bucket)[0]} >= {v["VersionId"] for v in after}, "lifecycle kept them"
    assert "no errors were found" in restic("check", "--read-data").stdout


def test_pruned_space_comes_back_when_the_retention_passes(vault_server, tmp_path):
    vault = set_up(vault_server, tmp_path)
    owner, backup, bucket = vault.owner, vault.backup, vault.bucket
    # The default retention (a day at least) would outlast the test: here the extension pass
    # alone locks the versions, for seconds.
    owner.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    restic = restic_runner(vault, tmp_path, vault.user)
    src = tmp_path / "src"
    back_up_twice(restic, src)

    hold = 12
    until = datetime.now(timezone.utc) + timedelta(seconds=hold)
    current = [o["Key"] for o in owner.list_objects_v2(Bucket=bucket)["Contents"]]
    assert extend_retention(backup, bucket, PREFIX, until) == len(current)
    assert extend_retention(backup, bucket, PREFIX, until) == 0, "a second pass has nothing to do"

    owner.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=reclaim_rule(1))
    full = stored_bytes(owner, bucket)
    restic_runner(vault, tmp_path, None)("forget", "--keep-last", "1", "--prune")
    versions, markers = all_versions(owner, bucket)
    pruned = {m["Key"] for m in markers if m["IsLatest"] and not m["Key"].startswith("restic/locks/")}
    retained = [v for v in versions if v["Key"] in pruned]
    assert any(k.startswith("restic/data/") for k in pruned) and retained
    assert stored_bytes(owner, bucket) >= full, "pruning freed nothing yet"

    # Lifecycle skips the pruned versions while retained, and removes them once that passes.
    time.sleep(2)
    assert datetime.now(timezone.utc) < until - timedelta(seconds=2), "the test ran too slowly to see the skip"
    assert {v["VersionId"] for v in retained} <= {v["VersionId"] for v in all_versions(owner, bucket)[0]}
    still_needed = {v["VersionId"] for v in versions if v["IsLatest"]}

    def left_behind():
        versions, markers = all_versions(owner, bucket)
        return [v["Key"] for v in versions if not v["IsLatest"]] + [m["Key"] for m in markers]
    # Everything not current goes: the pruned versions, restic's lock files, their markers.
    wait_until(lambda: not left_behind(), timeout=hold + 20, what="the noncurrent versions and the markers to expire")
    remaining = all_versions(owner, bucket)[0]
    assert still_needed <= {v["VersionId"] for v in remaining}, "current versions stay"
    freed = full - stored_bytes(owner, bucket)
    print(f"\nstored {full} bytes before the prune, {full - freed} once the pruned versions expired")
    assert freed > 1024 * 1024, "the 2 MiB only the first snapshot had, less what prune repacked"
    assert "no errors were found" in restic("check", "--read-data").stdout
    assert restored_matches(restic, src, tmp_path / "restore")


def test_retention_is_extended_as_backup_tools_do(vault_server, tmp_path):
    vault = set_up(vault_server, tmp_path)
    owner, backup, bucket = vault.owner, vault.backup, vault.bucket

    def put(key, body, **lock):
        return (vault.owner if lock else backup).put_object(Bucket=bucket, Key=f"{PREFIX}{key}", Body=body, **lock)["VersionId"]

    def retained_until(key, version):
        return backup.get_object_retention(Bucket=bucket, Key=f"{PREFIX}{key}", VersionId=version)["Retention"]

    # Versions as they come: the bucket's default (a day), one whose retention passes in a
    # second, one locked longer than the pass asks (both set by the owner: the backup keys
    # may not choose a lock), and a noncurrent one.
    default = put("data/aa", b"pack")
    lapsing = put("data/bb", b"pack", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=later(seconds=1))
    twenty_days = later(days=20)
    longer = put("data/cc", b"pack", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=twenty_days)
    old = put("index/dd", b"old")
    new = put("index/dd", b"new")
    old_until = retained_until("index/dd", old)["RetainUntilDate"]
    wait_until(lambda: retained_until("data/bb", lapsing)["RetainUntilDate"] < datetime.now(timezone.utc), timeout=5,
               what="the short retention to pass")

    week = later(days=7)
    assert extend_retention(backup, bucket, PREFIX, week) == 3  # default, lapsing, new
    for key, version in (("data/aa", default), ("data/bb", lapsing), ("index/dd", new)):
        assert retained_until(key, version) == {"Mode": "COMPLIANCE", "RetainUntilDate": week}, key
    assert retained_until("data/cc", longer)["RetainUntilDate"] == twenty_days, "a longer lock is left alone"
    assert retained_until("index/dd", old)["RetainUntilDate"] == old_until, "a noncurrent version is not extended"
    assert extend_retention(backup, bucket, PREFIX, week) == 0

    # The re-locked version is protected again, from the owner too.
    with pytest.raises(ClientError) as e:
        owner.delete_object(Bucket=bucket, Key=f"{PREFIX}data/bb", VersionId=lapsing, BypassGovernanceRetention=True)
    assert error(e) == (403, "AccessDenied")

    # COMPLIANCE is never shortened, by the backup keys or the owner (bypass or not).
    for client, bypass in ((backup, False), (owner, False), (owner, True)):
        with pytest.raises(ClientError) as e:
            client.put_object_retention(Bucket=bucket, Key=f"{PREFIX}data/aa", VersionId=default, BypassGovernanceRetention=bypass,
                                        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": week - timedelta(days=1)})
        assert error(e) == (403, "AccessDenied")

    # The next pass moves everything current on; 60 days is the backup keys' limit.
    month = later(days=30)
    assert extend_retention(backup, bucket, PREFIX, month) == 4
    assert retained_until("data/cc", longer)["RetainUntilDate"] == month
    with pytest.raises(ClientError) as e:
        extend_retention(backup, bucket, PREFIX, later(days=61))
    assert error(e) == (403, "AccessDenied")
