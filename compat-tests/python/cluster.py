"""Several `coffer serve` nodes behind HAProxy (issue 15): each node has its own data dir,
and all share one PostgreSQL database (COFFER_TEST_POSTGRES), one blob directory and one
master key. `start_cluster` returns the balancer as a CofferServer (its `members` are the
nodes, stopped with it), so any test can talk to a cluster as it talks to one server.

With COFFER_TEST_CLUSTER=N, conftest.py's http_server and https_server fixtures are clusters
of N nodes: scripts/test.sh runs the boto3 and awscli files through the balancer that way.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness import CofferServer, free_port, make_tls_material, new_postgres_database, start_server, stop_server

HAPROXY_PATH = "/usr/sbin:/usr/bin:" + os.environ.get("PATH", "")


def haproxy_available() -> bool:
    return bool(os.environ.get("COFFER_TEST_POSTGRES")) and shutil.which("haproxy", path=HAPROXY_PATH) is not None


def new_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def haproxy_config(port: int, nodes: list[CofferServer], scheme: str) -> str:
    """Round robin over `nodes`: HTTP is balanced per request, HTTPS per connection (passed
    through, so every node shows the same certificate).

    A request with `Expect: 100-continue` that a node refuses before its body (a PUT to a
    missing bucket) gets `Connection: close` from the node; HAProxy drops that header and
    waits for the body, which botocore never sends: it reuses the connection, and HAProxy eats
    the first bytes of the next request as the body. Closing such connections (the set-var
    and set-header lines, also in README's recipe) keeps awscli and boto3 working."""
    servers = "\n".join(f"    server node{i} {n.host_port}" for i, n in enumerate(nodes))
    mode, rules = "tcp", ""
    if scheme == "http":
        mode = "http\n    option http-server-close"
        rules = """    http-request set-var(txn.expect) req.hdr(expect)
    http-response set-header Connection close if { var(txn.expect) -m found } { status ge 300 }
"""
    return f"""
global
    maxconn 2048
defaults
    mode {mode}
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend s3
    bind 127.0.0.1:{port}
{rules}    default_backend coffer
backend coffer
    balance roundrobin
{servers}
"""


def start_cluster(tmp_root: Path, scheme: str = "http", nodes: int = 2, extra_args: tuple[str, ...] = (),
                  env_extra: dict[str, str] | None = None) -> CofferServer:
    """`nodes` nodes and HAProxy in front of them; returns the balancer, ready for requests."""
    base = Path(tempfile.mkdtemp(prefix=f"cluster-{scheme}-", dir=tmp_root))
    shared_blobs = base / "blobs"
    shared_blobs.mkdir()
    env = {"COFFER_METADATA": new_postgres_database(), "COFFER_MASTER_KEY": new_master_key(), **(env_extra or {})}
    tls = make_tls_material(base) if scheme == "https" else None
    args = ("--blobs", str(shared_blobs), *extra_args)
    members = []
    try:
        for _ in range(nodes):
            members.append(start_server(base, scheme, args, env_extra=env, tls=tls))
    except Exception:
        for m in members:
            stop_server(m)
        raise
    port = free_port()
    cfg = base / "haproxy.cfg"
    cfg.write_text(haproxy_config(port, members, scheme))
    log = open(base / "haproxy.log", "wb")
    proc = subprocess.Popen([shutil.which("haproxy", path=HAPROXY_PATH) or "haproxy", "-f", str(cfg), "-db"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    balancer = CofferServer(scheme, port, members[0].data_dir, members[0].log_path, proc, tls[0] if tls else None,
                            website_port=members[0].website_port, _log_file=log, members=members)
    deadline = time.monotonic() + 20
    while True:
        try:
            balancer.client().list_buckets()
            return balancer
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                stop_server(balancer)
                raise
            time.sleep(0.2)
