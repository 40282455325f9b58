#!/usr/bin/env bash
# Coffer at scale (issue 17): ./scripts/bench-scale.sh [--objects N] [--store DIR] [--duration 10s]
#                                                      [--clients 1000] [--no-waves]
#
# 1. Runs the rows below on an empty store (a fresh data dir).
# 2. Builds a store of N objects once (default 10,000,000) in DIR (default
#    $CARGO_TARGET_DIR/scale-store-N; kept between runs, so the next run only measures): three
#    plain buckets and one versioned, each object 4 KiB (stored inline in the index), under
#    prefixes of 100,000 keys each (fewer for a small N), loaded by s3bench PUTs at c=64; in the versioned bucket one
#    key in a hundred gets two more versions.
# 3. Starts coffer again on that store, timing start-up until /health/ready answers 200 and
#    noting its RSS, and runs the same rows there.
# Rows: PUT 4KiB c=16, GET 4KiB c=16, LIST pages of a 10,000-key prefix c=4, a mixed
# GET/PUT/HEAD/DELETE load of 4 KiB objects at c=4 and at c=16 (HEAD's latency is the HEAD
# row; at c=4 the load generator leaves the server cores free, so the client's figure is
# mostly the server's) and the same mix with --clients connections at once. Then, on the loaded store, waves of deletes: a
# tenth of N keys (at most 1,000,000) written and removed by DeleteObjects (listed and deleted
# 1,000 a request, four at once, by compat-tests' delete_wave on the Rust SDK), as many more
# expired by a lifecycle rule (days of 2 s), each while GETs of 4 KiB run at c=16 in windows
# of the row's duration until the wave is over (the worst window is shown); --no-waves leaves
# the waves out.
# Prints the two stores side by side (ops/s and the loaded/empty ratio, p50/p90/p99/max in
# ms), the GETs during each wave against idle GETs, how long each wave took, start-up times
# and peak RSS.
#
# A short version for CI: ./scripts/bench-scale.sh --objects 20000 --duration 2s --clients 200
# Exits 1 if any run counted errors (s3bench counts every non-2xx, timeout and short body).
# Latencies: p50/p90/p99/max as s3bench measures them at the client; p99 and p999 from the server's
# access log (arrival to last byte; scripts/bench_latency.py), since s3bench prints none.
# Environment: CARGO_TARGET_DIR, COFFER_BIN, S3BENCH_DIR, BENCH_PYTHON (a python with boto3;
# default $COFFER_VENV or ./.venv), COFFER_LOG (default info: the access log is on, as it is
# by default).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
OBJECTS=10000000 DURATION=10s CLIENTS=1000 STORE="" WAVES=1
while (($#)); do
    case "$1" in
        --objects) OBJECTS="$2"; shift 2 ;;
        --store) STORE="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --clients) CLIENTS="$2"; shift 2 ;;
        --no-waves) WAVES=0; shift ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=scripts/bench-common.sh
source "$REPO/scripts/bench-common.sh"
STORE="${STORE:-$target/scale-store-$OBJECTS}"
build_bench_binaries
# The DeleteObjects wave's client: the Rust SDK, light enough not to crowd the GETs measured
# beside it (compat-tests/src/bin/delete_wave.rs).
cargo build --release -q -p coffer-compat-tests --bin delete_wave
PY="${BENCH_PYTHON:-${COFFER_VENV:-$REPO/.venv}/bin/python}"
"$PY" -c 'import boto3' 2>/dev/null || { echo "needs a python with boto3 (BENCH_PYTHON; ./scripts/test.sh makes .venv)" >&2; exit 2; }

# A thousand clients need a thousand sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WORK="$(mktemp -d "$target/coffer-bench-scale.XXXXXX")"
SERVER_PID=""
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT
export COFFER_ROOT_ACCESS_KEY="BENCHROOTACCESSKEY01" COFFER_ROOT_SECRET_KEY="bench-root-secret-key-0123456789abcdef"
export S3BENCH_ACCESS_KEY="$COFFER_ROOT_ACCESS_KEY" S3BENCH_SECRET_KEY="$COFFER_ROOT_SECRET_KEY"
RESULTS="$target/bench-scale-results-$(date +%Y%m%d-%H%M%S).jsonl" FACTS="$WORK/facts.tsv"
: >"$RESULTS"
: >"$FACTS"
failed=0
fact() { printf '%s\t%s\n' "$1" "$2" >>"$FACTS"; }
rss_mib() { awk -v f="$1" '$1 == f":" {print int($2 / 1024)}' "/proc/$SERVER_PID/status"; }

