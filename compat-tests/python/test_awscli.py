"""The AWS CLI (`aws s3 ...`, `aws s3api ...`) against coffer over HTTP and HTTPS."""

from __future__ import annotations

import json

import pytest

from harness import (
    empty_and_delete_bucket,
    make_sample_tree,
    random_bucket_name,
    tree_digest,
    write_random_file,
)

pytestmark = pytest.mark.cli

MIB = 1024 * 1024


def remote_keys(server, bucket, prefix=""):
    s3 = server.client()
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def test_cp_up_and_back(server, bucket, aws, tmp_path):
    small = tmp_path / "small.bin"
    small_data = write_random_file(small, 200_000)
    big = tmp_path / "seven.bin"
    big_data = write_random_file(big, 7 * MIB)  # below the 8 MiB multipart threshold

    out = aws("s3", "cp", small, f"s3://{bucket}/files/small.bin",
              "--metadata", "origin=awscli,kind=small", "--content-type", "application/x-small")
    assert "upload:" in out.stdout
    aws("s3", "cp", big, f"s3://{bucket}/files/seven.bin")

    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "files/small.bin").stdout)
    assert head["ContentLength"] == len(small_data)
    assert head["ContentType"] == "application/x-small"
    assert head["Metadata"] == {"origin": "awscli", "kind": "small"}
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "files/seven.bin").stdout)
    assert head["ContentLength"] == len(big_data)
    assert "-" not in head["ETag"], "7 MiB should have been a single PUT"

    back_small = tmp_path / "back" / "small.bin"
    back_big = tmp_path / "back" / "seven.bin"
    aws("s3", "cp", f"s3://{bucket}/files/small.bin", back_small)
    aws("s3", "cp", f"s3://{bucket}/files/seven.bin", back_big)
    assert back_small.read_bytes() == small_data
    assert back_big.read_bytes() == big_data

    # Server-side copy through the CLI.
    aws("s3", "cp", f"s3://{bucket}/files/small.bin", f"s3://{bucket}/copied/small.bin")
    back_copy = tmp_path / "back" / "copy.bin"
    aws("s3", "cp", f"s3://{bucket}/copied/small.bin", back_copy)
    assert back_copy.read_bytes() == small_data

    missing = aws("s3api", "head-object", "--bucket", bucket, "--key", "nope", check=False)
    assert missing.returncode != 0
    assert "404" in missing.stderr


def test_sync_roundtrip(server, bucket, aws, tmp_path):
    src = tmp_path / "src"
    make_sample_tree(src)

    aws("s3", "sync", src, f"s3://{bucket}/tree/")
    assert sorted(remote_keys(server, bucket)) == sorted("tree/" + k for k in tree_digest(src))

    # A second sync with no changes uploads nothing.
    again = aws("s3", "sync", src, f"s3://{bucket}/tree/")
    assert "upload:" not in again.stdout

    # Change one file (new size), remove one, add one; sync with --delete.
    write_random_file(src / "docs" / "readme.md", 2222)
    (src / "img" / "photo.jpg").unlink()
    write_random_file(src / "new" / "added.txt", 77)
    out = aws("s3", "sync", src, f"s3://{bucket}/tree/", "--delete")
    assert "tree/img/photo.jpg" in out.stdout  # reported as a delete
    expected = tree_digest(src)
    assert sorted(remote_keys(server, bucket)) == sorted("tree/" + k for k in expected)
    s3 = server.client()
    body = s3.get_object(Bucket=bucket, Key="tree/docs/readme.md")["Body"].read()
    assert body == (src / "docs" / "readme.md").read_bytes()

    # Down into an empty directory: the trees match byte for byte.
    dst = tmp_path / "dst"
    dst.mkdir()
    aws("s3", "sync", f"s3://{bucket}/tree/", dst)
    assert tree_digest(dst) == expected


def test_ls_and_rm_recursive(server, aws, tmp_path):
    name = random_bucket_name()
    s3 = server.client()
    try:
        out = aws("s3", "mb", f"s3://{name}")
        assert f"make_bucket: {name}" in out.stdout
        s3.head_bucket(Bucket=name)

        listing = aws("s3", "ls").stdout
        assert name in [line.split()[-1] for line in listing.splitlines() if line.strip()]

        keys = ["top.txt", "a/one.txt", "a/two.txt", "a/b/three.txt", "c d/four five.txt"]
        for k in keys:
            s3.put_object(Bucket=name, Key=k, Body=k.encode())

        shallow = aws("s3", "ls", f"s3://{name}/").stdout.splitlines()
        assert any(line.split() == ["PRE", "a/"] for line in shallow), shallow
        assert any(line.strip() == "PRE c d/" for line in shallow), shallow
        assert any(line.endswith(" top.txt") for line in shallow), shallow

        deep = aws("s3", "ls", f"s3://{name}", "--recursive").stdout.splitlines()
        # Each line: date time size key (the key may contain spaces).
        listed = {}
        for line in deep:
            date, time_, size, key = line.split(maxsplit=3)
            listed[key] = int(size)
        assert listed == {k: len(k.encode()) for k in keys}

        out = aws("s3", "rm", f"s3://{name}", "--recursive")
        assert out.stdout.count("delete:") == len(keys)
        assert remote_keys(server, name) == []
        assert aws("s3", "ls", f"s3://{name}", "--recursive").stdout.strip() == ""

        aws("s3", "rb", f"s3://{name}")
        listing = aws("s3", "ls").stdout
        assert name not in listing
    finally:
        empty_and_delete_bucket(s3, name)
