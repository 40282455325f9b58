"""rclone (Debian package) against coffer over plain HTTP, configured through env vars."""

from __future__ import annotations


import pytest
from botocore.exceptions import ClientError

from harness import empty_and_delete_bucket, make_sample_tree, random_bucket_name, tree_digest

pytestmark = pytest.mark.cli


def test_rclone_roundtrip(http_server, rclone, tmp_path):
    name = random_bucket_name()
    s3 = http_server.client()
    try:
        rclone("mkdir", f"coffer:{name}")
        s3.head_bucket(Bucket=name)
        assert f"{name}/" in rclone("lsf", "coffer:").stdout.splitlines()

        src = tmp_path / "src"
        expected = make_sample_tree(src)
        rclone("copy", src, f"coffer:{name}/tree")

        listed = rclone("lsf", "-R", "--files-only", f"coffer:{name}/tree").stdout.splitlines()
        assert sorted(listed) == sorted(expected)
        sizes = {}
        for line in rclone("ls", f"coffer:{name}/tree").stdout.splitlines():
            size, path = line.strip().split(" ", 1)
            sizes[path] = int(size)
        assert sizes == {rel: (src / rel).stat().st_size for rel in expected}

        # rclone check compares sizes and MD5 hashes (the ETags) on both sides.
        rclone("check", src, f"coffer:{name}/tree")

        dst = tmp_path / "dst"
        rclone("copy", f"coffer:{name}/tree", dst)
        assert tree_digest(dst) == expected

        rclone("delete", f"coffer:{name}/tree")
        assert rclone("lsf", "-R", f"coffer:{name}").stdout.strip() == ""
        assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0

        rclone("rmdir", f"coffer:{name}")
        with pytest.raises(ClientError) as e:
            s3.head_bucket(Bucket=name)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    finally:
        empty_and_delete_bucket(s3, name)
