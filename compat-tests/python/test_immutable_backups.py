"""The README's "Immutable backups" recipe, as written: a bucket with Object Lock and a default
COMPLIANCE retention, a backup user whose keys can write but not destroy, restic and rclone
backing up with those keys, then the same keys trying to destroy the backups — every attempt
fails or leaves the locked versions, and `restic check --read-data` and a restore still pass.
Pruning places delete markers; the locked versions stay until their retention passes. A
retention-extension pass as backup tools run it, with boto3."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from harness import (
    create_user,
    debian_tool,
    env_without,
    make_sample_tree,
    policy,
    random_bucket_name,
    run_cli,
    statement,
    tree_digest,
    write_random_file,
)

pytestmark = pytest.mark.cli

# What the backup keys may do, and what they may never do (README, "Immutable backups").
BACKUP_ALLOWED = ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject",
                  "s3:GetObjectRetention", "s3:PutObjectRetention"]
BACKUP_DENIED = ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
                 "s3:PutLifecycleConfiguration", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning",
                 "s3:DeleteBucket"]


def code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def locked_backups(http_server):
    """The recipe's bucket (Object Lock, default COMPLIANCE retention of a day) and backup user."""
    admin = http_server.client()
    bucket = random_bucket_name("backups")
    # BucketOwnerEnforced: the owner owns what the backup user writes (S3's default for new buckets).
    admin.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True, ObjectOwnership="BucketOwnerEnforced")
    admin.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    user = create_user(http_server, "backup")
    resources = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    admin.put_bucket_policy(Bucket=bucket, Policy=policy(
        statement("Allow", {"AWS": user.name}, BACKUP_ALLOWED, resources),
        statement("Deny", {"AWS": user.name}, BACKUP_DENIED, resources),
    ))
    return admin, http_server.client(user), bucket, user


def test_backups_survive_their_own_keys(http_server, locked_backups, tmp_path):
    admin, attacker, bucket, user = locked_backups
    env = env_without("AWS_", "RESTIC_")
    env.update({"AWS_ACCESS_KEY_ID": user.access_key, "AWS_SECRET_ACCESS_KEY": user.secret_key,
                "RESTIC_PASSWORD": "correct horse battery staple", "RESTIC_CACHE_DIR": str(tmp_path / "cache")})
    restic_exe = debian_tool("restic", "restic")

    def restic(*args):
        return run_cli([restic_exe, "--repo", f"s3:{http_server.endpoint}/{bucket}/restic", *map(str, args)], env=env, timeout=300)

    src = tmp_path / "src"
    make_sample_tree(src)
    write_random_file(src / "big.bin", 6 * 1024 * 1024)
    restic("init")
    restic("backup", src)
    (src / "a.txt").write_text("changed\n")
    restic("backup", src)

    # rclone with the same keys (a Go client: no AWS_CA_BUNDLE).
    rclone_env = env_without("AWS_", "RCLONE_")
    rclone_env.update({"RCLONE_CONFIG": str(tmp_path / "rclone.conf"), "RCLONE_CONFIG_VAULT_TYPE": "s3",
                       "RCLONE_CONFIG_VAULT_PROVIDER": "Other", "RCLONE_CONFIG_VAULT_ENDPOINT": http_server.endpoint,
                       "RCLONE_CONFIG_VAULT_ACCESS_KEY_ID": user.access_key, "RCLONE_CONFIG_VAULT_SECRET_ACCESS_KEY": user.secret_key,
                       "RCLONE_CONFIG_VAULT_REGION": "us-east-1", "RCLONE_CONFIG_VAULT_FORCE_PATH_STYLE": "true",
                       # rclone sends x-amz-acl: private unless told; a BucketOwnerEnforced bucket takes only this one.
                       "RCLONE_CONFIG_VAULT_ACL": "bucket-owner-full-control"})
    rclone_exe = debian_tool("rclone", "rclone")
    rclone = lambda *a: run_cli([rclone_exe, "--retries", "1", *map(str, a)], env=rclone_env, timeout=180)
    rclone("copy", src, f"vault:{bucket}/rclone")
    rclone("check", src, f"vault:{bucket}/rclone")

    every = admin.list_object_versions(Bucket=bucket)["Versions"]
    assert all(admin.head_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["ObjectLockMode"] == "COMPLIANCE" for v in every[:10])
    pack = next(v for v in every if v["Key"].startswith("restic/data/"))
    key, version = pack["Key"], pack["VersionId"]

    # The backup keys try to destroy the backups. Every permanent change is refused.
    attempts = {
        "delete a version": lambda: attacker.delete_object(Bucket=bucket, Key=key, VersionId=version),
        "delete a version, bypassing": lambda: attacker.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True),
        "shorten the retention": lambda: attacker.put_object_retention(Bucket=bucket, Key=key, VersionId=version, Retention={
            "Mode": "COMPLIANCE", "RetainUntilDate": datetime.now(timezone.utc) + timedelta(minutes=1)}),
        "change the mode": lambda: attacker.put_object_retention(Bucket=bucket, Key=key, VersionId=version, Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": datetime.now(timezone.utc) + timedelta(days=2)}),
        "a lifecycle rule": lambda: attacker.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "wipe", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]}),
        "a new policy": lambda: attacker.put_bucket_policy(Bucket=bucket, Policy=policy(statement("Allow", "*", "s3:*", f"arn:aws:s3:::{bucket}/*"))),
        "removing the policy": lambda: attacker.delete_bucket_policy(Bucket=bucket),
        "suspending versioning": lambda: attacker.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}),
        "a lock configuration": lambda: attacker.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}),
        "deleting the bucket": lambda: attacker.delete_bucket(Bucket=bucket),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ClientError) as e:
            attempt()
        assert code(e) == "AccessDenied", what
    batch = attacker.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in every[:50]]})
    assert not batch.get("Deleted") and {e["Code"] for e in batch["Errors"]} == {"AccessDenied"}

    # What the keys can do leaves every locked version in place: an overwrite adds a version,
    # a plain delete adds a delete marker. The owner rolls both back (the marker is not locked;
    # the old version is copied back as the current one).
    attacker.put_object(Bucket=bucket, Key=key, Body=b"ransom note")
    attacker.delete_object(Bucket=bucket, Key="restic/config")
    assert len(admin.list_object_versions(Bucket=bucket)["Versions"]) == len(every) + 1
    admin.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": version})
    marker = admin.list_object_versions(Bucket=bucket, Prefix="restic/config")["DeleteMarkers"][0]["VersionId"]
    admin.delete_object(Bucket=bucket, Key="restic/config", VersionId=marker)

    assert "no errors were found" in restic("check", "--read-data").stdout
    restic("restore", "latest", "--target", tmp_path / "restore")
    assert tree_digest(tmp_path / "restore" / src.relative_to("/")) == tree_digest(src)

    # Pruning within the rules: forget --prune removes what restic no longer needs from its view
    # (delete markers), while the locked versions stay until their retention passes.
    before = len(admin.list_object_versions(Bucket=bucket)["Versions"])
    restic("forget", "--keep-last", "1", "--prune")
    assert "no errors were found" in restic("check").stdout
    after = admin.list_object_versions(Bucket=bucket)
    assert len(after["Versions"]) >= before and after.get("DeleteMarkers"), "every version is still there, behind markers"