start_server() { # store name, data dir, serve args...: starts coffer there, records how long it took to be ready
    local name="$1" dir="$2" port t0 t1
    shift 2
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    ENDPOINT="http://127.0.0.1:$port"
    mkdir -p "$dir"
    t0="$(date +%s.%N)"
    SERVER_LOG="$WORK/server-$name.log"
    "$COFFER_BIN" serve --data-dir "$dir" --address "127.0.0.1:$port" --log-format json "$@" >>"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    until curl -fsS -o /dev/null "$ENDPOINT/health/ready" 2>/dev/null; do
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$WORK/server-$name.log" >&2; exit 2; }
        sleep 0.01
    done
    t1="$(date +%s.%N)"
    fact "$name: start-up to ready (s)" "$(python3 -c "print(f'{$t1 - $t0:.2f}')")"
    fact "$name: RSS once ready (MiB)" "$(rss_mib VmRSS)"
}

s3b() { # label, s3bench args...: one run, its JSON line kept (with the server's p999 added)
    local label="$1"; shift
    log "s3bench $label"
    s3bench_json "$label" "$SERVER_LOG" --endpoint "$ENDPOINT" --server-pid "$SERVER_PID" "$@" >>"$RESULTS" || failed=1
}

rows() { # store name, bucket
    local name="$1" bucket="$2"
    local common=(--bucket "$bucket" --create-bucket --duration "$DURATION" --size 4KiB)
    s3b "$name|put 4KiB c=16" "${common[@]}" --op put --concurrency 16
    s3b "$name|get 4KiB c=16" "${common[@]}" --op get --concurrency 16
    s3b "$name|list 10k c=4" "${common[@]}" --op list --concurrency 4 --keys 10000 --keep
    s3b "$name|mixed c=4" "${common[@]}" --op mixed --concurrency 4 --objects 2000
    s3b "$name|mixed c=16" "${common[@]}" --op mixed --concurrency 16 --objects 2000
    s3b "$name|mixed c=$CLIENTS" "${common[@]}" --op mixed --concurrency "$CLIENTS" --objects $((CLIENTS * 2)) --timeout 120s
    fact "$name: peak RSS (MiB)" "$(rss_mib VmHWM)"
}

log "1/3: the rows on an empty store"
start_server empty "$WORK/empty"
rows empty bench
stop_server

BUCKETS=(scale-a scale-b scale-c scale-versioned)
if [[ ! -f $STORE/loaded ]]; then
    log "2/3: loading $OBJECTS objects into $STORE (once; kept for the next run)"
    rm -rf "$STORE"
    COFFER_LOG=warn start_server load "$STORE" # no access log for the bulk load
    "$PY" - "$ENDPOINT" "${BUCKETS[@]}" <<'PY'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=os.environ["COFFER_ROOT_ACCESS_KEY"], aws_secret_access_key=os.environ["COFFER_ROOT_SECRET_KEY"])
for b in sys.argv[2:]:
    s3.create_bucket(Bucket=b)
s3.put_bucket_versioning(Bucket=sys.argv[-1], VersioningConfiguration={"Status": "Enabled"})
PY
    # Prefixes of 100,000 keys (fewer for a small store, so every bucket gets some).
    chunk=$((OBJECTS / 40 < 1000 ? 1000 : OBJECTS / 40 > 100000 ? 100000 : OBJECTS / 40))
    loaded=0 n=0 t0="$(date +%s)"
    while ((loaded < OBJECTS)); do
        count=$((OBJECTS - loaded < chunk ? OBJECTS - loaded : chunk))
        bucket="${BUCKETS[n % ${#BUCKETS[@]}]}"
        log "  $loaded/$OBJECTS loaded; $count more into $bucket/p$(printf %05d "$n")/"
        "$S3BENCH" --endpoint "$ENDPOINT" --bucket "$bucket" --op put --size 4KiB --concurrency 64 --count "$count" \
            --prefix "p$(printf %05d "$n")/" --keep --seed "$n" >>"$WORK/load.log" 2>&1 || { tail -n 20 "$WORK/load.log" >&2; exit 1; }
        loaded=$((loaded + count)) n=$((n + 1))
    done
    log "  versions: one key in a hundred of the versioned bucket written twice more"
    "$PY" - "$ENDPOINT" "${BUCKETS[-1]}" <<'PY'
