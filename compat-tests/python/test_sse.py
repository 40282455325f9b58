"""Server-side encryption with boto3 and the aws CLI: SSE-S3, SSE-KMS (keys made with
`coffer admin kms create`) and SSE-C on single PUTs, multipart uploads and the transfer
manager; ranges at the 64 KiB package boundaries; the full copy matrix between modes
(CopyObject and UploadPartCopy); SSE-C and KMS errors; bucket default encryption; ETags; a
scan of a data dir for plaintext; a tampered blob that must never be served.

SSE-C runs over HTTPS (the https_server fixture), as S3 demands; the plain-HTTP server,
started without --sse-c-allow-http, must refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from harness import (
    KmsKey,
    aws_runner,
    coffer_admin,
    create_kms_key,
    start_server,
    stop_server,
    wait_until,
)

MIB = 1024 * 1024
PKG = 65536  # plaintext bytes per encrypted package
HEADER, TAG = 32, 16  # sealed blob layout: header, then each package followed by its tag


# ------------------------------------------------------------------------------ helpers


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def md5_b64(raw: bytes) -> str:
    return b64(hashlib.md5(raw).digest())


def quoted_md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def multipart_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def error_of(excinfo) -> tuple[int, str]:
    resp = excinfo.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"]


@dataclass(frozen=True)
class Mode:
    """How an object is (to be) encrypted: label, KMS key, SSE-C key (raw 32 bytes)."""

    label: str
    kms: KmsKey | None = None
    ckey: bytes | None = None

    def write_args(self) -> dict:
        """Parameters of a write (PutObject, CopyObject destination, CreateMultipartUpload)."""
        if self.label == "sse-s3":
            return {"ServerSideEncryption": "AES256"}
        if self.kms is not None:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms.name}
        return self.read_args()

    def read_args(self) -> dict:
        """Parameters a read (or an UploadPart of an SSE-C upload) needs."""
        if self.ckey is None:
            return {}
        return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": self.ckey}

    def source_args(self) -> dict:
        """Copy-source parameters for a copy from an object encrypted this way."""
        if self.ckey is None:
            return {}
        return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": self.ckey}

    def problem(self, resp: dict) -> str | None:
        """What is wrong with the SSE fields of a response about such an object, or None."""
        sse = resp.get("ServerSideEncryption")
        kms = resp.get("SSEKMSKeyId")
        alg = resp.get("SSECustomerAlgorithm")
        md5 = resp.get("SSECustomerKeyMD5")
        if self.label == "none":
            ok = sse is None and kms is None and alg is None and md5 is None
        elif self.label == "sse-s3":
            ok = sse == "AES256" and kms is None and alg is None
        elif self.kms is not None:
            # S3 answers with the key's ARN; the name it was asked for by is accepted here.
            k = self.kms
            ok = sse == "aws:kms" and kms in (k.arn, k.name, k.id, f"alias/{k.name}") and alg is None
        else:
            ok = sse is None and alg == "AES256" and md5 == md5_b64(self.ckey)
        if ok:
            return None
        return f"SSE fields {dict(sse=sse, kms=kms, alg=alg, md5=md5)} do not describe {self.label}"

    def check(self, resp: dict, what: str) -> None:
        problem = self.problem(resp)
        assert problem is None, f"{what}: {problem}"


@dataclass(frozen=True)
class Defaulted(Mode):
    """Sends no SSE headers (the bucket's default applies) but expects the answers to show
    its mode."""

    def write_args(self) -> dict:
        return {}


NONE = Mode("none")
S3 = Mode("sse-s3")


def kms_mode(key: KmsKey) -> Mode:
    return Mode("sse-kms", kms=key)


def c_mode() -> Mode:
    return Mode("sse-c", ckey=os.urandom(32))


@pytest.fixture(scope="module")
def kms_key(https_server) -> KmsKey:
    return create_kms_key(https_server, "sse")


@pytest.fixture(params=["sse-s3", "sse-kms", "sse-c"])
def mode(request, kms_key) -> Mode:
    return {"sse-s3": S3, "sse-kms": kms_mode(kms_key), "sse-c": c_mode()}[request.param]


def put(s3, bucket: str, key: str, data: bytes, mode: Mode) -> str:
    resp = s3.put_object(Bucket=bucket, Key=key, Body=data, **mode.write_args())
    mode.check(resp, f"PUT {key}")
    return resp["ETag"]


def put_multipart(s3, bucket: str, key: str, parts: list[bytes], mode: Mode) -> tuple[str, list[str]]:
    created = s3.create_multipart_upload(Bucket=bucket, Key=key, **mode.write_args())
    mode.check(created, f"CreateMultipartUpload {key}")
    uid = created["UploadId"]
    done = []
    for n, data in enumerate(parts, start=1):
        resp = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=data, **mode.read_args())
        mode.check(resp, f"UploadPart {key} #{n}")
        done.append({"PartNumber": n, "ETag": resp["ETag"]})
    resp = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": done})
    if mode.ckey is None:
        mode.check(resp, f"Complete {key}")
    return resp["ETag"], [p["ETag"] for p in done]


def get(s3, bucket: str, key: str, mode: Mode, **kwargs) -> tuple[dict, bytes]:
    resp = s3.get_object(Bucket=bucket, Key=key, **mode.read_args(), **kwargs)
    mode.check(resp, f"GET {key} {kwargs}")
    return resp, resp["Body"].read()


def head(s3, bucket: str, key: str, mode: Mode, size: int) -> dict:
    resp = s3.head_object(Bucket=bucket, Key=key, **mode.read_args())
    assert resp["ContentLength"] == size, f"HEAD {key}"
    mode.check(resp, f"HEAD {key}")
    return resp


def assert_same(got: bytes, want: bytes, what: str) -> None:
    assert len(got) == len(want), f"{what}: {len(got)} bytes, expected {len(want)}"
    assert got == want, f"{what}: bytes differ"


# -------------------------------------------------------------------------- round trips


def test_each_mode_single_put_and_multipart(https_server, https_bucket, mode):
    s3, bucket = https_server.client(), https_bucket
    sizes = [0, 1, 100, PKG - 1, PKG, PKG + 1, 2 * PKG, 3 * PKG + 4321]  # around the package size
    for name, size in [(f"size-{n}", n) for n in sizes]:
        data = os.urandom(size)
        put(s3, bucket, name, data, mode)
        assert_same(get(s3, bucket, name, mode)[1], data, name)
        head(s3, bucket, name, mode, size)

    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB + 7), os.urandom(70_001)]
    put_multipart(s3, bucket, "mp", parts, mode)
    whole = b"".join(parts)
    assert_same(get(s3, bucket, "mp", mode)[1], whole, "mp")
    head(s3, bucket, "mp", mode, len(whole))


def test_each_mode_with_the_transfer_manager(https_server, https_bucket, mode):
    """upload_fileobj/download_fileobj with ExtraArgs, multipart and ranged-parallel."""
    s3, bucket = https_server.client(), https_bucket
    data = os.urandom(11 * MIB + 3)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    s3.upload_fileobj(io.BytesIO(data), bucket, "tm.bin", ExtraArgs=mode.write_args(), Config=config)
    resp = head(s3, bucket, "tm.bin", mode, len(data))
    assert resp["ETag"].endswith('-3"'), resp["ETag"]
    out = io.BytesIO()
    s3.download_fileobj(bucket, "tm.bin", out, ExtraArgs=mode.read_args(), Config=config)
    assert_same(out.getvalue(), data, "transfer manager round trip")


def test_etags_reveal_the_plaintext_md5_only_for_sse_s3(https_server, https_bucket, mode):
    s3, bucket = https_server.client(), https_bucket
    data = os.urandom(2 * PKG + 10)
    a, b = os.urandom(5 * MIB), os.urandom(12_345)
    etag = put(s3, bucket, "one", data, mode)
    assert head(s3, bucket, "one", mode, len(data))["ETag"] == etag
    mp_etag, part_etags = put_multipart(s3, bucket, "mp", [a, b], mode)
    assert mp_etag.endswith('-2"'), mp_etag
    if mode is S3:
        assert etag == quoted_md5(data), "SSE-S3 ETag is the plaintext MD5, as in S3"
        assert mp_etag == multipart_etag([a, b])
        assert part_etags == [quoted_md5(a), quoted_md5(b)]
    else:
        assert etag != quoted_md5(data), f"{mode.label} ETag must not be the plaintext MD5"
        assert len(etag) == 34, etag
        assert mp_etag != multipart_etag([a, b])
        assert part_etags[0] != quoted_md5(a) and part_etags[1] != quoted_md5(b)


# ------------------------------------------------------------------------------- ranges


def test_ranges_at_package_and_part_boundaries(https_server, https_bucket, mode):
    s3, bucket = https_server.client(), https_bucket
    size = 3 * PKG + 1000
    data = os.urandom(size)
    put(s3, bucket, "obj", data, mode)
    cases = [
        ("bytes=65535-65536", 65535, 65536),
        ("bytes=0-65535", 0, 65535),
        ("bytes=65536-131071", 65536, 131071),
        ("bytes=65535-131072", 65535, 131072),
        (f"bytes={size - 1}-{size - 1}", size - 1, size - 1),
        ("bytes=-1", size - 1, size - 1),
        ("bytes=-1000", size - 1000, size - 1),
        ("bytes=-65537", size - 65537, size - 1),
        ("bytes=131072-", 131072, size - 1),
    ]
    for rng, first, last in cases:
        resp, body = get(s3, bucket, "obj", mode, Range=rng)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 206, rng
        assert resp["ContentRange"] == f"bytes {first}-{last}/{size}", rng
        assert_same(body, data[first:last + 1], rng)

    a, b = os.urandom(5 * MIB), os.urandom(2 * PKG + 99)
    put_multipart(s3, bucket, "mp", [a, b], mode)
    whole = a + b
    edge = len(a)
    for first, last in [(edge - 1, edge), (edge - 10, edge + 10), (edge - PKG - 3, edge + PKG + 3)]:
        resp, body = get(s3, bucket, "mp", mode, Range=f"bytes={first}-{last}")
        assert resp["ContentRange"] == f"bytes {first}-{last}/{len(whole)}"
        assert_same(body, whole[first:last + 1], f"mp bytes={first}-{last}")
    for n, part, start in [(1, a, 0), (2, b, len(a))]:
        resp, body = get(s3, bucket, "mp", mode, PartNumber=n)
        assert resp["PartsCount"] == 2
        assert resp["ContentRange"] == f"bytes {start}-{start + len(part) - 1}/{len(whole)}"
        assert_same(body, part, f"mp partNumber={n}")


# --------------------------------------------------------------------------- copy matrix


@pytest.fixture(scope="module")
def copy_modes(https_server):
    sources = [NONE, S3, kms_mode(create_kms_key(https_server, "copy-src")), c_mode()]
    dests = [NONE, S3, kms_mode(create_kms_key(https_server, "copy-dst")), c_mode()]
    return sources, dests


def verify_copy(s3, bucket: str, key: str, want: bytes, dst: Mode, src: Mode) -> str | None:
    try:
        resp = s3.get_object(Bucket=bucket, Key=key, **dst.read_args())
        body = resp["Body"].read()
        problem = dst.problem(resp) or dst.problem(s3.head_object(Bucket=bucket, Key=key, **dst.read_args()))
    except ClientError as e:
        return f"GET/HEAD {key}: {e}"
    if problem:
        return f"{key}: {problem}"
    if body != want:
        return f"GET {key}: {len(body)} bytes, not the source's {len(want)} (byte-exact compare failed)"
    if dst.ckey is not None and src.ckey is not None:
        try:
            s3.get_object(Bucket=bucket, Key=key, **src.read_args())
            return f"GET {key} with the source's SSE-C key worked"
        except ClientError as e:
            if e.response["ResponseMetadata"]["HTTPStatusCode"] != 403:
                return f"GET {key} with the source's SSE-C key: {e}, not 403"
    return None


def write_sources(s3, bucket: str, sources: list[Mode], size: int) -> list[tuple[str, bytes]]:
    out = []
    for src in sources:
        data = os.urandom(size)
        put(s3, bucket, f"src/{src.label}", data, src)
        out.append((f"src/{src.label}", data))
    return out


def test_copy_object_between_every_pair_of_modes(https_server, https_bucket, copy_modes):
    s3, bucket = https_server.client(), https_bucket
    sources, dests = copy_modes
    written = write_sources(s3, bucket, sources, 3 * PKG + 777)
    problems = []
    for src, (src_key, data) in zip(sources, written):
        for dst in dests:
            key = f"copy/{src.label}-to-{dst.label}"
            try:
                resp = s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": src_key},
                                      **src.source_args(), **dst.write_args())
            except ClientError as e:
                problems.append(f"CopyObject {key}: {e}")
                continue
            if p := dst.problem(resp):
                problems.append(f"CopyObject {key} answer: {p}")
            etag = resp["CopyObjectResult"]["ETag"]
            if (etag == quoted_md5(data)) != (dst.label in ("none", "sse-s3")):
                problems.append(f"CopyObject {key}: ETag {etag} vs plaintext MD5 {quoted_md5(data)}")
            if p := verify_copy(s3, bucket, key, data, dst, src):
                problems.append(p)
    assert not problems, f"{len(problems)} of 16 copies went wrong:\n" + "\n".join(problems)


def test_upload_part_copy_between_every_pair_of_modes(https_server, https_bucket, copy_modes):
    s3, bucket = https_server.client(), https_bucket
    sources, dests = copy_modes
    size, cut = 5 * MIB + 70_001, 5 * MIB + 100  # parts split inside a package
    written = write_sources(s3, bucket, sources, size)
    problems = []
    for src, (src_key, data) in zip(sources, written):
        for dst in dests:
            key = f"upc/{src.label}-to-{dst.label}"
            try:
                uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **dst.write_args())["UploadId"]
                parts = []
                for n, rng in [(1, f"bytes=0-{cut - 1}"), (2, f"bytes={cut}-{size - 1}")]:
                    resp = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n,
                                               CopySource={"Bucket": bucket, "Key": src_key}, CopySourceRange=rng,
                                               **src.source_args(), **dst.read_args())
                    if p := dst.problem(resp):
                        problems.append(f"UploadPartCopy {key} #{n} answer: {p}")
                    parts.append({"PartNumber": n, "ETag": resp["CopyPartResult"]["ETag"]})
                s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})
            except ClientError as e:
                problems.append(f"{key}: {e}")
                continue
            if p := verify_copy(s3, bucket, key, data, dst, src):
                problems.append(p)
    assert not problems, f"{len(problems)} of 16 part copies went wrong:\n" + "\n".join(problems)


# ------------------------------------------------------------------------------- errors


def test_sse_c_key_errors(https_server, https_bucket):
    s3, bucket = https_server.client(), https_bucket
    right, wrong = c_mode(), c_mode()
    data = os.urandom(2 * PKG + 5)
    put(s3, bucket, "secret", data, right)

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="secret")
    assert error_of(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="secret")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="secret", **wrong.read_args())
    assert error_of(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="secret", Range="bytes=65530-65540", **wrong.read_args())
    assert error_of(e) == (403, "AccessDenied")

    # The right key (base64, as sent) with another key's MD5: botocore sends both unchanged.
    mismatched = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b64(right.ckey), "SSECustomerKeyMD5": md5_b64(wrong.ckey)}
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="secret", **mismatched)
    assert error_of(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="never", Body=b"x", **mismatched)
    assert error_of(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="never")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    # Copy of an SSE-C source needs its key as copy-source key.
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "secret"})
    assert error_of(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "secret"}, **wrong.source_args())
    assert error_of(e) == (403, "AccessDenied")

    assert_same(get(s3, bucket, "secret", right)[1], data, "the right key still reads")


def test_sse_c_over_plain_http_is_refused(http_server, http_bucket):
    s3, bucket = http_server.client(), http_bucket
    key = c_mode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", **key.write_args())
    assert error_of(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="k", **key.write_args())
    assert error_of(e) == (400, "InvalidRequest")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", **key.read_args())
    assert error_of(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def stop_now(srv) -> None:
    """Stops a throwaway server at once (SIGKILL): it has nothing left to do, and a graceful
    stop waits out idle keep-alive connections of the test's clients."""
    srv.proc.kill()
    stop_server(srv)


def test_sse_c_over_http_with_the_allow_flag(tmp_path):
    srv = start_server(tmp_path, "http", ("--sse-c-allow-http",))
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="allowed")
        key, data = c_mode(), os.urandom(PKG + 1)
        put(s3, "allowed", "k", data, key)
        assert_same(get(s3, "allowed", "k", key)[1], data, "SSE-C over allowed HTTP")
        head(s3, "allowed", "k", key, len(data))
    finally:
        stop_now(srv)


