"""Metrics, health checks and the access log (README "Metrics, health and logs").

/metrics counts boto3's traffic by operation and status class, with bytes and latency, and
reports usage per bucket (deduplicated bytes below logical ones); a real Prometheus (Debian's
`prometheus`, started here on loopback) scrapes the metrics listener and answers the counters
through its query API; who may read /metrics where; /health/live and /health/ready (503 while
the data dir takes no writes); the access log as JSON and as text lines."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from harness import REGION, REPO_ROOT, create_user, debian_tool, empty_and_delete_bucket, free_port, random_bucket_name, start_server, stop_server

TOKEN = "metrics-test-token-0123456789"
OBJECT = os.urandom(4096)
# Above the inline threshold (64 KiB), so it is stored as a blob that copies can share.
SHARED = os.urandom(100 * 1024)


def http_get(url: str, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def signed_headers(srv, path: str, access_key: str, secret_key: str) -> dict:
    """SigV4 headers of a GET of `path` on the S3 port."""
    req = AWSRequest(method="GET", url=srv.endpoint + path)
    S3SigV4Auth(Credentials(access_key, secret_key), "s3", REGION).add_auth(req)
    return dict(req.headers.items())


def parse(text: str) -> dict[str, float]:
    """Samples of a Prometheus text exposition: 'name{labels}' -> value."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def sample(samples: dict[str, float], name: str, **labels: str) -> float:
    """The value of the sample of `name` with exactly these labels (0 when absent)."""
    want = sorted(f'{k}="{v}"' for k, v in labels.items())
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base == name and sorted(filter(None, rest.rstrip("}").split(","))) == want:
            return value
    return 0.0


@pytest.fixture(scope="module")
def open_srv(tmp_root):
    """A server whose metrics listener asks for no credentials, logging JSON lines."""
    port = free_port()
    srv = start_server(tmp_root, "http", ("--metrics-address", f"127.0.0.1:{port}", "--log-format", "json",
                                          "--metrics-usage-interval", "1s"))
    srv.metrics_url = f"http://127.0.0.1:{port}"
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def token_srv(tmp_root):
    """A server with a metrics bearer token (asked for on both ports), logging text."""
    port = free_port()
    srv = start_server(tmp_root, "http", ("--metrics-address", f"127.0.0.1:{port}", "--metrics-token", TOKEN))
    srv.metrics_url = f"http://127.0.0.1:{port}"
    yield srv
    stop_server(srv)


@pytest.fixture
def bucket(open_srv):
    s3 = open_srv.client()
    name = random_bucket_name()
    s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(s3, name)


def scrape(srv) -> dict[str, float]:
    status, text = http_get(srv.metrics_url + "/metrics")
    assert status == 200, text
    return parse(text)


def test_counters_follow_boto3_traffic(open_srv, bucket):
    s3 = open_srv.client()
    before = scrape(open_srv)
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=OBJECT)
    for i in range(3):
        assert s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read() == OBJECT
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="missing")
    # Each request is counted once its response has gone out.
    time.sleep(0.2)
    after = scrape(open_srv)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("coffer_s3_requests_total", operation="PutObject", status_class="2xx") == 5
    assert delta("coffer_s3_requests_total", operation="GetObject", status_class="2xx") == 3
    assert delta("coffer_s3_requests_total", operation="HeadObject", status_class="4xx") == 1
    assert delta("coffer_s3_request_duration_seconds_count", operation="PutObject") == 5
    assert delta("coffer_s3_request_duration_seconds_bucket", operation="PutObject", le="+Inf") == 5
    assert delta("coffer_s3_received_bytes_total", operation="PutObject") >= 5 * len(OBJECT)
    assert delta("coffer_s3_sent_bytes_total", operation="GetObject") == 3 * len(OBJECT)
    assert sample(after, "coffer_s3_connections_open") >= 1
    assert sample(after, "coffer_s3_requests_in_flight") == 0
    for family in ("coffer_process_resident_memory_bytes", "coffer_process_open_fds", "coffer_process_uptime_seconds",
                   "coffer_index_size_bytes"):
        assert sample(after, family) > 0, family
    assert sample(after, "coffer_build_info", version=_version()) == 1
    for worker in ("gc", "lifecycle", "replication", "notify", "scrub", "tiering", "orphan-sweep"):
        assert sample(after, "coffer_worker_steps_total", worker=worker) >= 1, worker
        assert sample(after, "coffer_worker_last_run_timestamp_seconds", worker=worker) > 1.7e9, worker
    assert sample(after, "coffer_worker_running", worker="gc") == 1
    assert sample(after, "coffer_worker_running", worker="orphan-sweep") == 0
    assert 'coffer_worker_backlog{worker="replication"}' in after