def test_retention_is_extended_as_backup_tools_do(locked_backups):
    admin, backup, bucket, _ = locked_backups
    v = backup.put_object(Bucket=bucket, Key="restic/data/ab/pack", Body=b"pack")["VersionId"]
    short = backup.put_object(Bucket=bucket, Key="restic/data/cd/pack", Body=b"pack", ObjectLockMode="COMPLIANCE",
                              ObjectLockRetainUntilDate=datetime.now(timezone.utc) + timedelta(seconds=2))["VersionId"]
    # The periodic pass: every version it keeps gets a later date.
    until = (datetime.now(timezone.utc) + timedelta(days=7)).replace(microsecond=0)
    for key, version in (("restic/data/ab/pack", v), ("restic/data/cd/pack", short)):
        backup.put_object_retention(Bucket=bucket, Key=key, VersionId=version, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
        got = backup.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
        assert got == {"Mode": "COMPLIANCE", "RetainUntilDate": until}
    with pytest.raises(ClientError) as e:
        backup.put_object_retention(Bucket=bucket, Key="restic/data/ab/pack", VersionId=v, Retention={
            "Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(days=1)})
    assert code(e) == "AccessDenied"
    # A version whose retention has passed is locked again by the next pass.
    lapsed = backup.put_object(Bucket=bucket, Key="restic/data/ef/pack", Body=b"pack", ObjectLockMode="COMPLIANCE",
                               ObjectLockRetainUntilDate=datetime.now(timezone.utc) + timedelta(seconds=1))["VersionId"]
    time.sleep(1.5)
    backup.put_object_retention(Bucket=bucket, Key="restic/data/ef/pack", VersionId=lapsed, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
    with pytest.raises(ClientError) as e:
        admin.delete_object(Bucket=bucket, Key="restic/data/ef/pack", VersionId=lapsed, BypassGovernanceRetention=True)
    assert code(e) == "AccessDenied"
    assert json.loads(json.dumps(BACKUP_DENIED))  # the recipe's deny list is plain JSON
