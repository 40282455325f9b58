"""Running as a service: SIGHUP swaps the TLS certificate for new handshakes while connections
already open keep working, and puts a new metrics token in use; SIGTERM during concurrent uploads loses no acknowledged object, and
an upload still sending its body when SIGTERM comes finishes and is kept; the systemd unit
verifies."""

from __future__ import annotations

import hashlib
import http.client
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from harness import REGION, REPO_ROOT, coffer_binary, free_port, make_tls_material, random_bucket_name, start_server, stop_server, wait_until


def presented_certificate(port: int) -> bytes:
    """The DER certificate the server presents to a new handshake (not verified)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def der_of(pem_path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


def test_sighup_swaps_the_certificate_without_dropping_connections(tmp_root):
    srv = start_server(tmp_root, "https")
    try:
        base = srv.data_dir.parent
        old_der = der_of(base / "server.pem")
        assert presented_certificate(srv.port) == old_der
        # A keep-alive connection opened before the swap.
        kept = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ssl.create_default_context(cafile=str(srv.ca_bundle)), timeout=10)
        kept.request("GET", "/health")
        assert kept.getresponse().read().strip() == b"ok"

        # A renewed certificate (from a new CA) replaces the files the server was started with.
        fresh = base / "renewed"
        fresh.mkdir()
        new_ca, new_cert, new_key = make_tls_material(fresh)
        (base / "server.pem").write_bytes(new_cert.read_bytes())
        (base / "server-key.pem").write_bytes(new_key.read_bytes())
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: presented_certificate(srv.port) == der_of(new_cert), timeout=10, what="the new certificate")
        assert srv.alive(), "SIGHUP must not stop the server"

        kept.request("GET", "/health")
        assert kept.getresponse().read().strip() == b"ok", "the connection opened before the swap still works"
        kept.close()
        s3 = boto3.client("s3", endpoint_url=srv.endpoint, aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key,
                          region_name=REGION, verify=str(new_ca), config=Config(s3={"addressing_style": "path"}))
        s3.list_buckets()
        assert "TLS certificate reloaded" in srv.log_since(0)

        # A broken file keeps the certificate in use.
        (base / "server.pem").write_text("not a certificate")
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "TLS certificate not reloaded" in srv.log_since(0), timeout=10, what="the reload error")
        assert presented_certificate(srv.port) == der_of(new_cert)
    finally:
        stop_server(srv)


def metrics_status(port: int, token: str) -> int:
    """The status a scrape of the metrics listener on `port` gets with bearer `token`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_sighup_replaces_the_metrics_token(tmp_root):
    config = Path(tempfile.mkdtemp(prefix="hup-", dir=tmp_root)) / "coffer.toml"
    port = free_port()
    write = lambda token: config.write_text(f'metrics_address = "127.0.0.1:{port}"\nmetrics_token = "{token}"\n')
    write("first-token")
    srv = start_server(tmp_root, "http", ("--config", str(config)))
    try:
        wait_until(lambda: metrics_status(port, "first-token") == 200, timeout=10, what="the metrics listener")
        write("second-token")
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: metrics_status(port, "second-token") == 200, timeout=10, what="the new token")
        assert metrics_status(port, "first-token") == 401
        assert "metrics token replaced" in srv.log_since(0)
    finally:
        stop_server(srv)


def test_sigterm_during_uploads_loses_no_acknowledged_object(tmp_root):
    srv = start_server(tmp_root, "http")
    bucket = random_bucket_name()
    srv.client().create_bucket(Bucket=bucket)
    acknowledged: dict[str, str] = {}
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def uploader(n: int):
        s3 = srv.client(connect_timeout=2, read_timeout=20)
        i = 0
        while not stop.is_set():
            key = f"u{n}/{i}"
            body = uuid.uuid4().bytes * (1024 * (1 + (i % 40)))  # 16 KiB .. 640 KiB
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
            except Exception as e:  # noqa: BLE001 - refused or cut off: not acknowledged
                with lock:
                    failures.append(type(e).__name__)
                return
            with lock:
                acknowledged[key] = hashlib.md5(body).hexdigest()
            i += 1

    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(2)
    stopping = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(timeout=40)
    took = time.monotonic() - stopping
    stop.set()
    for t in threads:
        t.join(timeout=30)
    log = srv.log_since(0)
    stop_server(srv)
    assert srv.proc.returncode == 0, log[-3000:]
    assert "requests in flight finished" in log
    assert len(acknowledged) > 20, f"only {len(acknowledged)} uploads finished before the SIGTERM"
    print(f"{len(acknowledged)} acknowledged uploads, {len(failures)} cut off; stopped in {took:.2f}s")

    again = start_server(tmp_root, "http", data_dir=srv.data_dir, port=srv.port)
    try:
        s3 = again.client()
        for key, md5 in acknowledged.items():
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert hashlib.md5(body).hexdigest() == md5, key
    finally:
        stop_server(again)


def test_an_upload_in_flight_finishes_after_sigterm(tmp_root):
    srv = start_server(tmp_root, "http")
    bucket = random_bucket_name()
    s3 = srv.client()
    s3.create_bucket(Bucket=bucket)
    body = b"slow" * (256 * 1024)  # 1 MiB, sent over about two seconds
    url = urllib.parse.urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "slow"}, ExpiresIn=300))
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.putrequest("PUT", f"{url.path}?{url.query}", skip_accept_encoding=True)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    chunk = len(body) // 16
    for i in range(16):
        conn.send(body[i * chunk:(i + 1) * chunk])
        if i == 5:
            srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.125)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    srv.proc.wait(timeout=40)
    stop_server(srv)
    again = start_server(tmp_root, "http", data_dir=srv.data_dir, port=srv.port)
    try:
        assert again.client().get_object(Bucket=bucket, Key="slow")["Body"].read() == body
    finally:
        stop_server(again)


def test_a_second_sigterm_stops_at_once(tmp_root):
    srv = start_server(tmp_root, "http", ("--shutdown-timeout", "60s"))
    bucket = random_bucket_name()
    s3 = srv.client()
    s3.create_bucket(Bucket=bucket)
    url = urllib.parse.urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "stalled"}, ExpiresIn=300))
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.putrequest("PUT", f"{url.path}?{url.query}", skip_accept_encoding=True)
    conn.putheader("Content-Length", str(1024 * 1024))
    conn.endheaders()
    conn.send(b"x" * 1024)  # and then nothing: the upload stays in flight
    time.sleep(0.3)
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert srv.alive(), "the first SIGTERM waits for the upload in flight"
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(timeout=10)
    assert time.monotonic() - started < 5
    assert "stopping now: 1 requests in flight are cut off" in srv.log_since(0)
    conn.close()
    stop_server(srv)


def test_the_systemd_unit_verifies(tmp_path):
    """contrib/systemd/coffer.service passes `systemd-analyze verify` (with ExecStart pointing at
    the binary under test) and keeps its hardening."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (REPO_ROOT / "contrib" / "systemd" / "coffer.service").read_text()
    for setting in ("User=coffer", "ProtectSystem=strict", "ReadWritePaths=/var/lib/coffer", "NoNewPrivileges=yes",
                    "ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM", "CapabilityBoundingSet="):
        assert setting in unit, setting
    copy = tmp_path / "coffer.service"
    copy.write_text(unit.replace("/usr/local/bin/coffer", str(coffer_binary())))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
