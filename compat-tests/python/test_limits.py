"""Resource limits against hostile clients: 1,000 idle, slowloris and stalled-body connections
while boto3 is still served promptly with bounded memory; the stalled ones are cut after the
timeouts and leave no staging files. Also the in-flight gate (requests past it wait their
turn, and get 503 SlowDown when none comes in time or the queue is off), the connection
bound, the header limits, and what an upload refused before its body was read leaves of its
connection.

COFFER_LIMITS_CONNECTIONS sets the number of hostile connections (default 1000)."""

from __future__ import annotations

import http.client
import os
import re
import resource
import socket
import threading
import time
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from harness import random_bucket_name, start_server, stop_server

CONNECTIONS = int(os.environ.get("COFFER_LIMITS_CONNECTIONS", "1000"))
TIMEOUT_S = 4
RSS_LIMIT_MIB = 256
# A boto3 request on loopback takes milliseconds; "promptly" leaves room for a busy machine.
PROMPT_S = 2.0


def raise_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"needs {wanted} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def proc_status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


def connect(srv) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def presigned_put_head(srv, bucket: str, key: str, length: int) -> bytes:
    """The head of a presigned PUT (unsigned payload) announcing `length` body bytes."""
    url = urllib.parse.urlsplit(srv.client().generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600))
    return (f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {srv.host_port}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def closed_by_server(s: socket.socket, wait_s: float) -> tuple[bool, bytes]:
    """Whether the server closes `s` within `wait_s` seconds, and what it sent before."""
    s.settimeout(wait_s)
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True, got
            got += chunk
    except (ConnectionResetError, BrokenPipeError):
        return True, got
    except socket.timeout:
        return False, got


def staging_files(srv) -> list[str]:
    tmp = srv.data_dir / "tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


@pytest.fixture(scope="module")
def crowded_server(tmp_root):
    raise_open_files(CONNECTIONS + 1024)
    srv = start_server(tmp_root, "http", (
        "--request-head-timeout", str(TIMEOUT_S), "--body-timeout", str(TIMEOUT_S),
        "--max-connections", str(CONNECTIONS + 256), "--max-requests-in-flight", str(CONNECTIONS),
    ))
    yield srv
    stop_server(srv)


def test_thousand_hostile_connections_do_not_stop_service(crowded_server):
    srv = crowded_server
    s3 = srv.client()
    bucket = random_bucket_name()
    s3.create_bucket(Bucket=bucket)
    body_head = presigned_put_head(srv, bucket, "stalled", 1 << 20)
    rss_before = proc_status_kib(srv.proc.pid, "VmRSS")

    # A third connect and say nothing, a third send half a request head (slowloris), a third
    # send a whole PUT head and part of the body, then stop.
    held: dict[str, list[socket.socket]] = {"idle": [], "slow head": [], "stalled body": []}
    started = time.monotonic()
    for i in range(CONNECTIONS):
        s = connect(srv)
        kind = ("idle", "slow head", "stalled body")[i % 3]
        if kind == "slow head":
            s.sendall(f"GET /{bucket}/k HTTP/1.1\r\nHost: {srv.host_port}\r\nX-Slow: ".encode())
        elif kind == "stalled body":
            s.sendall(body_head + b"x" * 4096)
        held[kind].append(s)
    opened_s = time.monotonic() - started

    # While they are all held, real clients are served, promptly.
    latencies = {}
    for name, call in [
        ("PutObject", lambda: s3.put_object(Bucket=bucket, Key="live", Body=b"still serving")),
        ("GetObject", lambda: s3.get_object(Bucket=bucket, Key="live")["Body"].read()),
        ("ListObjectsV2", lambda: s3.list_objects_v2(Bucket=bucket)),
        ("HeadBucket", lambda: s3.head_bucket(Bucket=bucket)),
    ]:
        t = time.monotonic()
        result = call()
        latencies[name] = time.monotonic() - t
        if name == "GetObject":
            assert result == b"still serving"
    assert time.monotonic() - started < TIMEOUT_S, "the check ran after the timeouts; the machine is too slow"
    rss_held = proc_status_kib(srv.proc.pid, "VmRSS")

    # The stalled ones are cut after the timeouts: idle and slowloris with 408 (actix),
    # stalled bodies with S3's 400 RequestTimeout; all closed by the server.
    deadline = started + TIMEOUT_S * 3
    answers = {}
    for kind, socks in held.items():
        for s in socks:
            closed, got = closed_by_server(s, max(0.1, deadline - time.monotonic()))
            assert closed, f"a {kind} connection is still open {TIMEOUT_S * 3} s after it stalled"
            answers.setdefault(kind, set()).add(got.split(b"\r\n", 1)[0].decode(errors="replace"))
            s.close()
        if kind == "stalled body":
            assert b"<Code>RequestTimeout</Code>" in got, got
    hwm = proc_status_kib(srv.proc.pid, "VmHWM")
    print(f"\n{CONNECTIONS} connections opened in {opened_s:.2f} s; boto3 latencies while held: "
          + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in latencies.items())
          + f"; server VmRSS {rss_before // 1024} MiB before, {rss_held // 1024} MiB held,"
          f" VmHWM {hwm // 1024} MiB; answers {answers}")
    assert all(v < PROMPT_S for v in latencies.values()), latencies
    assert hwm < RSS_LIMIT_MIB * 1024, f"server peak RSS {hwm // 1024} MiB"
    assert answers["stalled body"] == {"HTTP/1.1 400 Bad Request"}
    # No stalled upload left a staging file, and none became an object.
    assert staging_files(srv) == []
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["live"]


