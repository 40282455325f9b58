"""restic (Debian package) backing up to coffer: the backup-target path people rely on."""

from __future__ import annotations

import json
import os

import pytest

from harness import debian_tool, env_without, make_sample_tree, run_cli, tree_digest, write_random_file

pytestmark = pytest.mark.cli


@pytest.fixture
def restic(http_server, tmp_path):
    exe = debian_tool("restic", "restic")
    env = env_without("AWS_", "RESTIC_")
    env.update({
        "AWS_ACCESS_KEY_ID": http_server.access_key,
        "AWS_SECRET_ACCESS_KEY": http_server.secret_key,
        "RESTIC_PASSWORD": "correct horse battery staple",
        "RESTIC_CACHE_DIR": str(tmp_path / "restic-cache"),
    })

    def run(repo: str, *args, check=True):
        return run_cli([exe, "--repo", f"s3:{http_server.endpoint}/{repo}", *map(str, args)], env=env, check=check, timeout=300)

    return run


def snapshot_ids(restic, repo: str) -> list[str]:
    return [s["short_id"] for s in json.loads(restic(repo, "snapshots", "--json").stdout)]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "sse-s3-default"])
def test_restic_backup_check_restore_prune(http_server, restic, tmp_path, encrypted):
    s3 = http_server.client()
    bucket = f"restic-{'enc' if encrypted else 'plain'}-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=bucket)
    if encrypted:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    repo = f"{bucket}/repo"
    src = tmp_path / "src"
    make_sample_tree(src)
    write_random_file(src / "big" / "blob.bin", 12 * 1024 * 1024)

    restic(repo, "init")
    restic(repo, "backup", src)
    (src / "a.txt").write_text("changed after the first backup\n")
    write_random_file(src / "new" / "late.bin", 300_000)
    restic(repo, "backup", src)
    assert len(snapshot_ids(restic, repo)) == 2

    # check --read-data downloads every pack and verifies its contents.
    out = restic(repo, "check", "--read-data")
    assert "no errors were found" in out.stdout

    dst = tmp_path / "restore"
    restic(repo, "restore", "latest", "--target", dst)
    assert tree_digest(dst / src.relative_to("/")) == tree_digest(src)

    restic(repo, "forget", "--keep-last", "1", "--prune")
    assert len(snapshot_ids(restic, repo)) == 1
    assert "no errors were found" in restic(repo, "check", "--read-data").stdout

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="repo/")["Contents"]]
    assert any(k.startswith("repo/data/") for k in keys)
    if encrypted:
        for k in keys[:20]:
            assert s3.head_object(Bucket=bucket, Key=k).get("ServerSideEncryption") == "AES256", k