def kms_error_of(call) -> tuple[int, str] | None:
    """The (status, code) of the error `call` raises, or None if it succeeds."""
    try:
        call()
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    return None


def test_kms_unknown_disabled_enabled_rotated(https_server, https_bucket):
    s3, bucket = https_server.client(), https_bucket
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="u", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId="no-such-key-at-all")
    assert error_of(e) == (400, "KMS.NotFoundException")
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="u", ServerSideEncryption="aws:kms", SSEKMSKeyId="no-such-key-at-all")
    assert error_of(e) == (400, "KMS.NotFoundException")

    key = create_kms_key(https_server, "lifecycle")
    mode = kms_mode(key)
    before = os.urandom(2 * PKG + 11)
    put(s3, bucket, "before", before, mode)

    coffer_admin(https_server, "kms", "disable", key.name)
    # A server whose keyring is in PostgreSQL trusts its copy for up to a second.
    refused = wait_until(lambda: kms_error_of(lambda: s3.put_object(Bucket=bucket, Key="during", Body=b"x", **mode.write_args())),
                         timeout=5, what="the disabled key refused")
    assert refused == (400, "KMS.DisabledException")
    assert kms_error_of(lambda: s3.get_object(Bucket=bucket, Key="before")) == (400, "KMS.DisabledException")

    coffer_admin(https_server, "kms", "enable", key.name)
    wait_until(lambda: kms_error_of(lambda: get(s3, bucket, "before", mode)) is None, timeout=5, what="the key enabled again")
    assert_same(get(s3, bucket, "before", mode)[1], before, "readable after enable")
    during = os.urandom(PKG)
    put(s3, bucket, "after-enable", during, mode)
    assert_same(get(s3, bucket, "after-enable", mode)[1], during, "written after enable")

    out = coffer_admin(https_server, "kms", "rotate", key.name).stdout
    assert "rotated to version 2" in out, out
    assert_same(get(s3, bucket, "before", mode)[1], before, "written before the rotation")
    rotated = os.urandom(3 * PKG + 1)
    put(s3, bucket, "after-rotate", rotated, mode)
    assert_same(get(s3, bucket, "after-rotate", mode)[1], rotated, "written after the rotation")