# ------------------------------------------------------------------ a small server's bounds

SMALL_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def small_server(tmp_root):
    srv = start_server(tmp_root, "http", (
        "--workers", "1", "--max-connections", "8", "--max-requests-in-flight", "2", "--request-queue-wait", "0",
        "--request-head-timeout", str(SMALL_TIMEOUT_S), "--body-timeout", str(SMALL_TIMEOUT_S),
        "--max-header-count", "40", "--max-header-bytes", "8192",
    ))
    yield srv
    stop_server(srv)


def test_connections_past_the_bound_wait_for_a_free_one(small_server):
    # First on this server, so that no client's kept-alive connection holds a place.
    srv = small_server
    idle = [connect(srv) for _ in range(8)]
    try:
        time.sleep(0.3)
        started = time.monotonic()
        srv.client().list_buckets()
        waited = time.monotonic() - started
    finally:
        for s in idle:
            s.close()
    # The request was accepted only once the head timeout had closed an idle connection.
    assert waited > SMALL_TIMEOUT_S / 2, f"served after {waited:.2f} s despite 8 idle connections"


def test_requests_past_the_in_flight_bound_wait_for_a_place(tmp_root):
    srv = start_server(tmp_root, "http", ("--max-requests-in-flight", "1", "--request-queue-wait", "30"))
    try:
        s3 = srv.client()
        bucket = random_bucket_name()
        s3.create_bucket(Bucket=bucket)
        # A PUT whose body is held back keeps the one place.
        held = connect(srv)
        held.sendall(presigned_put_head(srv, bucket, "held", 1000) + b"x" * 10)
        time.sleep(0.3)
        answered = {}

        def head():
            started = time.monotonic()
            answered["status"] = s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"]
            answered["took"] = time.monotonic() - started

        waiter = threading.Thread(target=head)
        waiter.start()
        time.sleep(1.0)
        assert "status" not in answered, "a request past the bound was answered while the place was held"
        held.sendall(b"x" * 990)
        held.settimeout(10)
        assert held.recv(65536).startswith(b"HTTP/1.1 200"), "the held PUT completes"
        waiter.join(10)
        assert answered.get("status") == 200, answered
        assert answered["took"] >= 0.9, answered
        held.close()
        assert s3.get_object(Bucket=bucket, Key="held")["ContentLength"] == 1000
    finally:
        stop_server(srv)


