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
import sys
import tempfile
from pathlib import Path

import pytest

from harness import (
    CofferServer,
    empty_and_delete_bucket,
    random_bucket_name,
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


@pytest.fixture(scope="session")
def http_server(tmp_root):
    srv = start_server(tmp_root, "http")
    _SERVERS["http"] = srv
    yield srv
    _SERVERS.pop("http", None)
    stop_server(srv)


@pytest.fixture(scope="session")
def https_server(tmp_root):
    srv = start_server(tmp_root, "https")
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


@pytest.fixture
def bucket(server):
    """A fresh bucket on `server`, removed with its contents afterwards."""
    client = server.client()
    name = random_bucket_name()
    client.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(client, name)


@pytest.fixture
def http_bucket(http_server):
    client = http_server.client()
    name = random_bucket_name()
    client.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(client, name)


# ------------------------------------------------- attach the server's log to failures


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


