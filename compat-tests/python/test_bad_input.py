"""Bad input gets S3's precise error (code and status) and leaves stored data untouched:
requests are built and signed by hand (botocore's SigV4 signer) or sent over a raw socket."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import socket

import botocore.auth
import pytest
import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from harness import REGION

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class _FixedPayloadSigner(S3SigV4Auth):
    """SigV4 with a payload hash of our choosing (e.g. STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""

    def __init__(self, credentials, region, payload_hash):
        super().__init__(credentials, "s3", region)
        self._payload_hash = payload_hash

    def payload(self, request):
        return self._payload_hash


def sign(server, method, path, body=b"", headers=None, payload_hash=None, region=REGION):
    req = AWSRequest(method=method, url=server.endpoint + path, data=body, headers=dict(headers or {}))
    creds = Credentials(server.access_key, server.secret_key)
    signer = _FixedPayloadSigner(creds, region, payload_hash) if payload_hash else S3SigV4Auth(creds, "s3", region)
    signer.add_auth(req)
    return req


def send(req, body=None):
    prepared = req.prepare()
    http = urllib3.PoolManager(retries=False)
    return http.request(prepared.method, prepared.url, body=prepared.body if body is None else body,
                        headers=dict(prepared.headers), preload_content=True)


def code_of(resp):
    text = resp.data.decode(errors="replace")
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""


def raw_exchange(server, head: bytes, body: bytes = b"", half_close=False) -> str:
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.sendall(head + body)
    if half_close:
        conn.shutdown(socket.SHUT_WR)
    data = b""
    while b"</Error>" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    conn.close()
    return data.decode(errors="replace")


def presigned_put_path(server, bucket, key):
    url = server.client(signature_version="s3v4").generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    return url[len(server.endpoint):]


def keep_original(s3, bucket, key=b"original bytes"):
    s3.put_object(Bucket=bucket, Key="k", Body=key)
    return lambda: s3.get_object(Bucket=bucket, Key="k")["Body"].read() == key


def test_short_body_is_incomplete_body(http_server, http_bucket):
    intact = keep_original(http_server.client(), http_bucket)
    path = presigned_put_path(http_server, http_bucket, "k")
    head = f"PUT {path} HTTP/1.1\r\nHost: {http_server.host_port}\r\nContent-Length: 100\r\n\r\n".encode()
    reply = raw_exchange(http_server, head, b"x" * 50, half_close=True)
    assert reply.startswith("HTTP/1.1 400") and "<Code>IncompleteBody</Code>" in reply, reply
    assert intact()


def test_missing_length_is_411(http_server, http_bucket):
    path = presigned_put_path(http_server, http_bucket, "k")
    reply = raw_exchange(http_server, f"PUT {path} HTTP/1.1\r\nHost: {http_server.host_port}\r\n\r\n".encode())
    assert reply.startswith("HTTP/1.1 411") and "<Code>MissingContentLength</Code>" in reply, reply


def test_single_put_over_5gib_is_entity_too_large(http_server, http_bucket):
    path = presigned_put_path(http_server, http_bucket, "huge")
    head = (f"PUT {path} HTTP/1.1\r\nHost: {http_server.host_port}\r\n"
            f"Content-Length: {5 * 1024**3 + 1}\r\nExpect: 100-continue\r\n\r\n").encode()
    reply = raw_exchange(http_server, head)
    assert reply.startswith("HTTP/1.1 400") and "<Code>EntityTooLarge</Code>" in reply, reply


def test_key_too_long(http_server, http_bucket):
    with pytest.raises(ClientError) as e:
        http_server.client().put_object(Bucket=http_bucket, Key="k" * 1025, Body=b"x")
    assert e.value.response["Error"]["Code"] == "KeyTooLongError"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_metadata_too_large(http_server, http_bucket):
    with pytest.raises(ClientError) as e:
        http_server.client().put_object(Bucket=http_bucket, Key="m", Body=b"x", Metadata={"big": "v" * 2100})
    assert e.value.response["Error"]["Code"] == "MetadataTooLarge"


def test_invalid_and_bad_content_md5(http_server, http_bucket):
    intact = keep_original(http_server.client(), http_bucket)
    resp = send(sign(http_server, "PUT", f"/{http_bucket}/k", b"new", {"Content-MD5": "not-base64!"}))
    assert (resp.status, code_of(resp)) == (400, "InvalidDigest")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    resp = send(sign(http_server, "PUT", f"/{http_bucket}/k", b"new", {"Content-MD5": wrong}))
    assert (resp.status, code_of(resp)) == (400, "BadDigest")
    assert intact()


def test_payload_hash_mismatch(http_server, http_bucket):
    intact = keep_original(http_server.client(), http_bucket)
    req = sign(http_server, "PUT", f"/{http_bucket}/k", b"signed body")
    resp = send(req, body=b"sent body!!")
    assert (resp.status, code_of(resp)) == (400, "XAmzContentSHA256Mismatch")
    assert intact()


def test_malformed_delete_objects_xml(http_server, http_bucket):
    body = b"<Delete><Object><Key>k</Key></Object"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    resp = send(sign(http_server, "POST", f"/{http_bucket}?delete", body, {"Content-MD5": md5}))
    assert (resp.status, code_of(resp)) == (400, "MalformedXML")


def test_wrong_region_names_the_expected_one(http_server, http_bucket):
    resp = send(sign(http_server, "GET", f"/{http_bucket}?list-type=2", region="eu-west-1"))
    assert (resp.status, code_of(resp)) == (400, "AuthorizationHeaderMalformed")
    assert "us-east-1" in resp.data.decode()


def test_clock_skew(http_server, http_bucket, monkeypatch):
    skewed = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed.replace(tzinfo=None))
    resp = send(sign(http_server, "GET", f"/{http_bucket}?list-type=2"))
    assert (resp.status, code_of(resp)) == (403, "RequestTimeTooSkewed")


