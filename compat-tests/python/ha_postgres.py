"""PostgreSQL made highly available by Patroni on loopback, for test_patroni.py: one etcd, a
few Patroni members (each with its own PostgreSQL, one primary and synchronous standbys), and
HAProxy forwarding one port to whichever member Patroni's REST API calls the primary.

Needs Debian's patroni, etcd-server, postgresql and haproxy. initdb refuses root, so Patroni
runs as the `postgres` user, in a directory of its own outside the tests' 0700 temporary root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cluster import HAPROXY
from harness import free_port, wait_until

PATRONI = shutil.which("patroni", path="/usr/bin:" + os.environ.get("PATH", ""))
ETCD = shutil.which("etcd", path="/usr/bin:" + os.environ.get("PATH", ""))
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
# Seconds: how long the leader's key outlives a silent leader, how often members look, and
# how long they retry the DCS and PostgreSQL. Small, so that a failover takes seconds.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 5, 1, 2


def available() -> bool:
    return bool(PATRONI and ETCD and HAPROXY and PG_BIN and (PG_BIN / "initdb").exists())


def patroni_config(scope: str, name: str, directory: Path, pg_port: int, rest_port: int, etcd_port: int) -> dict:
    """One member's patroni.yml (as JSON, which YAML reads): trust on loopback, one
    synchronous standby, and the short timings above."""
    return {
        "scope": scope,
        "name": name,
        "restapi": {"listen": f"127.0.0.1:{rest_port}", "connect_address": f"127.0.0.1:{rest_port}"},
        "etcd3": {"hosts": f"127.0.0.1:{etcd_port}"},
        "bootstrap": {
            "dcs": {
                "ttl": TTL,
                "loop_wait": LOOP_WAIT,
                "retry_timeout": RETRY_TIMEOUT,
                "maximum_lag_on_failover": 1 << 20,
                # A commit is acknowledged only once a standby has it, and only that standby
                # may be promoted: a failover loses no acknowledged write.
                "synchronous_mode": True,
                # A standby that got WAL the promoted one lacks (it was not the synchronous
                # one) rewinds itself to follow the new primary.
                "postgresql": {"use_pg_rewind": True, "parameters": {"max_connections": 100, "shared_buffers": "32MB"}},
            },
            "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}],
            "pg_hba": ["host replication replicator 127.0.0.1/32 trust", "host all all 127.0.0.1/32 trust"],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{pg_port}",
            "connect_address": f"127.0.0.1:{pg_port}",
            "data_dir": str(directory / "data"),
            "bin_dir": str(PG_BIN),
            "pgpass": str(directory / "pgpass"),
            "authentication": {"superuser": {"username": "coffer", "password": "coffer"},
                               "replication": {"username": "replicator", "password": "replicator"}},
            "parameters": {"unix_socket_directories": str(directory)},
        },
        "watchdog": {"mode": "off"},
    }


def haproxy_primary_listen(port: int, members: list[Member]) -> str:
    """HAProxy's `listen` for the primary: TCP to the one member whose REST API answers 200 to
    /primary; a member marked down has its sessions cut, so no client stays on a demoted one."""
    servers = "\n".join(f"    server {m.name} 127.0.0.1:{m.pg_port} check port {m.rest_port}" for m in members)
    return f"""
global
    maxconn 1024
defaults
    mode tcp
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s
listen postgres_primary
    bind 127.0.0.1:{port}
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
{servers}
"""


@dataclass
class Member:
    name: str
    directory: Path
    pg_port: int
    rest_port: int
    proc: subprocess.Popen | None = None

    def role(self) -> str | None:
        """What this member's REST API says it is ('primary', 'replica'), None if it is silent."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}/patroni", timeout=1) as r:
                return json.load(r).get("role")
        except urllib.error.HTTPError as e:  # 503 while its PostgreSQL is not running
            return json.load(e).get("role")
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """Kills Patroni and its PostgreSQL (postmaster and every backend) with SIGKILL at
        once, as if the machine died. The postmaster is stopped first so it forks no more."""
        postmaster = int((self.directory / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGSTOP)
        children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent_of(p) == postmaster]
        for pid in (self.proc.pid, postmaster, *children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)


