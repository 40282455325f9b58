"""Several Coffer nodes sharing one PostgreSQL database and one blob directory behind HAProxy
(issue 15), for test_cluster.py and test_cluster_faults.py: starting them, restarting one, a
PostgreSQL server of a test's own, and `coffer admin check` over the shared store.

With COFFER_TEST_CLUSTER=N, conftest.py's http_server and https_server fixtures are clusters
of N nodes (`balanced_server`): scripts/test.sh runs the boto3 and awscli files that way.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import REPO_ROOT, CofferServer, coffer_binary, free_port, make_tls_material, new_postgres_database, start_server, stop_server

HAPROXY = shutil.which("haproxy", path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", ""))
POSTGRES_SH = REPO_ROOT / "scripts" / "postgres.sh"


def haproxy_config(port: int, nodes: list[CofferServer], scheme: str = "http") -> str:
    """Round robin over `nodes`: HTTP per request; HTTPS per connection, passed through (every
    node shows the same certificate)."""
    servers = "\n".join(f"    server node{i} {n.host_port}" for i, n in enumerate(nodes))
    # A request with `Expect: 100-continue` that a node refuses before its body (a PUT to a
    # missing bucket) gets `Connection: close` from the node, but HAProxy drops that header and
    # waits for the body, which botocore never sends: it reuses the connection, and HAProxy would
    # take the first bytes of the next request for that body. So HAProxy closes such
    # connections itself (README's recipe). The node still decides between 100 Continue and an
    # error, as S3 does (HAProxy's `option http-buffer-request` would answer 100 itself).
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


@dataclass
class Cluster:
    """Nodes (own data dirs, one database, one shared blob dir, one master key) and a
    balancer in front of them, presented as a CofferServer."""

    base: Path
    env: dict[str, str]
    args: tuple[str, ...]
    nodes: list[CofferServer]
    balancer: CofferServer | None = None
    _haproxy_log: object = field(default=None, repr=False)
    scheme: str = "http"
    # For HTTPS: one CA, certificate and key for every node.
    tls: tuple[Path, Path, Path] | None = None

    @property
    def blobs(self) -> Path:
        return self.base / "blobs"

    def start_node(self, data_dir: Path | None = None, port: int | None = None, **env: str) -> CofferServer:
        """A node on the shared store (again on `data_dir` and `port` for a restart), with `env` added."""
        return start_server(self.base, self.scheme, ("--blobs", str(self.blobs), *self.args), data_dir=data_dir, port=port,
                            env_extra={**self.env, **env}, tls=self.tls)

    def restart(self, i: int) -> CofferServer:
        """Starts node `i` again on its data dir and port (after it stopped or was killed)."""
        old = self.nodes[i]
        stop_server(old)
        self.nodes[i] = self.start_node(old.data_dir, old.port)
        return self.nodes[i]

    def admin_check(self, *args: str) -> tuple[int, dict]:
        """`coffer admin check --json ARGS` on node 0's data dir: (exit code, report)."""
        env = {**os.environ, **self.env, "COFFER_DATA_DIR": str(self.nodes[0].data_dir)}
        proc = subprocess.run([str(coffer_binary()), "admin", "check", "--json", *args], env=env,
                              capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        try:
            return proc.returncode, json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"admin check printed no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

    def stop(self) -> None:
        if self.balancer is not None:
            self.balancer.proc.terminate()
            self.balancer.proc.wait(timeout=10)
            self._haproxy_log.close()
        for n in self.nodes:
            stop_server(n)


def new_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def start_cluster(base: Path, env: dict[str, str], args: tuple[str, ...] = (), nodes: int = 2, scheme: str = "http") -> Cluster:
    """`nodes` nodes given `env` (COFFER_METADATA, COFFER_MASTER_KEY) and `serve` arguments
    `args`, and a balancer in front of them, up and answering."""
    base.mkdir(parents=True)
    (base / "blobs").mkdir()
    cluster = Cluster(base, env, args, [], scheme=scheme, tls=make_tls_material(base) if scheme == "https" else None)
    try:
        cluster.nodes = [cluster.start_node() for _ in range(nodes)]
        port = free_port()
        cfg = base / "haproxy.cfg"
        cfg.write_text(haproxy_config(port, cluster.nodes, scheme))
        cluster._haproxy_log = open(base / "haproxy.log", "wb")
        proc = subprocess.Popen([HAPROXY or "haproxy", "-f", str(cfg), "-db"], stdout=cluster._haproxy_log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        cluster.balancer = CofferServer(scheme, port, cluster.nodes[0].data_dir, base / "haproxy.log", proc,
                                        cluster.tls[0] if cluster.tls else None, website_port=cluster.nodes[0].website_port)
        deadline = time.monotonic() + 20
        while True:
            try:
                cluster.balancer.client().list_buckets()
                return cluster
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    except BaseException:
        cluster.stop()
        raise


def balanced_server(tmp_root: Path, scheme: str, nodes: int) -> CofferServer:
    """A cluster of `nodes` on a new database of COFFER_TEST_POSTGRES, as one server: the
    balancer, whose `members` (the nodes) and HAProxy log go when it is stopped."""
    env = {"COFFER_METADATA": new_postgres_database(), "COFFER_MASTER_KEY": new_master_key()}
    cluster = start_cluster(Path(tempfile.mkdtemp(prefix=f"cluster-{scheme}-", dir=tmp_root)) / "c", env, nodes=nodes, scheme=scheme)
    cluster.balancer.members = cluster.nodes
    cluster.balancer._log_file = cluster._haproxy_log
    return cluster.balancer


class OwnPostgres:
    """A PostgreSQL server of the test's own on a loopback port (scripts/postgres.sh), so a
    test may restart it or end its sessions without disturbing anyone else's."""

    def __init__(self):
        # Not under the tests' 0700 temporary root: the server runs as the postgres user.
        self.dir = Path(tempfile.mkdtemp(prefix="coffer-pg-faults-"))
        self.port = free_port()
        self.url = self._script("start", str(self.dir), str(self.port)).strip()

    def _script(self, *args: str) -> str:
        return subprocess.run([str(POSTGRES_SH), *args], check=True, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL).stdout

    def restart(self, down_s: float) -> None:
        """Stops the server fast (its sessions are ended), keeps it down `down_s` seconds, and
        starts it again on the same port."""
        self._script("stop", str(self.dir))
        time.sleep(down_s)
        self._script("start", str(self.dir), str(self.port))

    def sql(self, statement: str, dbname: str = "postgres") -> str:
        """Runs one statement with psql; its output, unaligned and without headers."""
        url = " ".join([*(p for p in self.url.split() if not p.startswith("dbname=")), f"dbname={dbname}"])
        return subprocess.run(["psql", url, "-X", "-q", "-A", "-t", "-c", statement], check=True, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL).stdout

    def new_database(self) -> tuple[str, str]:
        """A new, empty database: (its name, its libpq URL)."""
        name = f"coffer_faults_{secrets.token_hex(6)}"
        self.sql(f"CREATE DATABASE {name}")
        url = " ".join([*(p for p in self.url.split() if not p.startswith("dbname=")), f"dbname={name}"])
        return name, url

    def stop(self) -> None:
        subprocess.run([str(POSTGRES_SH), "stop", str(self.dir)], capture_output=True, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)