def test_unknown_key_and_bad_signature(http_server, http_bucket):
    req = sign(http_server, "GET", f"/{http_bucket}?list-type=2")
    req.headers["Authorization"] = req.headers["Authorization"].replace(http_server.access_key, "NOSUCHKEY0000000000")
    resp = send(req)
    assert (resp.status, code_of(resp)) == (403, "InvalidAccessKeyId")
    req = sign(http_server, "GET", f"/{http_bucket}?list-type=2")
    req.headers["Authorization"] = req.headers["Authorization"][:-4] + "0000"
    resp = send(req)
    assert (resp.status, code_of(resp)) == (403, "SignatureDoesNotMatch")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _aws_chunked(server, req, chunks, corrupt_chunk=None) -> bytes:
    """Encodes `chunks` as a signed aws-chunked body chained to the request's seed signature."""
    auth = req.headers["Authorization"]
    seed = auth.rsplit("Signature=", 1)[1]
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/", 1)[1]
    date, region, service, _ = scope.split("/")
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + server.secret_key).encode(), date), region), service), "aws4_request")
    timestamp = req.headers["X-Amz-Date"]
    out, prev = b"", seed
    for i, data in enumerate(list(chunks) + [b""]):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, prev, EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        prev = sig
        sent = data if i != corrupt_chunk else bytes(b ^ 1 for b in data)
        out += f"{len(data):x};chunk-signature={sig}\r\n".encode() + sent + b"\r\n"
    return out


@pytest.mark.parametrize("corrupt", [None, 1])
def test_signed_chunks_are_verified(http_server, http_bucket, corrupt):
    intact = keep_original(http_server.client(), http_bucket)
    chunks = [b"a" * 65536, b"b" * 65536, b"c" * 100]
    decoded = sum(len(c) for c in chunks)
    # The framing's length is known before signing: every chunk signature is 64 hex digits.
    encoded = sum(len(f"{len(c):x};chunk-signature=") + 64 + 2 + len(c) + 2 for c in chunks + [b""])
    headers = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(decoded),
               "Content-Length": str(encoded)}
    req = sign(http_server, "PUT", f"/{http_bucket}/k", b"", headers, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = _aws_chunked(http_server, req, chunks, corrupt_chunk=corrupt)
    assert len(body) == encoded
    resp = send(req, body=body)
    s3 = http_server.client()
    if corrupt is None:
        assert resp.status == 200, resp.data
        got = s3.get_object(Bucket=http_bucket, Key="k")
        assert got["Body"].read() == b"".join(chunks)
        assert "ContentEncoding" not in got, "aws-chunked is not stored as the object's encoding"
    else:
        assert (resp.status, code_of(resp)) == (403, "SignatureDoesNotMatch")
        assert intact()


def test_path_tricks_are_plain_keys(http_server, http_bucket):
    s3 = http_server.client()
    keys = ["../../../etc/passwd", "a/./b/../c", "..", "nul\x00inside", "back\\slash"]
    for k in keys:
        s3.put_object(Bucket=http_bucket, Key=k, Body=k.encode())
    for k in keys:
        assert s3.get_object(Bucket=http_bucket, Key=k)["Body"].read() == k.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=http_bucket)["Contents"]]
    assert sorted(listed) == sorted(keys)
    # Nothing was written outside the data dir's own layout.
    top = {p.name for p in http_server.data_dir.iterdir()}
    assert top <= {"blobs", "tmp", "kms", "index.sqlite", "index.sqlite-wal", "index.sqlite-shm",
                   "master.key", "master.key.fingerprint", "server.json", "node-id"}, top


def test_bad_encryption_requests_store_nothing(http_server, http_bucket):
    s3 = http_server.client()
    key = base64.b64encode(b"k" * 32).decode()
    wrong_md5 = base64.b64encode(hashlib.md5(b"j" * 32).digest()).decode()
    cases = [
        ({"ServerSideEncryption": "aes:kms"}, "InvalidArgument"),
        ({"ServerSideEncryption": "AES256", "SSEKMSKeyId": "k1"}, "InvalidArgument"),
        ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "no-such-key"}, "KMS.NotFoundException"),
        # Customer keys only over HTTPS (test_sse.py covers SSE-C key errors over HTTPS).
        ({"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key, "SSECustomerKeyMD5": wrong_md5}, "InvalidRequest"),
    ]
    for extra, code in cases:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=http_bucket, Key="secret", Body=b"x", **extra)
        assert (e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (code, 400), extra
    assert s3.list_objects_v2(Bucket=http_bucket).get("KeyCount") == 0