import os, sys, boto3
from concurrent.futures import ThreadPoolExecutor
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", config=Config(max_pool_connections=32),
                  aws_access_key_id=os.environ["COFFER_ROOT_ACCESS_KEY"], aws_secret_access_key=os.environ["COFFER_ROOT_SECRET_KEY"])
bucket = sys.argv[2]
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", [])][::100]
body = os.urandom(4096)
with ThreadPoolExecutor(32) as pool:
    list(pool.map(lambda k: (s3.put_object(Bucket=bucket, Key=k, Body=body), s3.put_object(Bucket=bucket, Key=k, Body=body)), keys))
print(f"{2 * len(keys)} more versions", file=sys.stderr)
PY
    fact "load: objects (s3bench PUTs, c=64)" "$OBJECTS"
    fact "load: seconds" "$(($(date +%s) - t0))"
    stop_server
    echo "$OBJECTS" >"$STORE/loaded"
fi

log "3/3: the rows on the store of $OBJECTS objects"
start_server loaded "$STORE"
rows loaded "${BUCKETS[0]}"
fact "loaded: data dir (MiB)" "$(du -sm "$STORE" | cut -f1)"
stop_server

# Waves of deletes: D keys (a tenth of N, at most 1,000,000) removed by DeleteObjects, then D
# more expired by a lifecycle rule, each while GETs run; their latency against idle GETs'.
D=$((OBJECTS / 10 > 1000000 ? 1000000 : OBJECTS / 10))
if ((WAVES)); then # (the block is not indented: its heredocs end at the line's start)
log "deletes at scale: $D keys by DeleteObjects, $D by lifecycle expiration, GETs meanwhile"
start_server waves "$STORE" --lifecycle-day-secs 2
for b in "${BUCKETS[1]}" scale-expire; do
    "$S3BENCH" --endpoint "$ENDPOINT" --bucket "$b" --create-bucket --op put --size 4KiB --concurrency 64 --count "$D" \
        --prefix wave/ --keep >>"$WORK/load.log" 2>&1 || { tail -n 20 "$WORK/load.log" >&2; exit 1; }
done
wave() { # what (delete | expire), bucket: empties the bucket's wave/ prefix, prints the seconds it took
    if [[ $1 == delete ]]; then
        "$target/release/delete_wave" "$ENDPOINT" "$2" wave/
        return
    fi
    "$PY" - "$ENDPOINT" "$2" <<'PY'
import os, sys, time, boto3
endpoint, bucket = sys.argv[1:3]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=os.environ["COFFER_ROOT_ACCESS_KEY"], aws_secret_access_key=os.environ["COFFER_ROOT_SECRET_KEY"])
t0 = time.monotonic()
s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
    {"ID": "wave", "Status": "Enabled", "Filter": {"Prefix": "wave/"}, "Expiration": {"Days": 1}}]})
while s3.list_objects_v2(Bucket=bucket, Prefix="wave/", MaxKeys=1).get("KeyCount"):
    time.sleep(0.5)
print(f"{time.monotonic() - t0:.1f}")
PY
}
s3b "waves|get idle" --bucket "${BUCKETS[0]}" --duration "$DURATION" --size 4KiB --op get --concurrency 16
for what in delete expire; do
    bucket="${BUCKETS[1]}"
    [[ $what == delete ]] || bucket=scale-expire
    wave "$what" "$bucket" >"$WORK/wave-$what" &
    wave_pid=$!
    # GETs in windows of the row's duration for as long as the wave lasts.
    window=1
    while ((window == 1)) || kill -0 "$wave_pid" 2>/dev/null; do
        s3b "waves|get during $what #$window" --bucket "${BUCKETS[0]}" --duration "$DURATION" --size 4KiB --op get --concurrency 16
        window=$((window + 1))
    done
    wait "$wave_pid" || failed=1
    how=DeleteObjects
    [[ $what == delete ]] || how="lifecycle expiration"
    fact "waves: $D keys gone by $how (s)" "$(cat "$WORK/wave-$what")"
