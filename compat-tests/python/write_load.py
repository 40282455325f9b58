"""Writers under a fault (issue 15): threads PUTting new objects through a cluster while a
test breaks something, and the checks that follow: acknowledged objects intact, failures only
"try again", the store consistent (`coffer admin check`). Shared by the cluster fault tests.
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

import botocore.exceptions

from harness import wait_until

LOAD_S = float(os.environ.get("COFFER_FAULT_SECONDS", "3"))
SIZES = (4 << 10, 1 << 20)
PART = 5 << 20


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
    # Each single PUT: (when it was sent in time.monotonic() seconds, how long it took, how it ended).
    puts: list[tuple[float, float, str]] = field(default_factory=list)
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
            sent = time.monotonic()
            outcome = outcome_of(lambda: s3.put_object(Bucket=self.bucket, Key=key, Body=body))
            self._record(key, body, outcome)
            with self._lock:
                self.puts.append((sent, time.monotonic() - sent, outcome))
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

    def outage_after(self, moment: float) -> tuple[float, int, float]:
        """After `moment`: (seconds to the sending of the first PUT that succeeded, how many
        PUTs sent before that one failed, the longest any of those took). Infinite if none
        succeeded."""
        with self._lock:
            after = sorted(p for p in self.puts if p[0] >= moment)
        first_ok = next((i for i, p in enumerate(after) if p[2] == "ok"), len(after))
        longest = max((took for _, took, _ in after[:first_ok]), default=0.0)
        outage = after[first_ok][0] - moment if first_ok < len(after) else float("inf")
        return outage, first_ok, longest

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