def _version() -> str:
    from harness import coffer_binary
    return subprocess.run([str(coffer_binary()), "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]


def test_usage_per_bucket_shows_deduplication(open_srv, bucket):
    s3 = open_srv.client()
    for key in ("copy-1", "copy-2", "copy-3"):
        s3.put_object(Bucket=bucket, Key=key, Body=SHARED)
    s3.put_object(Bucket=bucket, Key="small", Body=b"tiny")
    s3.delete_object(Bucket=bucket, Key="small")
    # Usage is recomputed in the background (at most every second here).
    deadline = time.monotonic() + 30
    while True:
        got = scrape(open_srv)
        if sample(got, "coffer_bucket_objects", bucket=bucket) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sample(got, "coffer_bucket_objects", bucket=bucket) == 3
    assert sample(got, "coffer_bucket_versions", bucket=bucket) == 3
    assert sample(got, "coffer_bucket_logical_bytes", bucket=bucket) == 3 * len(SHARED)
    assert sample(got, "coffer_bucket_stored_bytes", bucket=bucket) == len(SHARED)
    assert sample(got, "coffer_store_blobs") >= 1
    # The deleted inline object is gone with its row; nothing is waiting for the collector
    # that the backlog does not show.
    assert sample(got, "coffer_gc_backlog_blobs") >= 0
    assert sample(got, "coffer_worker_backlog", worker="gc") == sample(got, "coffer_gc_backlog_blobs")


def test_a_real_prometheus_scrapes_the_metrics_listener(open_srv, bucket, tmp_path):
    prometheus = debian_tool("prometheus", "prometheus")
    port = free_port()
    listener = urllib.parse.urlsplit(open_srv.metrics_url).netloc
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: coffer\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['{listener}']\n"
    )
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )
    api = f"http://127.0.0.1:{port}"

    def query(expr: str) -> list:
        status, body = http_get(f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert status == 200, body
        return json.loads(body)["data"]["result"]

    def wait_for(expr: str, wanted, what: str):
        deadline = time.monotonic() + 60
        value = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            result = query(expr)
            value = float(result[0]["value"][1]) if result else None
            if value is not None and wanted(value):
                return value
            time.sleep(0.5)
        pytest.fail(f"{what}: Prometheus answered {value} for {expr}\n" + (tmp_path / "prometheus.log").read_text())

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if http_get(f"{api}/-/ready")[0] == 200:
                    break
            except urllib.error.URLError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()
            time.sleep(0.3)
        wait_for('up{job="coffer"}', lambda v: v == 1, "the scrape target is up")
        base = wait_for('sum(coffer_s3_requests_total{operation="PutObject",status_class="2xx"}) or vector(0)',
                        lambda v: True, "PutObject count")
        s3 = open_srv.client()
        for i in range(7):
            s3.put_object(Bucket=bucket, Key=f"prom-{i}", Body=OBJECT)
        wait_for('sum(coffer_s3_requests_total{operation="PutObject",status_class="2xx"})',
                 lambda v: v >= base + 7, "PutObject count after seven uploads")
        wait_for(f'coffer_bucket_objects{{bucket="{bucket}"}}', lambda v: v == 7, "objects of the bucket")
        wait_for('sum(coffer_s3_received_bytes_total{operation="PutObject"})', lambda v: v >= 7 * len(OBJECT), "bytes in")
        wait_for('histogram_quantile(0.5, sum by (le) (coffer_s3_request_duration_seconds_bucket{operation="PutObject"}))',
                 lambda v: 0 < v < 30, "median PutObject latency")
        wait_for('count(coffer_worker_last_run_timestamp_seconds)', lambda v: v >= 7, "workers reported")
        wait_for('coffer_build_info', lambda v: v == 1, "build info")
        # Every query of the Grafana dashboard runs, and the request panels have data.
        dashboard = json.loads((REPO_ROOT / "contrib" / "grafana" / "coffer.json").read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        assert len(exprs) >= 20
        for expr in exprs:
            expr = expr.replace("$__rate_interval", "1m").replace("$bucket", ".*")
            status, body = http_get(f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            assert status == 200 and json.loads(body)["status"] == "success", (expr, body)
        assert query('sum by (operation) (rate(coffer_s3_requests_total[1m]))')
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


def test_who_may_read_metrics(open_srv, token_srv):
    # The S3 port: the root user's keys, not another user's, not anonymous.
    assert http_get(open_srv.endpoint + "/metrics")[0] == 403
    status, text = http_get(open_srv.endpoint + "/metrics", signed_headers(open_srv, "/metrics", open_srv.access_key, open_srv.secret_key))
    assert status == 200 and "coffer_s3_requests_total" in text
    user = create_user(open_srv)
    assert http_get(open_srv.endpoint + "/metrics", signed_headers(open_srv, "/metrics", user.access_key, user.secret_key))[0] == 403
    # ...or the bearer token, where one is set.
    assert http_get(token_srv.endpoint + "/metrics", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert http_get(token_srv.endpoint + "/metrics", {"Authorization": "Bearer wrong"})[0] == 403
    # The metrics listener: open without a token, the token's when one is set.
    assert http_get(open_srv.metrics_url + "/metrics")[0] == 200
    assert http_get(token_srv.metrics_url + "/metrics")[0] == 401
    assert http_get(token_srv.metrics_url + "/metrics", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert http_get(token_srv.metrics_url + "/anything-else")[0] == 404
    # With a query it is still S3: a listing of a bucket named `metrics`.
    status, body = http_get(open_srv.endpoint + "/metrics?list-type=2")
    assert status in (403, 404) and "<Error>" in body


def test_health_live_and_ready(open_srv):
    for base in (open_srv.endpoint, open_srv.metrics_url):
        assert http_get(base + "/health") == (200, "ok\n")
        assert http_get(base + "/health/live") == (200, "ok\n")
        assert http_get(base + "/health/ready") == (200, "ready\n")
    # Running as root, permissions cannot make the data dir unwritable; a file where the
    # staging directory should be does, for root too.
    staging = open_srv.data_dir / "tmp"
    aside = open_srv.data_dir / "tmp.aside"
    staging.rename(aside)
    staging.write_text("not a directory")
    try:
        status, body = http_get(open_srv.metrics_url + "/health/ready")
        assert status == 503 and "data dir" in body, body
        assert http_get(open_srv.endpoint + "/health/ready")[0] == 503
        assert http_get(open_srv.endpoint + "/health/live")[0] == 200
    finally:
        staging.unlink()
        aside.rename(staging)
    assert http_get(open_srv.metrics_url + "/health/ready") == (200, "ready\n")


def access_lines(srv, request_id: str, timeout: float = 10) -> list[str]:
    """The log lines that name `request_id` (the line is written once the response is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in srv.log_path.read_text(errors="replace").splitlines() if request_id in l]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_access_log_as_json(open_srv, bucket):
    s3 = open_srv.client()
    put = s3.put_object(Bucket=bucket, Key="dir/logged.txt", Body=OBJECT)
    lines = access_lines(open_srv, put["ResponseMetadata"]["RequestId"])
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["target"] == "coffer::access" and entry["message"] == "request"
    assert entry["request_id"] == put["ResponseMetadata"]["RequestId"]
    assert entry["timestamp"].startswith(time.strftime("%Y-", time.gmtime()))
    assert entry["remote"].startswith("127.0.0.1:")
    assert (entry["method"], entry["operation"], entry["bucket"], entry["key"]) == ("PUT", "PutObject", bucket, "dir/logged.txt")
    assert (entry["access_key"], entry["principal"], entry["status"]) == (open_srv.access_key, "root", 200)
    assert "error_code" not in entry
    assert entry["bytes_in"] >= len(OBJECT) and entry["bytes_out"] == 0
    assert 0 <= entry["ttfb_ms"] <= entry["duration_ms"] < 30000
    assert "Boto3" in entry["user_agent"] or "botocore" in entry["user_agent"]

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    entry = json.loads(access_lines(open_srv, e.value.response["ResponseMetadata"]["RequestId"])[0])
    assert (entry["operation"], entry["status"], entry["error_code"]) == ("GetObject", 404, "NoSuchKey")
    assert entry["bytes_out"] > 0

    get = s3.get_object(Bucket=bucket, Key="dir/logged.txt")
    assert get["Body"].read() == OBJECT
    entry = json.loads(access_lines(open_srv, get["ResponseMetadata"]["RequestId"])[0])
    assert (entry["operation"], entry["bytes_out"], entry["bytes_in"]) == ("GetObject", len(OBJECT), 0)

    # Anonymous requests have no access key or principal.
    status, _ = http_get(f"{open_srv.endpoint}/{bucket}/dir/logged.txt")
    assert status == 403
    anonymous = [json.loads(l) for l in open_srv.log_path.read_text().splitlines()
                 if l.startswith("{") and '"operation":"GetObject"' in l and '"status":403' in l]
    assert anonymous and "access_key" not in anonymous[-1] and "principal" not in anonymous[-1]


def test_access_log_as_text(token_srv):
    s3 = token_srv.client()
    name = random_bucket_name()
    s3.create_bucket(Bucket=name)
    try:
        put = s3.put_object(Bucket=name, Key="k", Body=OBJECT)
        lines = access_lines(token_srv, put["ResponseMetadata"]["RequestId"])
        assert len(lines) == 1, lines
        line = lines[0]
        assert " INFO coffer::access: request " in line
        # Text values are quoted; numbers are not.
        for part in ('operation="PutObject"', f'bucket="{name}"', 'key="k"', "status=200", f'access_key="{token_srv.access_key}"',
                     'principal="root"', "bytes_in=", "bytes_out=0", "duration_ms=", "ttfb_ms=",
                     'remote="127.0.0.1:', 'user_agent="'):
            assert part in line, (part, line)
        assert not line.lstrip().startswith("{")
    finally:
        empty_and_delete_bucket(s3, name)