def test_requests_past_the_in_flight_bound_get_slow_down(small_server):
    srv = small_server
    s3 = srv.client()
    bucket = random_bucket_name()
    s3.create_bucket(Bucket=bucket)
    stalled = []
    for i in range(2):
        s = connect(srv)
        s.sendall(presigned_put_head(srv, bucket, f"slow{i}", 1000) + b"x" * 10)
        stalled.append(s)
    # The body timeout counts idle time, so a byte now and then keeps both places taken for as
    # long as the checks below take, however slow a loaded machine makes them.
    trickling = threading.Event()
    trickling.set()

    def trickle():
        while trickling.is_set():
            for s in stalled:
                s.sendall(b"x")
            time.sleep(SMALL_TIMEOUT_S / 4)

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        time.sleep(0.3)
        with pytest.raises(ClientError) as e:
            s3.head_bucket(Bucket=bucket)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with pytest.raises(ClientError) as e:
            s3.list_objects_v2(Bucket=bucket)
        assert e.value.response["Error"]["Code"] == "SlowDown"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    finally:
        trickling.clear()
        trickler.join()
    # Once the stalled bodies are cut, the places are free again.
    for s in stalled:
        closed, got = closed_by_server(s, SMALL_TIMEOUT_S * 3)
        assert closed and b"RequestTimeout" in got, got
        s.close()
    s3.head_bucket(Bucket=bucket)
    assert staging_files(srv) == []


def raw_request(srv, extra_headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    s = connect(srv)
    try:
        head = f"GET / HTTP/1.1\r\nHost: {srv.host_port}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in extra_headers) + "\r\n"
        try:
            s.sendall(head.encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the whole head was sent; the answer may still be readable
        _, got = closed_by_server(s, 10)
    finally:
        s.close()
    return int(got.split(b" ", 2)[1]), got


def test_header_limits(small_server):
    # Past the configured count or size: S3's 400 RequestHeaderSectionTooLarge.
    status, body = raw_request(small_server, [(f"x-h{i}", "v") for i in range(45)])
    assert status == 400 and b"<Code>RequestHeaderSectionTooLarge</Code>" in body, body
    status, body = raw_request(small_server, [("x-big", "v" * 9000)])
    assert status == 400 and b"<Code>RequestHeaderSectionTooLarge</Code>" in body, body
    # Past actix-http's own parser limits (96 headers, 128 KiB of head): 431 with no body.
    status, _ = raw_request(small_server, [(f"x-h{i}", "v") for i in range(100)])
    assert status == 431
    status, _ = raw_request(small_server, [("x-big", "v" * 140_000)])
    assert status == 431


def test_a_small_refused_upload_is_answered_on_a_connection_that_stays_open(http_server):
    """A PUT refused before its body is read (here: to a bucket that does not exist) has a
    body of up to 1 MiB read first, so the client gets the error and keeps its connection; a
    larger one is answered with `Connection: close` instead of being read."""
    missing = random_bucket_name()
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=30)
    try:
        for size in (1, 64 * 1024, 1024 * 1024):
            conn.request("PUT", f"/{missing}/k", body=os.urandom(size))
            resp = conn.getresponse()
            assert resp.status == 404 and b"NoSuchBucket" in resp.read(), size
            assert not resp.will_close, (size, resp.getheaders())
            sock = conn.sock
            conn.request("GET", "/health")
            health = conn.getresponse()
            assert health.status == 200 and conn.sock is sock, "the next request went on the same connection"
            health.read()
    finally:
        conn.close()

    s = connect(http_server)
    try:
        s.sendall(f"PUT /{missing}/k HTTP/1.1\r\nHost: {http_server.host_port}\r\n"
                  f"Content-Length: {4 * 1024 * 1024}\r\n\r\n".encode() + b"x" * 1000)
        closed, got = closed_by_server(s, 10)
    finally:
        s.close()
    assert closed and got.startswith(b"HTTP/1.1 404") and b"NoSuchBucket" in got, got
    assert b"\r\nconnection: close\r\n" in got.lower(), got
