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
from pathlib import Path

import botocore.exceptions
import pytest

from cluster import HAPROXY, POSTGRES_SH, OwnPostgres, new_master_key, start_cluster
from harness import random_bucket_name, stop_server, wait_until
from write_load import LOAD_S, Load, Reputs, assert_check_clean, assert_intact, assert_survived, assert_unavailable_only, outcome_of, put_succeeds, writing_again

pytestmark = pytest.mark.skipif(
    not HAPROXY or not any(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    reason="needs haproxy and PostgreSQL (Debian packages haproxy, postgresql)",
)


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
