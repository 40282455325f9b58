"""Space freed in the index comes back (issue 17): after thousands of small objects (kept
inline in the index) are written and all deleted, the index-space worker returns the freed
pages to the file system a few megabytes per step, so the index file shrinks back to a few
MB within a minute, while the server goes on answering."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import start_server, stop_server

pytestmark = pytest.mark.sqlite_index  # it measures the SQLite file

MIB = 1024 * 1024
OBJECTS = 4000


def index_bytes(srv) -> int:
    return (srv.data_dir / "index.sqlite").stat().st_size


def test_an_emptied_index_shrinks_back(tmp_root):
    srv = start_server(tmp_root, "http")
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="fill")
        body = b"x" * 3000
        keys = [f"k{i:05}" for i in range(OBJECTS)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket="fill", Key=k, Body=body), keys))
        # Some of the writes may still sit in the log; the file holds at least most of them.
        full = index_bytes(srv)
        for start in range(0, OBJECTS, 1000):
            chunk = [{"Key": k} for k in keys[start:start + 1000]]
            s3.delete_objects(Bucket="fill", Delete={"Objects": chunk, "Quiet": True})
        deadline = time.time() + 75
        while time.time() < deadline and index_bytes(srv) > 2 * MIB:
            s3.head_bucket(Bucket="fill")  # the server keeps answering meanwhile
            time.sleep(1)
        emptied = index_bytes(srv)
        assert emptied <= 2 * MIB, f"index.sqlite is {emptied} bytes (it was {full} when full)"
        wal = srv.data_dir / "index.sqlite-wal"
        assert not wal.exists() or wal.stat().st_size <= 8 * MIB + 64 * 1024
        assert s3.list_objects_v2(Bucket="fill").get("KeyCount", 0) == 0
    finally:
        stop_server(srv)
