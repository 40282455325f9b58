"""Faults under load on two Coffer nodes sharing a PostgreSQL server of the test's own and one
blob directory behind HAProxy (issue 15): PostgreSQL restarted, a node killed with SIGKILL, its
sessions cut mid-commit, a statement timing out, and writers putting again the very bytes the
collector is deleting. The nodes look for garbage every second (`--gc-interval 1s`), so the
collector runs during every fault. Whatever happens, every write that was acknowledged reads
back byte for byte, no object is torn, and `coffer admin check` finds the index and the blobs in
agreement (no referenced blob missing: the collector deleted none).

Needs PostgreSQL (Debian's postgresql, started here through scripts/postgres.sh) and haproxy.
COFFER_FAULT_SECONDS (default 3) is how long each fault's load runs; raise it for a longer soak.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import os
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import botocore.exceptions
import pytest

from cluster import HAPROXY, POSTGRES_SH, OwnPostgres, new_master_key, start_cluster
from harness import random_bucket_name, stop_server, wait_until

pytestmark = pytest.mark.skipif(
    not HAPROXY or not any(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    reason="needs haproxy and PostgreSQL (Debian packages haproxy, postgresql)",
)

LOAD_S = float(os.environ.get("COFFER_FAULT_SECONDS", "3"))
SIZES = (4 << 10, 1 << 20)
PART = 5 << 20


@pytest.fixture(scope="module")
def faults(tmp_root):
    """(PostgreSQL server, the cluster's database name, the cluster) on a server of our own."""
    assert POSTGRES_SH.is_file()
    pg = OwnPostgres()
    try:
        name, url = pg.new_database()
        cluster = start_cluster(Path(tmp_root) / f"faults-{uuid.uuid4().hex[:8]}", {"COFFER_METADATA": url, "COFFER_MASTER_KEY": new_master_key()},
                                ("--gc-interval", "1s"))
        try:
            yield pg, name, cluster
        finally:
            cluster.stop()
    finally:
        pg.stop()


@pytest.fixture
def bucket(faults):
    name = random_bucket_name("fault")
    faults[2].balancer.client().create_bucket(Bucket=name)
    return name


def outcome_of(call) -> str:
    """'ok', or how the request failed: 'HTTP <status> <code>', or the exception's type for a
    request that got no answer (a killed node)."""
    try:
        call()
        return "ok"
    except botocore.exceptions.ClientError as e:
        return f"HTTP {e.response['ResponseMetadata']['HTTPStatusCode']} {e.response['Error']['Code']}"
    except (botocore.exceptions.BotoCoreError, OSError) as e:
        return type(e).__name__


@dataclass
class Load:
    """Threads writing new objects (single PUTs of 4 KiB and 1 MiB, deleting one in four again
    so the collector has garbage to remove; or two-part uploads) until stopped; what each
    attempt wrote and how it ended."""

    client_of: object
    bucket: str
    threads: int = 4
    multipart: int = 0
    written: dict[str, str] = field(default_factory=dict)  # key -> SHA-256 of what was sent
    acked: set[str] = field(default_factory=set)
    deleted: int = 0
    failures: collections.Counter = field(default_factory=collections.Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self):
        self._workers = [threading.Thread(target=self._put, args=(i,)) for i in range(self.threads)]
        self._workers += [threading.Thread(target=self._upload, args=(i,)) for i in range(self.multipart)]
        for w in self._workers:
            w.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for w in self._workers:
            w.join(timeout=120)

    def _record(self, key: str, body: bytes, outcome: str) -> None:
        with self._lock:
            self.written[key] = hashlib.sha256(body).hexdigest()
            if outcome == "ok":
                self.acked.add(key)
            else:
                self.failures[outcome] += 1

    def _put(self, worker: int) -> None:
        s3 = self.client_of()
        n = 0
        while not self._stop.is_set():
            key, body = f"put-{worker}-{n}", os.urandom(SIZES[n % len(SIZES)])
            n += 1
            # Recorded as sent before it is sent: a write whose answer is lost may still exist.
            self._record(key, body, "sending")
            self._record(key, body, outcome_of(lambda: s3.put_object(Bucket=self.bucket, Key=key, Body=body)))
            if n % 4 == 0:
                self._delete(s3, f"put-{worker}-{n - 3}")

    def _delete(self, s3, key: str) -> None:
        """Deletes an acknowledged object, so that its blob becomes garbage for the collector
        while the fault goes on. One whose delete fails may be there or not: if there, whole."""
        with self._lock:
            if key not in self.acked:
                return
            self.acked.discard(key)
        if outcome_of(lambda: s3.delete_object(Bucket=self.bucket, Key=key)) == "ok":
            with self._lock:
                del self.written[key]
                self.deleted += 1

    def _upload(self, worker: int) -> None:
        s3 = self.client_of()
        n = 0
        while not self._stop.is_set():
            key, parts = f"mp-{worker}-{n}", [os.urandom(PART), os.urandom(1000 + n)]
            n += 1
            self._record(key, b"".join(parts), "sending")
            self._record(key, b"".join(parts), outcome_of(lambda: self._multipart(s3, key, parts)))

    def _multipart(self, s3, key: str, parts: list[bytes]) -> None:
        upload = s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        done = [{"PartNumber": i, "ETag": s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=i, Body=p)["ETag"]}
                for i, p in enumerate(parts, start=1)]
        s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done})

    @property
    def sent_failures(self) -> collections.Counter:
        """Failures other than the bookkeeping of attempts."""
        return collections.Counter({k: v for k, v in self.failures.items() if k != "sending"})


