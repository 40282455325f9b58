"""Fixtures for the Python compatibility suite.

Two `coffer serve` processes are started once per session: one over plain HTTP
and one over HTTPS with a freshly generated CA and server certificate (clients
get that CA as their bundle). Every test gets its own randomly named bucket and
removes it afterwards. When a test fails, the server log lines written during
that test are attached to the report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness import (
    VIRTUAL_HOST_DOMAIN,
    CofferServer,
    User,
    aws_runner,
    create_user,
    debian_tool,
    empty_and_delete_bucket,
    env_without,
    free_port,
    random_bucket_name,
    run_cli,
    start_moto,
    start_server,
    stop_server,
)

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def tmp_root():
    d = Path(tempfile.mkdtemp(prefix="coffer-compat-"))
    yield d
    if os.environ.get("COFFER_KEEP_TMP"):
        print(f"\nkeeping {d}", file=sys.stderr)
    else:
        shutil.rmtree(d, ignore_errors=True)


_SERVERS: dict[str, CofferServer] = {}


def start_session_server(tmp_root: Path, scheme: str) -> CofferServer:
    """One server, or with COFFER_TEST_CLUSTER=N a cluster of N nodes behind HAProxy."""
    nodes = int(os.environ.get("COFFER_TEST_CLUSTER") or 0)
    if nodes:
        from cluster import balanced_server

        return balanced_server(tmp_root, scheme, nodes)
    return start_server(tmp_root, scheme)


@pytest.fixture(scope="session")
def http_server(tmp_root):
    srv = start_session_server(tmp_root, "http")
    _SERVERS["http"] = srv
    yield srv
    _SERVERS.pop("http", None)
    stop_server(srv)


@pytest.fixture(scope="session")
def https_server(tmp_root):
    srv = start_session_server(tmp_root, "https")
    _SERVERS["https"] = srv
    yield srv
    _SERVERS.pop("https", None)
    stop_server(srv)


@pytest.fixture(params=["http", "https"])
def server(request) -> CofferServer:
    """The HTTP or the HTTPS server: tests using this run once against each."""
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture
def s3(server):
    return server.client()


def _fresh_bucket(server: CofferServer):
    """A new bucket of root's on `server`, removed with its contents afterwards."""
    client = server.client()
    name = random_bucket_name()
    client.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(client, name)


@pytest.fixture
def bucket(server):
    """A fresh bucket on `server`, removed with its contents afterwards."""
    yield from _fresh_bucket(server)


@pytest.fixture
def http_bucket(http_server):
    yield from _fresh_bucket(http_server)


@pytest.fixture
def https_bucket(https_server):
    yield from _fresh_bucket(https_server)


@pytest.fixture
def second_http_bucket(http_server):
    """Another fresh bucket on the HTTP server, for tests that need two."""
    yield from _fresh_bucket(http_server)


# ------------------------------------------------------------------ headless Chromium

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:  # reported by the `browser` fixture, so the rest of the suite still runs
    webdriver = None

PAGE_LOAD_TIMEOUT_S = 20


def chromium_args(profile_dir) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",  # the suite runs as root
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-proxy-server",
        f"--user-data-dir={profile_dir}",
        # The test domain goes to loopback; any other name fails to resolve.
        f"--host-resolver-rules=MAP *.{VIRTUAL_HOST_DOMAIN} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]


@pytest.fixture
def browser(tmp_path):
    """A fresh headless Chromium (Debian's, driven by Selenium through chromedriver; new
    profile, empty caches) for one test (test_browser.py, test_console.py)."""
    if webdriver is None:
        pytest.fail("selenium is not installed (pip install -r compat-tests/python/requirements.txt)")
    chromium, driver_exe = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_exe):
        pytest.fail("Chromium is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in chromium_args(tmp_path / "profile"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=driver_exe, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
    yield driver
    driver.quit()


# ------------------------------------------------- attach the server's log to failures


@pytest.fixture(scope="session")
def moto_service(tmp_root):
    """moto's S3 server on loopback (an S3 service that is not Coffer): its S3Service."""
    proc, service = start_moto(tmp_root)
    yield service
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture(scope="session")
def moto(moto_service):
    """moto's S3 server: its endpoint and a boto3 client for it."""
    return moto_service.endpoint, moto_service.client()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    item._coffer_log_offsets = {k: s.log_size() for k, s in _SERVERS.items()}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        offsets = getattr(item, "_coffer_log_offsets", {})
        for name, srv in list(_SERVERS.items()):
            text = srv.log_since(offsets.get(name, 0))
            status = "running" if srv.alive() else f"EXITED with {srv.proc.returncode}"
            rep.sections.append((f"coffer {name} server log ({status})", text or "(empty)"))


# ----------------------------------------------------------------------------- CLI runners


@pytest.fixture
def aws(server):
    """Runs the `aws` CLI as root against `server`: aws("s3", "ls")."""
    return aws_runner(server)


@pytest.fixture(scope="module")
def other_user(http_server) -> User:
    """A second user of the HTTP server (not the owner of the test buckets)."""
    return create_user(http_server, "alt")


@pytest.fixture
def rclone(http_server, tmp_path):
    exe = debian_tool("rclone", "rclone")
    env = env_without("AWS_", "RCLONE_")
    env.update({
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
        "RCLONE_CONFIG_COFFER_TYPE": "s3",
        "RCLONE_CONFIG_COFFER_PROVIDER": "Other",
        "RCLONE_CONFIG_COFFER_ENDPOINT": http_server.endpoint,
        "RCLONE_CONFIG_COFFER_ACCESS_KEY_ID": http_server.access_key,
        "RCLONE_CONFIG_COFFER_SECRET_ACCESS_KEY": http_server.secret_key,
        "RCLONE_CONFIG_COFFER_REGION": "us-east-1",
        "RCLONE_CONFIG_COFFER_FORCE_PATH_STYLE": "true",
    })

    def run(*args, check=True):
        return run_cli(
            [exe, "--retries", "1", "--low-level-retries", "1", *map(str, args)],
            env=env, check=check, timeout=180,
        )

    return run
