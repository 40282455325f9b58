"""duplicity (Debian package, boto3+s3:// backend) backing up to coffer."""

from __future__ import annotations

import pytest

from harness import debian_tool, env_without, make_sample_tree, run_cli, tree_digest, write_random_file

pytestmark = pytest.mark.cli


@pytest.fixture
def duplicity(http_server, tmp_path):
    exe = debian_tool("duplicity", "duplicity python3-boto3")
    env = env_without("AWS_")
    env.update({
        "AWS_ACCESS_KEY_ID": http_server.access_key,
        "AWS_SECRET_ACCESS_KEY": http_server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PASSPHRASE": "correct horse battery staple",
        "HOME": str(tmp_path),  # gpg's home and duplicity's archive dir stay in the test's dir
    })

    def run(*args, check=True):
        return run_cli([exe, *map(str, args), "--s3-endpoint-url", http_server.endpoint,
                        "--archive-dir", tmp_path / "archive", "--num-retries", "1"],
                       env=env, check=check, timeout=300)

    return run


def test_duplicity_full_incremental_verify_restore(http_server, http_bucket, duplicity, tmp_path):
    s3 = http_server.client()
    target = f"boto3+s3://{http_bucket}/backup"
    src = tmp_path / "src"
    make_sample_tree(src)
    write_random_file(src / "big" / "blob.bin", 6 * 1024 * 1024)

    duplicity("full", src, target)
    (src / "a.txt").write_text("changed after the full backup\n")
    write_random_file(src / "new" / "late.bin", 200_000)
    duplicity("incremental", src, target)

    status = duplicity("collection-status", target).stdout
    assert "Full" in status and "Incremental" in status, status
    assert "0 differences found" in duplicity("verify", target, src).stdout

    dst = tmp_path / "restore"
    duplicity("restore", target, dst)
    assert tree_digest(dst) == tree_digest(src)

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=http_bucket, Prefix="backup/")["Contents"]]
    assert any(".manifest" in k for k in keys) and any(".difftar" in k for k in keys), keys
