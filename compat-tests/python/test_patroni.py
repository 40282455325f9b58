"""Failover of the index's PostgreSQL under load (issue 15): two Coffer nodes behind HAProxy
whose index is PostgreSQL made highly available by Patroni (three members, synchronous mode,
etcd), reached through HAProxy's port for the primary, and then through libpq's multi-host
URL instead. The primary is killed (Patroni and PostgreSQL, SIGKILL) while writers PUT through
the balancer: Patroni promotes the synchronous standby, the nodes take writes again by
themselves within seconds, the writes in between fail only with 503, no acknowledged object
is lost or torn, and `coffer admin check` is clean.

Needs Debian's patroni, etcd-server, postgresql and haproxy (see ha_postgres.py).
COFFER_FAULT_SECONDS (default 3) is how long the load runs around each kill.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

import ha_postgres
from cluster import new_master_key, start_cluster
from harness import random_bucket_name
from write_load import LOAD_S, Load, assert_survived, assert_unavailable_only, writing_again

pytestmark = pytest.mark.skipif(not ha_postgres.available(),
                                reason="needs patroni, etcd-server, postgresql and haproxy (Debian packages)")

# How long the nodes may take to write again after the primary died: the leader key's TTL
# runs out, a standby promotes itself, HAProxy's check finds it, with a margin for a busy box.
FAILOVER_BOUND_S = 30


@pytest.fixture(scope="module")
def patroni():
    pg = ha_postgres.PatroniCluster(members=3)
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def cluster(patroni, tmp_root):
    """Two nodes whose index is reached through HAProxy's port for the primary."""
    env = {"COFFER_METADATA": patroni.url, "COFFER_MASTER_KEY": new_master_key()}
    c = start_cluster(Path(tmp_root) / f"patroni-{uuid.uuid4().hex[:8]}", env)
    try:
        yield c
    finally:
        c.stop()


def kill_primary_under_load(patroni, cluster) -> None:
    """Writers PUT through the balancer; the primary dies midway. Checks what the brief says."""
    patroni.wait_settled()
    bucket = random_bucket_name("patroni")
    cluster.balancer.client().create_bucket(Bucket=bucket)
    old = patroni.primary()
    with Load(cluster.balancer.client, bucket) as load:
        time.sleep(LOAD_S / 2)
        killed = time.monotonic()
        old.kill()
        writing_again(cluster, bucket)
        time.sleep(LOAD_S / 2)
    outage, failed, slowest = load.outage_after(killed)
    new = patroni.primary()
    print(f"primary {old.name} killed, {new.name if new else 'nobody'} promoted; "
          f"writes failed for {outage:.1f} s ({failed} PUTs failed in between, the slowest after {slowest:.1f} s)")
    assert new is not None and new is not old
    assert outage < FAILOVER_BOUND_S
    assert all(n.alive() for n in cluster.nodes)
    assert load.sent_failures, "no write met the failover"
    assert_unavailable_only(load)
    assert_survived(cluster, cluster.balancer.client(), bucket, load)


def test_primary_killed_behind_haproxy(patroni, cluster):
    kill_primary_under_load(patroni, cluster)


def test_primary_killed_with_a_multi_host_url(patroni, cluster):
    """The same with no HAProxy in front of PostgreSQL: the nodes list every member and libpq's
    `target_session_attrs=read-write` takes the one that accepts writes."""
    cluster.env["COFFER_METADATA"] = patroni.multi_host_url
    for i in range(len(cluster.nodes)):
        cluster.restart(i)
    kill_primary_under_load(patroni, cluster)