def test_bucket_default_encryption(https_server, https_bucket):
    s3, bucket = https_server.client(), https_bucket
    data = os.urandom(2 * PKG + 123)

    def set_default(rule: dict):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": rule}]})

    set_default({"SSEAlgorithm": "AES256"})
    resp = s3.put_object(Bucket=bucket, Key="s3-default", Body=data)
    S3.check(resp, "plain PUT under an AES256 default")
    head(s3, bucket, "s3-default", S3, len(data))
    assert_same(get(s3, bucket, "s3-default", S3)[1], data, "s3-default")

    key = create_kms_key(https_server, "bucket-default")
    set_default({"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key.name})
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert got["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key.name}
    mode = kms_mode(key)
    resp = s3.put_object(Bucket=bucket, Key="kms-default", Body=data)
    mode.check(resp, "plain PUT under an aws:kms default")
    head(s3, bucket, "kms-default", mode, len(data))
    assert_same(get(s3, bucket, "kms-default", mode)[1], data, "kms-default")
    parts = [os.urandom(5 * MIB), os.urandom(99)]
    put_multipart(s3, bucket, "kms-default-mp", parts, Defaulted("sse-kms", kms=key))
    head(s3, bucket, "kms-default-mp", mode, sum(map(len, parts)))
    assert_same(get(s3, bucket, "kms-default-mp", mode)[1], b"".join(parts), "kms-default-mp")
    # The objects written under the AES256 default are still SSE-S3.
    head(s3, bucket, "s3-default", S3, len(data))


# ----------------------------------------------------------------- what is stored on disk


def files_containing(root: Path, needle: bytes) -> tuple[list[Path], int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    hits = []
    for f in files:
        try:
            if needle in f.read_bytes():
                hits.append(f)
        except FileNotFoundError:  # a staging file that went away
            pass
    return hits, len(files)


def write_marker_objects(s3, bucket: str, mode: Mode, marker: bytes) -> None:
    def text(n: int) -> bytes:
        return (marker * (n // len(marker) + 1))[:n]

    put(s3, bucket, f"{mode.label}-1mib", text(MIB), mode)
    put(s3, bucket, f"{mode.label}-100b", text(100), mode)
    put_multipart(s3, bucket, f"{mode.label}-mp", [text(5 * MIB), text(300_000)], mode)
    assert_same(get(s3, bucket, f"{mode.label}-100b", mode)[1], text(100), "marker object")


@pytest.mark.local_blobs
@pytest.mark.sqlite_index
def test_no_plaintext_reaches_the_data_dir(tmp_path):
    marker = f"<coffer-sse-marker-{os.urandom(8).hex()}>".encode()
    assert len(marker) < 50  # 100 bytes hold it at least twice
    srv = start_server(tmp_path, "https")
    control = start_server(tmp_path, "http")
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="marker")
        key = create_kms_key(srv, "marker")
        for mode in (S3, kms_mode(key), c_mode()):
            write_marker_objects(s3, "marker", mode, marker)
        # A copy re-encrypts from a plaintext stream: nothing of it may be left either.
        s3.copy_object(Bucket="marker", Key="copy", CopySource={"Bucket": "marker", "Key": "sse-s3-1mib"},
                       **c_mode().write_args())
        assert (srv.data_dir / "index.sqlite").is_file()
        assert len([p for p in (srv.data_dir / "blobs").rglob("*") if p.is_file()]) >= 9
        hits, scanned = files_containing(srv.data_dir, marker)
        assert not hits, f"plaintext marker found in {hits} (of {scanned} files)"

        # Control: the same objects unencrypted; the scan finds the marker in a blob and in the
        # index (the 100-byte object is stored inline).
        plain = control.client()
        plain.create_bucket(Bucket="marker")
        write_marker_objects(plain, "marker", NONE, marker)
        hits, _ = files_containing(control.data_dir, marker)
        assert any((control.data_dir / "blobs") in h.parents for h in hits), hits
        assert any(h.name.startswith("index.sqlite") for h in hits), hits
    finally:
        stop_now(srv)
        stop_now(control)


def read_partial(body) -> tuple[bytes, Exception | None]:
    got = bytearray()
    try:
        while chunk := body.read(PKG):
            got += chunk
    except Exception as e:  # noqa: BLE001 - any failure ends the body
        return bytes(got), e
    return bytes(got), None


@pytest.mark.local_blobs
def test_a_tampered_blob_is_never_served(tmp_path):
    srv = start_server(tmp_path, "http")
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="tamper")
        size = 24 * PKG + 500
        data = os.urandom(size)
        put(s3, "tamper", "victim", data, S3)
        blobs = [p for p in (srv.data_dir / "blobs").rglob("*") if p.is_file()]
        assert len(blobs) == 1, blobs
        blob = blobs[0]
        assert blob.stat().st_size == HEADER + size + -(-size // PKG) * TAG, "sealed blob layout"

        stored = bytearray(blob.read_bytes())
        altered = bytearray(data)
        for package, offset in [(4, 1234), (20, 777)]:
            stored[HEADER + package * (PKG + TAG) + offset] ^= 1
            altered[package * PKG + offset] ^= 1
        blob.chmod(blob.stat().st_mode | stat.S_IWUSR)
        blob.write_bytes(bytes(stored))
        log_offset = srv.log_size()

        def expect_refused(want: bytes, first_bad: int, **kwargs) -> None:
            try:
                resp = s3.get_object(Bucket="tamper", Key="victim", **kwargs)
            except ClientError as e:
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] >= 500, e.response
                return
            got, err = read_partial(resp["Body"])
            assert got != bytes(altered)
            assert err is not None, f"{kwargs}: body ended cleanly after {len(got)} of {len(want)} bytes"
            assert len(got) <= first_bad, f"{kwargs}: bytes of an altered package were served"
            assert got == want[:len(got)], f"{kwargs}: served bytes differ from the original"

        expect_refused(data, 4 * PKG)
        expect_refused(data[4 * PKG + 1000:4 * PKG + 1301], 0, Range=f"bytes={4 * PKG + 1000}-{4 * PKG + 1300}")
        expect_refused(data[8 * PKG:], 12 * PKG, Range=f"bytes={8 * PKG}-")
        for first, last in [(0, PKG - 1), (5 * PKG, 20 * PKG - 1), (21 * PKG, size - 1)]:
            _, body = get(s3, "tamper", "victim", S3, Range=f"bytes={first}-{last}")
            assert_same(body, data[first:last + 1], f"untouched bytes {first}-{last}")
        log = srv.log_since(log_offset)
        assert any("ERROR" in l and "authentication" in l for l in log.splitlines()), log
    finally:
        stop_now(srv)


# ------------------------------------------------------------------------------- aws CLI


@pytest.mark.cli
def test_aws_cli_cp_with_each_mode(https_server, https_bucket, kms_key, tmp_path):
    aws = aws_runner(https_server)
    s3, bucket = https_server.client(), https_bucket
    raw_key = os.urandom(32)
    key_file = tmp_path / "sse-c.key"
    key_file.write_bytes(raw_key)
    c = Mode("sse-c", ckey=raw_key)
    cases = [
        (S3, ["--sse", "AES256"], []),
        (kms_mode(kms_key), ["--sse", "aws:kms", "--sse-kms-key-id", kms_key.name], []),
        (c, ["--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}"], ["--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}"]),
    ]
    for mode, up_args, down_args in cases:
        # One single-request upload and one multipart (the CLI splits above 8 MiB).
        for name, size in [("small.bin", 3 * PKG + 17), ("big.bin", 9 * MIB + 5)]:
            src = tmp_path / f"{mode.label}-{name}"
            src.write_bytes(os.urandom(size))
            target = f"s3://{bucket}/{mode.label}/{name}"
            aws("s3", "cp", src, target, *up_args)
            head(s3, bucket, f"{mode.label}/{name}", mode, size)
            back = tmp_path / f"{mode.label}-{name}.back"
            aws("s3", "cp", target, back, *down_args)
            assert_same(back.read_bytes(), src.read_bytes(), f"aws s3 cp {mode.label} {name}")
    # Downloading an SSE-C object without the key fails.
    failed = aws("s3", "cp", f"s3://{bucket}/sse-c/small.bin", tmp_path / "nokey", check=False)
    assert failed.returncode != 0 and not (tmp_path / "nokey").exists()


@pytest.mark.local_blobs
def test_sse_s3_copies_share_the_stored_bytes(https_server, https_bucket):
    """A copy between two SSE-S3 objects keeps the sealed blob (no new file, same data key);
    a copy that changes the encryption writes a new one. Both read back exactly."""
    s3, bucket = https_server.client(), https_bucket
    blobs = lambda: sum(1 for p in (https_server.data_dir / "blobs").rglob("*") if p.is_file())  # noqa: E731
    data = os.urandom(2 * PKG + 5)
    s3.put_object(Bucket=bucket, Key="shared/src", Body=data, ServerSideEncryption="AES256")
    before = blobs()
    s3.copy_object(Bucket=bucket, Key="shared/dst", CopySource={"Bucket": bucket, "Key": "shared/src"},
                   ServerSideEncryption="AES256")
    assert blobs() == before, "an SSE-S3 to SSE-S3 copy shares the sealed blob"
    got = s3.get_object(Bucket=bucket, Key="shared/dst")
    assert (got["ServerSideEncryption"], got["Body"].read()) == ("AES256", data)
    s3.copy_object(Bucket=bucket, Key="shared/plain", CopySource={"Bucket": bucket, "Key": "shared/src"})
    assert blobs() == before + 1, "decrypting into an unencrypted copy writes new bytes"
    got = s3.get_object(Bucket=bucket, Key="shared/plain")
    assert ("ServerSideEncryption" not in got, got["Body"].read()) == (True, data)
    s3.delete_object(Bucket=bucket, Key="shared/src")
    assert s3.get_object(Bucket=bucket, Key="shared/dst")["Body"].read() == data, "the copy outlives its source"