@dataclass
class Reputs(Load):
    """Writers PUTting bodies of a small shared pool and deleting each object again two writes
    later, after reading it back: a body's blob keeps losing its last reference shortly before
    another writer puts the same bytes again."""

    pool: list[bytes] = field(default_factory=list)

    def _put(self, worker: int) -> None:
        s3 = self.client_of()
        n = 0
        while not self._stop.is_set():
            key, body = f"again-{worker}-{n}", self.pool[(worker * 5 + n) % len(self.pool)]
            self._record(key, body, "sending")
            self._record(key, body, outcome_of(lambda: s3.put_object(Bucket=self.bucket, Key=key, Body=body)))
            if n >= 2:
                self._check(s3, f"again-{worker}-{n - 2}")
                self._delete(s3, f"again-{worker}-{n - 2}")
            n += 1

    def _check(self, s3, key: str) -> None:
        """An acknowledged object reads back as written (counted as a failure otherwise)."""
        with self._lock:
            if key not in self.acked:
                return
            want = self.written[key]
        try:
            got = hashlib.sha256(s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()).hexdigest()
            outcome = "ok" if got == want else "read back other bytes"
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, OSError) as e:
            outcome = f"read failed: {e}"
        if outcome != "ok":
            with self._lock:
                self.failures[outcome] += 1


def assert_intact(s3, bucket: str, load: Load) -> None:
    """Every acknowledged object reads back as written; every object there at all (also one
    whose write failed or lost its answer) is one that was sent, whole."""
    assert load.acked, f"no write was acknowledged: {load.sent_failures}"
    stored = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            stored[o["Key"]] = o["Size"]
    lost = sorted(load.acked - stored.keys())
    assert not lost, f"acknowledged but gone: {lost[:10]}"
    for key in stored:
        if key.startswith("probe-"):
            continue
        assert key in load.written, f"{key} was never sent"
        got = hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()
        assert got == load.written[key], f"{key} is not what was sent (torn)"


def assert_check_clean(cluster) -> dict:
    """`coffer admin check` over the shared database and blob directory finds no problem.
    Blob files of writes that failed are younger than its grace period: in flight, not orphans."""
    code, report = cluster.admin_check()
    problems = {k: report[k] for k in ("damaged", "torn", "refcount_mismatches", "orphans") if report[k]}
    assert code == 0 and not problems, f"admin check: exit {code}, {problems}"
    assert report["objects"] + report["inline_objects"] > 0
    print("admin check: " + ", ".join(f"{k} {report[k]}" for k in ("objects", "inline_objects", "parts", "blobs_indexed", "blob_files", "awaiting_gc", "in_flight")))
    return report