done
stop_server
fi

python3 - "$RESULTS" "$FACTS" "$OBJECTS" "$DURATION" "$(nproc)" <<'PY'
import json, sys
path, facts, objects, duration, cores = sys.argv[1:6]
runs = {}
for line in open(path):
    if line.strip():
        r = json.loads(line)
        store, row = r["label"].split("|", 1)
        runs.setdefault(row, {})[store] = r
def parts(r, op=None):
    """ops/s and latency of a run (or of one op type of a mixed run)."""
    if r is None or "fatal" in r:
        return None
    if op:
        r = (r.get("per_op") or {}).get(op) or {}
    lat = dict(r.get("lat_ms") or {})
    server = r.get("server_lat_ms") or {}
    lat["srv_p99"], lat["p999"] = server.get("p99"), server.get("p999")
    return r.get("ops_per_s", 0), lat, r.get("errors", 0)
print(f"\ncoffer bench-scale  objects={int(objects):,}  duration={duration}  cores={cores}")
hdr = f"{'row':<22}{'empty ops/s':>12}{'loaded':>10}{'ratio':>7}   {'empty p50/p90/p99/max ms':<28}{'srv p99/p999':>13}   {'loaded p50/p90/p99/max ms':<28}{'srv p99/p999':>13}{'errors':>7}"
print(hdr); print("-" * len(hdr))
def lat(l):
    return "/".join(f"{l[k]:.1f}" if l.get(k) is not None else "-" for k in ("p50", "p90", "p99", "max"))
def p999(l):
    """The server's own p99 and p999 (from its access log)."""
    return "/".join(f"{l[k]:.1f}" if l.get(k) is not None else "-" for k in ("srv_p99", "p999"))
for row, stores in list(runs.items()):
    if "waves" in stores:
        continue
    ops = [None] if not row.startswith("mixed") else [None, "GET", "PUT", "HEAD", "DELETE"]
    for op in ops:
        e, l = parts(stores.get("empty"), op), parts(stores.get("loaded"), op)
        name = row if op is None else f"  {op}"
        if e is None or l is None:
            print(f"{name:<22} a run failed: see s3bench's output"); continue
        ratio = f"{l[0] / e[0]:.2f}" if e[0] else "-"
        print(f"{name:<22}{e[0]:>12.0f}{l[0]:>10.0f}{ratio:>7}   {lat(e[1]):<28}{p999(e[1]):>13}   {lat(l[1]):<28}{p999(l[1]):>13}{e[2] + l[2]:>7}")
waves = {row: r for row, stores in runs.items() for store, r in stores.items() if store == "waves"}
idle = parts(waves.get("get idle"))
# The GETs during a wave ran in windows: show each wave's worst window (by p99) and how many.
windows = {}
for row, r in waves.items():
    windows.setdefault(row.split(" #")[0], []).append(r)
for row, rs in windows.items():
    ws = [parts(r) for r in rs]
    if None in ws or idle is None:
        print(f"{row:<22} a run failed: see s3bench's output"); continue
    w = max(ws, key=lambda w: w[1].get("p99") or 0)
    errors = sum(x[2] for x in ws)
    p99 = f"p99 {w[1].get('p99', 0) / idle[1]['p99']:.2f}x idle (worst of {len(ws)} windows)" if row != "get idle" and idle[1].get("p99") else ""
    print(f"{row:<22}{w[0]:>12.0f}{'':>17}   {lat(w[1]):<28}{p999(w[1]):>13}   {p99:<41}{errors:>7}")
print("(p50/p90/p99/max: s3bench, at the client; srv p99/p999: the server's access log, arrival to last byte)")
print()
for line in open(facts):
    k, v = line.rstrip("\n").split("\t")
    print(f"{k:<52}{v}")
PY
echo "raw results (s3bench's JSON lines, with server_lat_ms): $RESULTS"
if ((failed)); then
    echo "some runs counted errors; s3bench: $(tail -n 20 "$WORK/s3bench.stderr")" >&2
fi
exit "$failed"