def _parent_of(proc_dir: Path) -> int | None:
    try:
        # /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
        return int(proc_dir.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


class PatroniCluster:
    """etcd, `members` Patroni members and HAProxy's primary port, up and with a primary and
    its synchronous standby; `url` goes through HAProxy, `multi_host_url` lists every member
    for libpq to pick the writable one."""

    def __init__(self, members: int = 2):
        self.dir = Path(tempfile.mkdtemp(prefix="coffer-patroni-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self._procs: list[subprocess.Popen] = []
        self._logs = []
        self.members: list[Member] = []
        try:
            self._start_etcd()
            for i in range(members):
                self._start_member(f"pg{i}")
            self._start_haproxy()
            self.wait_settled(timeout=90)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, args: list[str], **kwargs) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "wb")
        self._logs.append(log)
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs)
        self._procs.append(proc)
        return proc

    def _start_etcd(self) -> None:
        self.etcd_port, peer = free_port(), free_port()
        self._spawn("etcd", [ETCD, "--name", "e0", "--data-dir", str(self.dir / "etcd"),
                             "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                             "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-cluster", f"e0=http://127.0.0.1:{peer}"])

    def _start_member(self, name: str) -> None:
        directory = self.dir / name
        directory.mkdir(mode=0o700)
        shutil.chown(directory, "postgres", "postgres")
        member = Member(name, directory, free_port(), free_port())
        config = directory / "patroni.yml"
        config.write_text(json.dumps(patroni_config("coffer", name, directory, member.pg_port, member.rest_port, self.etcd_port)))
        as_postgres = {"user": "postgres", "group": "postgres", "extra_groups": []} if os.getuid() == 0 else {}
        member.proc = self._spawn(name, [PATRONI, str(config)], env={**os.environ, "HOME": str(directory)}, **as_postgres)
        self.members.append(member)

    def _start_haproxy(self) -> None:
        self.port = free_port()
        cfg = self.dir / "haproxy-postgres.cfg"
        cfg.write_text(haproxy_primary_listen(self.port, self.members))
        self._spawn("haproxy", [HAPROXY, "-f", str(cfg), "-db"])

    @property
    def url(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=coffer dbname=postgres"

    @property
    def multi_host_url(self) -> str:
        hosts = ",".join("127.0.0.1" for _ in self.members)
        ports = ",".join(str(m.pg_port) for m in self.members)
        return f"host={hosts} port={ports} user=coffer dbname=postgres target_session_attrs=read-write connect_timeout=3"

    def primary(self) -> Member | None:
        found = [m for m in self.members if m.role() in ("primary", "master")]
        return found[0] if len(found) == 1 else None

    def members_state(self) -> list[dict]:
        """Patroni's view of the members (name, role, state, lag...), from any member that answers."""
        for m in self.members:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{m.rest_port}/cluster", timeout=1) as r:
                    return json.load(r)["members"]
            except (OSError, ValueError, KeyError):
                continue
        return []

    def settled(self) -> bool:
        """One primary, a synchronous standby streaming from it, and HAProxy taking connections to the primary."""
        if self.primary() is None:
            return False
        sync = any(m.get("role") == "sync_standby" and m.get("state") in ("streaming", "running") for m in self.members_state())
        return sync and self.sql("SELECT NOT pg_is_in_recovery()").strip() == "t"

    def wait_settled(self, timeout: float = 60) -> None:
        try:
            wait_until(self.settled, timeout=timeout, what="a Patroni primary with a synchronous standby")
        except AssertionError as e:
            raise AssertionError(f"{e}; members: {self.members_state()}") from None

    def sql(self, statement: str) -> str:
        """One statement through HAProxy's primary port; its output, or '' when that fails."""
        proc = subprocess.run([str(PG_BIN / "psql"), self.url, "-X", "-q", "-A", "-t", "-c", statement],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        return proc.stdout if proc.returncode == 0 else ""

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        for m in self.members:
            # Patroni leaves a PostgreSQL it did not get to stop (after SIGKILL) to no one.
            pid_file = m.directory / "data" / "postmaster.pid"
            if pid_file.exists():
                subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(m.directory / "data"), "-m", "immediate", "stop"],
                               user="postgres" if os.getuid() == 0 else None, capture_output=True, timeout=60)
        for log in self._logs:
            log.close()
        if not os.environ.get("COFFER_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
