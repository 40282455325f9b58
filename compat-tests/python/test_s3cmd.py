"""s3cmd (Debian package) against coffer over plain HTTP, SigV4, path-style."""

from __future__ import annotations

import pytest

from harness import create_kms_key, debian_tool, empty_and_delete_bucket, random_bucket_name, run_cli, write_random_file

pytestmark = pytest.mark.cli

MIB = 1024 * 1024


@pytest.fixture
def s3cmd(http_server, tmp_path):
    exe = debian_tool("s3cmd", "s3cmd")
    cfg = tmp_path / "s3cmd.cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {http_server.access_key}\n"
        f"secret_key = {http_server.secret_key}\n"
        f"host_base = {http_server.host_port}\n"
        f"host_bucket = {http_server.host_port}\n"
        "bucket_location = us-east-1\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "check_ssl_certificate = False\n"
        "max_retries = 1\n"
        "progress_meter = False\n"
    )

    def run(*args, check=True):
        return run_cli([exe, "-c", str(cfg), *map(str, args)], check=check, timeout=180)

    return run


def test_s3cmd_basic(http_server, s3cmd, tmp_path):
    name = random_bucket_name()
    s3 = http_server.client()
    try:
        out = s3cmd("mb", f"s3://{name}")
        assert f"Bucket 's3://{name}/' created" in out.stdout
        s3.head_bucket(Bucket=name)

        assert f"s3://{name}" in s3cmd("ls").stdout

        local = tmp_path / "upload.bin"
        data = write_random_file(local, 1 * MIB + 17)
        small = tmp_path / "note.txt"
        small.write_text("hello from s3cmd\n")
        s3cmd("put", local, f"s3://{name}/dir/upload.bin")
        s3cmd("put", small, f"s3://{name}/dir/sub/note.txt")
        assert s3.head_object(Bucket=name, Key="dir/upload.bin")["ContentLength"] == len(data)

        listing = s3cmd("ls", f"s3://{name}/dir/").stdout
        assert f"s3://{name}/dir/upload.bin" in listing
        assert any(l.split() == ["DIR", f"s3://{name}/dir/sub/"] for l in listing.splitlines()), listing
        line = next(l for l in listing.splitlines() if l.endswith(f"s3://{name}/dir/upload.bin"))
        assert str(len(data)) in line.split()

        recursive = s3cmd("ls", "--recursive", f"s3://{name}").stdout
        assert f"s3://{name}/dir/sub/note.txt" in recursive

        back = tmp_path / "back.bin"
        s3cmd("get", f"s3://{name}/dir/upload.bin", back)
        assert back.read_bytes() == data

        info = s3cmd("info", f"s3://{name}/dir/upload.bin").stdout
        assert str(len(data)) in info

        s3cmd("del", f"s3://{name}/dir/upload.bin")
        s3cmd("del", f"s3://{name}/dir/sub/note.txt")
        assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
        assert s3cmd("ls", "--recursive", f"s3://{name}").stdout.strip() == ""

        s3cmd("rb", f"s3://{name}")
        assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    finally:
        empty_and_delete_bucket(s3, name)


def test_s3cmd_server_side_encryption(http_server, http_bucket, s3cmd, tmp_path):
    """s3cmd's --server-side-encryption (SSE-S3) and --server-side-encryption-kms-id (SSE-KMS)."""
    key = create_kms_key(http_server, "s3cmd")
    s3 = http_server.client()
    src = tmp_path / "src.bin"
    data = write_random_file(src, 3 * MIB + 5)
    for name, flags, expected in [
        ("sse-s3.bin", ["--server-side-encryption"], ("AES256", None)),
        ("sse-kms.bin", [f"--server-side-encryption-kms-id={key.name}"], ("aws:kms", key.arn)),
    ]:
        s3cmd("put", *flags, src, f"s3://{http_bucket}/{name}")
        head = s3.head_object(Bucket=http_bucket, Key=name)
        assert (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")) == expected, name
        out = tmp_path / f"back-{name}"
        s3cmd("get", f"s3://{http_bucket}/{name}", out)
        assert out.read_bytes() == data, name