def assert_unavailable_only(load: Load) -> None:
    """Writes that failed failed as S3 errors saying "try again": 503 with an S3 error code.
    Also a large PUT refused before its body was read: the node answers 503 and reads what the
    client still sends before it closes, so the answer reaches the client through HAProxy."""
    failures = load.sent_failures
    assert set(failures) <= {"HTTP 503 ServiceUnavailable"}, failures


def assert_survived(cluster, s3, bucket: str, load: Load) -> None:
    """What was acknowledged is intact (read through `s3`) and the store checks clean."""
    print(f"acknowledged {len(load.acked)}, deleted {load.deleted}, failed {dict(load.sent_failures)}")
    assert_intact(s3, bucket, load)
    assert_check_clean(cluster)


def writing_again(cluster, bucket: str) -> None:
    """Every node takes writes again by itself (no restart), within 30 seconds."""
    for node in cluster.nodes:
        wait_until(lambda: put_succeeds(node.client(), bucket), timeout=30, what=f"node {node.port} writing again")


def put_succeeds(s3, bucket: str) -> bool:
    return outcome_of(lambda: s3.put_object(Bucket=bucket, Key=f"probe-{uuid.uuid4().hex}", Body=b"probe")) == "ok"


def test_postgres_restarted_under_load(faults, bucket):
    pg, _, cluster = faults
    with Load(cluster.balancer.client, bucket) as load:
        time.sleep(LOAD_S / 2)
        pg.restart(down_s=1)
        writing_again(cluster, bucket)
        time.sleep(LOAD_S / 2)
    assert all(n.alive() for n in cluster.nodes)
    assert load.sent_failures, "no write met the outage"
    assert_unavailable_only(load)
    assert_survived(cluster, cluster.balancer.client(), bucket, load)


def test_node_killed_mid_write(faults, bucket):
    _, _, cluster = faults
    victim, survivor = cluster.nodes
    with Load(victim.client, bucket, threads=3, multipart=2) as load:
        time.sleep(LOAD_S)
        victim.proc.kill()
        victim.proc.wait(timeout=10)
    # What failed before the kill failed cleanly; what the kill cut got no answer at all.
    assert not {f for f in load.sent_failures if f.startswith("HTTP")} - {"HTTP 503 ServiceUnavailable"}, load.sent_failures
    assert_intact(survivor.client(), bucket, load)
    restarted = cluster.restart(0)
    assert put_succeeds(restarted.client(), bucket)
    assert_survived(cluster, restarted.client(), bucket, load)


def test_sessions_cut_mid_commit(faults, bucket):
    pg, database, cluster = faults
    stop = threading.Event()
    ended = []

    def cut_sessions():
        while not stop.is_set():
            ended.append(int(pg.sql(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    f"WHERE datname = '{database}' AND pid <> pg_backend_pid()") or 0))
            time.sleep(0.05)

    cutter = threading.Thread(target=cut_sessions)
    with Load(cluster.balancer.client, bucket, threads=6) as load:
        cutter.start()
        time.sleep(LOAD_S)
        stop.set()
        cutter.join()
        writing_again(cluster, bucket)
    assert sum(ended) > 0, "no session was ended"
    assert_unavailable_only(load)
    print(f"ended {sum(ended)} sessions")
    assert_survived(cluster, cluster.balancer.client(), bucket, load)


