"""Multipart uploads with boto3's transfer manager, the aws CLI and rclone, plus the
multipart API driven by hand: UploadPartCopy, listings with pagination, and every error."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from harness import empty_and_delete_bucket, random_bucket_name, write_random_file

MIB = 1024 * 1024


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            h.update(chunk)
    return h.hexdigest()


def error_code(excinfo) -> tuple[int, str]:
    err = excinfo.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


def multipart_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def test_boto3_transfer_manager_parallel_parts(s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    write_random_file(src, 60 * MIB + 12345)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=10)
    s3.upload_file(str(src), bucket, "big.bin", Config=config)

    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == src.stat().st_size
    assert head["ETag"].endswith('-13"')
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(dst), Config=config)
    assert file_sha256(dst) == file_sha256(src)


@pytest.mark.cli
def test_aws_cli_multipart_round_trip(aws, bucket, tmp_path):
    src = tmp_path / "cli.bin"
    write_random_file(src, 21 * MIB + 7)
    aws("s3", "cp", src, f"s3://{bucket}/cli.bin")
    dst = tmp_path / "cli-back.bin"
    aws("s3", "cp", f"s3://{bucket}/cli.bin", dst)
    assert src.read_bytes() == dst.read_bytes()


@pytest.mark.cli
def test_rclone_copies_a_large_file(http_server, rclone, tmp_path):
    name = random_bucket_name()
    s3 = http_server.client()
    try:
        rclone("mkdir", f"coffer:{name}")
        src = tmp_path / "src"
        size = 1024 * MIB + 3
        write_random_file(src / "large.bin", size)
        rclone("copy", "--s3-upload-cutoff", "8M", "--s3-chunk-size", "8M", src, f"coffer:{name}")
        parts = -(-size // (8 * MIB))
        assert s3.head_object(Bucket=name, Key="large.bin")["ETag"].endswith(f'-{parts}"')
        rclone("check", src, f"coffer:{name}")
        dst = tmp_path / "dst"
        rclone("copy", f"coffer:{name}", dst)
        assert file_sha256(dst / "large.bin") == file_sha256(src / "large.bin")
    finally:
        empty_and_delete_bucket(s3, name)


def test_manual_upload_etag_and_parts(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"tail"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ContentType="text/x-parts", Metadata={"color": "blue"})
    listed = []
    for n, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=n, Body=data)
        listed.append({"PartNumber": n, "ETag": r["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"], MultipartUpload={"Parts": listed})
    assert done["ETag"] == multipart_etag(parts)
    obj = s3.get_object(Bucket=bucket, Key="k")
    assert obj["ContentType"] == "text/x-parts" and obj["Metadata"] == {"color": "blue"}
    assert obj["Body"].read() == b"".join(parts)
    part = s3.get_object(Bucket=bucket, Key="k", PartNumber=3)
    assert part["PartsCount"] == 3 and part["Body"].read() == b"tail"


def test_upload_part_copy_between_buckets(s3, bucket):
    other = random_bucket_name()
    s3.create_bucket(Bucket=other)
    try:
        data = os.urandom(6 * MIB)
        s3.put_object(Bucket=other, Key="src", Body=data)
        up = s3.create_multipart_upload(Bucket=bucket, Key="copy")
        uid = up["UploadId"]
        r1 = s3.upload_part_copy(Bucket=bucket, Key="copy", UploadId=uid, PartNumber=1,
                                 CopySource={"Bucket": other, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MIB - 1}")
        r2 = s3.upload_part_copy(Bucket=bucket, Key="copy", UploadId=uid, PartNumber=2,
                                 CopySource={"Bucket": other, "Key": "src"}, CopySourceRange=f"bytes={5 * MIB}-{6 * MIB - 1}")
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=bucket, Key="copy", UploadId=uid, PartNumber=3,
                                CopySource={"Bucket": other, "Key": "src"}, CopySourceIfMatch='"nope"')
        assert error_code(e) == (412, "PreconditionFailed")
        parts = [{"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]
        s3.complete_multipart_upload(Bucket=bucket, Key="copy", UploadId=uid, MultipartUpload={"Parts": parts})
        assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == data
    finally:
        empty_and_delete_bucket(s3, other)


def test_list_parts_and_uploads_pagination(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="paged")["UploadId"]
    for n in range(1, 8):
        s3.upload_part(Bucket=bucket, Key="paged", UploadId=uid, PartNumber=n, Body=b"p%d" % n)
    numbers = []
    for page in s3.get_paginator("list_parts").paginate(Bucket=bucket, Key="paged", UploadId=uid, PaginationConfig={"PageSize": 3}):
        assert len(page.get("Parts", [])) <= 3
        numbers += [p["PartNumber"] for p in page.get("Parts", [])]
    assert numbers == list(range(1, 8))

    ids = {uid}
    for key in ["dir/a", "dir/b", "x", "x", "y"]:
        ids.add(s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    seen = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
    assert [k for k, _ in seen] == ["dir/a", "dir/b", "paged", "x", "x", "y"]
    assert {u for _, u in seen} == ids
    folded = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in folded["CommonPrefixes"]] == ["dir/"]
    for key, upload_id in seen:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_each_error_on_purpose(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="e")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=1, Body=b"small")["ETag"]
    last = s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=2, Body=b"last")["ETag"]

    def complete(parts):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="e", UploadId=uid, MultipartUpload={"Parts": parts})
        return error_code(e)

    assert complete([{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}]) == (400, "EntityTooSmall")
    assert complete([{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}]) == (400, "InvalidPartOrder")
    assert complete([{"PartNumber": 3, "ETag": small}]) == (400, "InvalidPart")
    assert complete([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]) == (400, "InvalidPart")
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=0, Body=b"x")
    assert error_code(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="e2", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT")
    assert error_code(e) == (400, "InvalidRequest")

    s3.abort_multipart_upload(Bucket=bucket, Key="e", UploadId=uid)
    assert complete([{"PartNumber": 1, "ETag": small}]) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="e", UploadId=uid)
    assert error_code(e) == (404, "NoSuchUpload")


def test_repeated_complete_returns_the_same_result(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="twice", ChecksumAlgorithm="CRC32")["UploadId"]
    r = s3.upload_part(Bucket=bucket, Key="twice", UploadId=uid, PartNumber=1, Body=b"only part", ChecksumAlgorithm="CRC32")
    parts = {"Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]}]}
    first = s3.complete_multipart_upload(Bucket=bucket, Key="twice", UploadId=uid, MultipartUpload=parts)
    second = s3.complete_multipart_upload(Bucket=bucket, Key="twice", UploadId=uid, MultipartUpload=parts)
    assert first["ETag"] == second["ETag"]
    assert first["ChecksumCRC32"] == second["ChecksumCRC32"] and first["ChecksumCRC32"].endswith("-1")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="twice", ObjectAttributes=["ETag", "Checksum", "ObjectParts"])
    assert attrs["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert attrs["ObjectParts"]["Parts"][0]["ChecksumCRC32"] == r["ChecksumCRC32"]


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@pytest.mark.cli
@pytest.mark.skipif(os.environ.get("COFFER_BIG_TESTS") != "1", reason="set COFFER_BIG_TESTS=1 for the 6 GiB round trip")
def test_aws_cli_6gib_round_trip(http_server, tmp_path):
    """The issue's proof: `aws s3 cp` of 6 GiB up and back, byte for byte, with the server's
    peak RSS reported (and bounded)."""
    from harness import run_cli, tool_path

    size = 6 * 1024 * MIB
    src = tmp_path / "six.bin"
    block = os.urandom(64 * MIB)
    with open(src, "wb") as f:
        for i in range(size // len(block)):
            f.write(hashlib.sha256(b"%d" % i).digest() + block[32:])
    env = http_server.client_env()
    env["AWS_MAX_ATTEMPTS"] = "1"
    s3 = http_server.client()
    name = random_bucket_name()
    s3.create_bucket(Bucket=name)
    try:
        aws = [tool_path("aws"), "--endpoint-url", http_server.endpoint]
        started = time.monotonic()
        run_cli([*aws, "s3", "cp", src, f"s3://{name}/six.bin"], env=env, timeout=1800)
        up = time.monotonic() - started
        dst = tmp_path / "six-back.bin"
        started = time.monotonic()
        run_cli([*aws, "s3", "cp", f"s3://{name}/six.bin", dst], env=env, timeout=1800)
        down = time.monotonic() - started
        hwm = _vm_hwm_kib(http_server.proc.pid)
        print(f"\n6 GiB: upload {up:.1f}s ({size / MIB / up:.0f} MiB/s), download {down:.1f}s "
              f"({size / MIB / down:.0f} MiB/s), server VmHWM {hwm / 1024:.0f} MiB")
        assert dst.stat().st_size == size
        assert file_sha256(dst) == file_sha256(src)
        assert hwm < 300 * 1024, f"server peak RSS {hwm} KiB"
    finally:
        s3.delete_object(Bucket=name, Key="six.bin")
        empty_and_delete_bucket(s3, name)
