#!/usr/bin/env python3
"""The server's own latency percentiles (p50, p99, p999) for one s3bench run, from coffer's
access log (`--log-format json`): s3bench keeps every sample but prints no p999, while the
access log has one line per request with `duration_ms` (arrival to the response's last byte).

Usage: bench_latency.py LOG:OFFSET [LOG:OFFSET ...] < s3bench-json-line > annotated-json-line

Each LOG is a server's stderr (one per node behind a balancer), OFFSET its size in bytes when
the run began (only lines after it are read). The run's requests are told apart by its bucket and key prefix (ListObjectsV2 by its
bucket alone); its untimed set-up and clean-up are left out by count: the first `prep.objects`
uploads and the last `cleanup.deleted` deletes under the prefix. Adds `server_lat_ms`
({p50, p99, p999, n}) to the run and to each of its `per_op` kinds."""

from __future__ import annotations

import json
import sys

# s3bench's kind of op -> the access log's operation.
# A multipart upload's own latency is the whole upload's; the log's is each part's.
OPERATIONS = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject", "LIST": "ListObjectsV2",
              "MULTIPART": "UploadPart"}
# A run's op -> the kinds it times.
KINDS = {"put": ["PUT"], "get": ["GET"], "list": ["LIST"], "delete": ["DELETE"], "mixed": ["GET", "PUT", "HEAD", "DELETE"],
         "multipart": ["MULTIPART"]}


def percentiles(samples: list[float]) -> dict:
    if not samples:
        return {"n": 0}
    samples.sort()
    at = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]  # noqa: E731
    return {"p50": at(0.50), "p99": at(0.99), "p999": at(0.999), "n": len(samples)}


def run_lines(logs: list[tuple[str, int]], bucket: str, prefix: str) -> list[tuple[str, float]]:
    """(operation, duration_ms) of the logs' access-log lines that belong to the run, in the
    order they were answered."""
    lines = [line for log, offset in logs for line in log_lines(log, offset, bucket, prefix)]
    return [(op, ms) for _, op, ms in sorted(lines)]


def log_lines(log: str, offset: int, bucket: str, prefix: str):
    """(timestamp, operation, duration_ms) of one log's lines after `offset` for the run."""
    with open(log, "rb") as f:
        f.seek(offset)
        for raw in f:
            if b'"coffer::access"' not in raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("bucket") != bucket or line.get("status", 500) >= 300:
                continue
            op = line.get("operation")
            if op == "ListObjectsV2" or (line.get("key") or "").startswith(prefix):
                yield line.get("timestamp", ""), op, float(line["duration_ms"])


def annotate(run: dict, logs: list[tuple[str, int]]) -> dict:
    kinds = KINDS.get(run.get("op", ""), [])
    if not kinds or "prefix" not in run:
        return run
    by_op: dict[str, list[float]] = {}
    for op, ms in run_lines(logs, run.get("bucket", ""), run["prefix"]):
        by_op.setdefault(op, []).append(ms)
    # Set-up uploads come first and clean-up deletes last; neither is timed by s3bench.
    prep = (run.get("prep") or {}).get("objects", 0)
    by_op["PutObject"] = by_op.get("PutObject", [])[prep:]
    cleaned = (run.get("cleanup") or {}).get("deleted", 0)
    if cleaned:
        by_op["DeleteObject"] = by_op.get("DeleteObject", [])[:-cleaned]
    if run.get("op") != "list":
        by_op.pop("ListObjectsV2", None)  # the post-check's listing
    timed = {kind: by_op.get(OPERATIONS[kind], []) for kind in kinds}
    run["server_lat_ms"] = percentiles([ms for samples in timed.values() for ms in samples])
    for kind, samples in timed.items():
        if kind in (run.get("per_op") or {}):
            run["per_op"][kind]["server_lat_ms"] = percentiles(samples)
    return run


def main() -> None:
    logs = [(arg.rsplit(":", 1)[0], int(arg.rsplit(":", 1)[1])) for arg in sys.argv[1:]]
    line = sys.stdin.read().strip()
    try:
        run = json.loads(line)
    except ValueError:
        print(line)
        return
    print(json.dumps(annotate(run, logs)))


if __name__ == "__main__":
    main()
