"""rclone (Debian package) against coffer over plain HTTP, configured through env vars."""

from __future__ import annotations


import pytest
from botocore.exceptions import ClientError

from harness import (
    create_kms_key,
    empty_and_delete_bucket,
    make_sample_tree,
    random_bucket_name,
    tree_digest,
)

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


def test_rclone_server_side_encryption(http_server, http_bucket, https_server, https_bucket, rclone, tmp_path):
    """rclone's SSE options: SSE-S3 and SSE-KMS over HTTP, SSE-C over HTTPS (rclone, like S3,
    sends customer keys only over TLS); every copy reads back byte for byte."""
    key = create_kms_key(http_server, "rclone")
    s3 = http_server.client()
    src = tmp_path / "src"
    expected = make_sample_tree(src)
    for prefix, flags, sse in [
        ("s3", ["--s3-server-side-encryption", "AES256"], ("AES256", None)),
        ("kms", ["--s3-server-side-encryption", "aws:kms", "--s3-sse-kms-key-id", key.name], ("aws:kms", key.arn)),
    ]:
        rclone("copy", *flags, src, f"coffer:{http_bucket}/{prefix}")
        for rel in expected:
            head = s3.head_object(Bucket=http_bucket, Key=f"{prefix}/{rel}")
            assert (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")) == sse, (prefix, rel)
        dst = tmp_path / f"dst-{prefix}"
        rclone("copy", *flags, f"coffer:{http_bucket}/{prefix}", dst)
        assert tree_digest(dst) == expected, prefix

    flags = [
        "--s3-endpoint", https_server.endpoint, "--ca-cert", https_server.ca_bundle,
        "--s3-sse-customer-algorithm", "AES256", "--s3-sse-customer-key", "k" * 32,
    ]
    rclone("copy", *flags, src, f"coffer:{https_bucket}/tree")
    rel = next(iter(expected))
    with pytest.raises(ClientError) as e:
        https_server.client().get_object(Bucket=https_bucket, Key=f"tree/{rel}")
    assert e.value.response["Error"]["Code"] == "InvalidRequest", "unreadable without the customer key"
    dst = tmp_path / "dst-sse-c"
    rclone("copy", *flags, f"coffer:{https_bucket}/tree", dst)
    assert tree_digest(dst) == expected