def test_collector_races_writers_putting_deleted_bytes_again(faults, bucket):
    """Writers on both nodes keep putting the bytes other writers have just deleted while the
    collector runs every second: it takes blobs whose last reference went, and the writers that
    put the same bytes again meanwhile must end up with them stored (a fresh generation), never
    with an object naming bytes the collector removed."""
    pg, database, cluster = faults
    pool = [os.urandom(96 << 10) for _ in range(12)]  # above the inline limit: real blobs
    hashes = ", ".join(f"decode('{hashlib.sha256(b).hexdigest()}', 'hex')" for b in pool)
    generations = collections.defaultdict(set)
    stop = threading.Event()

    def watch_generations():
        # A blob whose generation changes was collected (or taken for collection) and put again.
        while not stop.is_set():
            for line in pg.sql(f"SELECT encode(hash, 'hex'), gen FROM blobs WHERE hash IN ({hashes})", dbname=database).split():
                digest, gen = line.split("|")
                generations[digest].add(gen)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch_generations)
    clients = itertools.cycle([node.client for node in cluster.nodes])
    with Reputs(lambda: next(clients)(), bucket, threads=4, pool=pool) as load:
        watcher.start()
        time.sleep(max(2 * LOAD_S, 6))
    stop.set()
    watcher.join()
    again = sum(len(gens) - 1 for gens in generations.values())
    print(f"blobs put again after the collector took them: {again}")
    assert load.deleted > 0 and again > 0, f"deleted {load.deleted}, generations {dict(generations)}"
    assert not load.sent_failures, load.sent_failures
    time.sleep(2)  # one more collection of what the last deletes left
    assert_survived(cluster, cluster.balancer.client(), bucket, load)


def test_a_statement_timeout_is_slow_down(faults, bucket):
    pg, database, cluster = faults
    # A node whose statements may run for a second, and a session holding the lock its commit needs.
    node = cluster.start_node(COFFER_METADATA=cluster.env["COFFER_METADATA"] + " options='-c statement_timeout=1000'")
    try:
        s3 = node.client()
        key = f"held-{uuid.uuid4().hex[:8]}"
        s3.put_object(Bucket=bucket, Key=key, Body=b"first")
        url = cluster.env["COFFER_METADATA"]
        holder = subprocess.Popen(
            ["psql", url, "-X", "-q", "-c",
             f"BEGIN; SELECT 1 FROM object_keys WHERE key = convert_to('{key}', 'UTF8') FOR UPDATE; SELECT pg_sleep(8); COMMIT;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            wait_until(lambda: pg.sql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' "
                                      "AND query LIKE '%pg_sleep(8)%' AND wait_event = 'PgSleep'").strip() == "1",
                       timeout=10, what="the lock holder")
            started = time.monotonic()
            with pytest.raises(botocore.exceptions.ClientError) as refused:
                s3.put_object(Bucket=bucket, Key=key, Body=b"second")
            took = time.monotonic() - started
        finally:
            holder.terminate()
            holder.wait(timeout=10)
        error = refused.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 503
        # botocore read the code and message out of an S3 <Error> document.
        assert error["Error"]["Code"] == "SlowDown" and error["Error"]["Message"], error
        assert 0.9 < took < 8, f"refused after {took:.1f}s"
        pg.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND query LIKE '%pg_sleep(8)%'")
        wait_until(lambda: outcome_of(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"second")) == "ok", timeout=15,
                   what="the write once the lock is gone")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"second"
    finally:
        stop_server(node)


def test_admin_check_finds_and_repairs_a_wrong_count(faults, bucket):
    """The check reads the PostgreSQL index for real: a count set wrong behind the nodes' back
    is reported, and `--repair` sets it right while the nodes run."""
    pg, database, cluster = faults
    body = os.urandom(200_000)
    cluster.balancer.client().put_object(Bucket=bucket, Key="counted", Body=body)
    digest = hashlib.sha256(body).hexdigest()
    pg.sql(f"UPDATE blobs SET refs = refs + 5 WHERE hash = decode('{digest}', 'hex')", dbname=database)
    code, report = cluster.admin_check()
    assert code != 0 and report["refcount_mismatches"] == [{"hash": digest, "recorded": 6, "actual": 1}], report
    code, repaired = cluster.admin_check("--repair")
    assert code == 0 and [r["hash"] for r in repaired["repaired"]["refcounts"]] == [digest], repaired
    assert_check_clean(cluster)
