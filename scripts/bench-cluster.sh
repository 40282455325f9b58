#!/usr/bin/env bash
# Benchmarks the index backends side by side: ./scripts/bench-cluster.sh [--duration 8s]
#
# Runs s3bench's PUT 4KiB c=16, GET 4KiB c=16 and LIST of 10,000 keys c=4 against
#   1. one node on SQLite (the default),
#   2. one node on PostgreSQL (a throwaway server, scripts/postgres.sh),
#   3. two nodes on that PostgreSQL and one shared blob dir, behind HAProxy (Debian's haproxy),
#   4. three such nodes,
# all on this machine, and prints one table of throughput and latency, then each node's peak
# RSS. Everything listens on 127.0.0.1; data dirs are on the repository's disk. Builds coffer and s3bench as scripts/bench.sh does.
#
# p999 comes from the nodes' access logs (scripts/bench_latency.py); s3bench prints none.
# Environment: BENCH_DURATION (default 8s), CARGO_TARGET_DIR, COFFER_BIN, S3BENCH_DIR.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
DURATION="${BENCH_DURATION:-8s}"
while (($#)); do
    case "$1" in
        --duration) DURATION="$2"; shift 2 ;;
        --duration=*) DURATION="${1#*=}"; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=scripts/bench-common.sh
source "$REPO/scripts/bench-common.sh"
build_bench_binaries

WORK="$(mktemp -d "$target/coffer-bench-cluster.XXXXXX")"
# shellcheck source=scripts/cluster-common.sh
source "$REPO/scripts/cluster-common.sh"
export COFFER_ROOT_ACCESS_KEY="BENCHROOTACCESSKEY01" COFFER_ROOT_SECRET_KEY="bench-root-secret-key-0123456789abcdef"
export S3BENCH_ACCESS_KEY="$COFFER_ROOT_ACCESS_KEY" S3BENCH_SECRET_KEY="$COFFER_ROOT_SECRET_KEY"
COFFER_MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
export COFFER_MASTER_KEY

start_node() { # data dir, extra serve args...; sets NODE_PORT and records the pid
    local dir="$1" port; shift
    port="$(free_port)"
    mkdir -p "$dir"
    "$COFFER_BIN" serve --data-dir "$dir" --address "127.0.0.1:$port" --log-format json "$@" >"$dir.log" 2>&1 &
    PIDS+=($!)
    NODE_LOGS+=("$dir.log")
    for _ in $(seq 1 300); do curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break; sleep 0.1; done
    curl -fsS -o /dev/null "http://127.0.0.1:$port/health" || { tail -n 30 "$dir.log" >&2; exit 2; }
    NODE_PORT="$port"
}

RESULTS="$WORK/results.jsonl"
RSS="$WORK/rss.tsv"
: >"$RESULTS"
: >"$RSS"
note_rss() { # setup name, node pids...: records each node's peak RSS (VmHWM, KiB)
    local setup="$1" pid; shift
    for pid in "$@"; do
        printf '%s\t%s\n' "$setup" "$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)" >>"$RSS"
    done
}
NODE_LOGS=()
bench() { # setup name, endpoint port, access logs of the nodes behind it
    local setup="$1" port="$2" logs="$3" label
    for spec in "put 4KiB c=16|--op put --size 4KiB --concurrency 16" \
                "get 4KiB c=16|--op get --size 4KiB --concurrency 16" \
                "list 10k c=4|--op list --size 4KiB --concurrency 4 --keys 10000"; do
        label="$setup: ${spec%%|*}"
        log "s3bench $label ($DURATION)"
        # shellcheck disable=SC2086
        s3bench_json "$label" "$logs" --endpoint "http://127.0.0.1:$port" --bucket "b$RANDOM" --create-bucket \
            --duration "$DURATION" ${spec#*|} >>"$RESULTS" || true
    done
}

log "1/4: one node on SQLite"
start_node "$WORK/sqlite"
bench "sqlite, 1 node" "$NODE_PORT" "${NODE_LOGS[-1]}"
note_rss "sqlite, 1 node" "${PIDS[-1]}"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

log "starting a throwaway PostgreSQL"
start_postgres
psql "$PG_URL" -q -c "CREATE DATABASE bench_one" -c "CREATE DATABASE bench_two" -c "CREATE DATABASE bench_three"

log "2/4: one node on PostgreSQL"
COFFER_METADATA="$(with_db bench_one)" start_node "$WORK/pg-one"
bench "postgres, 1 node" "$NODE_PORT" "${NODE_LOGS[-1]}"
note_rss "postgres, 1 node" "${PIDS[-1]}"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

cluster() { # node count, database: starts the nodes and HAProxy in front of them, then benches
    local count="$1" name="$2" ports=() pids=() logs=() i
    mkdir -p "$WORK/$name-blobs"
    for i in $(seq 1 "$count"); do
        COFFER_METADATA="$(with_db "$name")" start_node "$WORK/$name-node$i" --blobs "$WORK/$name-blobs"
        ports+=("$NODE_PORT")
        pids+=("${PIDS[-1]}")
        logs+=("${NODE_LOGS[-1]}")
    done
    start_haproxy "$name" "${ports[@]}"
    bench "postgres, $count nodes + haproxy" "$LB_PORT" "${logs[*]}"
    note_rss "postgres, $count nodes + haproxy" "${pids[@]}"
    # Stop this cluster (its nodes and balancer are the last PIDS) before the next one starts.
    for i in $(seq 0 "$count"); do
        kill "${PIDS[-1]}" 2>/dev/null || true; wait "${PIDS[-1]}" 2>/dev/null || true
        unset 'PIDS[-1]'
    done
}

log "3/4: two nodes on PostgreSQL behind HAProxy"
cluster 2 bench_two
log "4/4: three nodes on PostgreSQL behind HAProxy"
cluster 3 bench_three

python3 - "$RESULTS" "$DURATION" "$(nproc)" "$RSS" <<'PY'
import json, sys
path, duration, cores, rss_path = sys.argv[1:5]
rows = [json.loads(l) for l in open(path) if l.strip()]
print(f"\ncoffer bench-cluster  duration={duration}  cores={cores}  (everything on this machine)")
hdr = f"{'setup: test':<42}{'ops/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'p999 ms':>9}{'errors':>7}"
print(hdr); print("-" * len(hdr))
for r in rows:
    lat = r.get("lat_ms") or {}
    lat["p999"] = (r.get("server_lat_ms") or {}).get("p999")
    f = lambda k: f"{lat[k]:.2f}" if lat.get(k) is not None else "-"
    print(f"{r.get('label','?'):<42}{r.get('ops_per_s', 0):>10.1f}{f('p50'):>9}{f('p90'):>9}{f('p99'):>9}{f('p999'):>9}{r.get('errors_all', r.get('errors', 0)):>7}")
print("(p50/p90/p99: s3bench, at the client; p999: the nodes' access logs, arrival to last byte)")
rss = {}
for line in open(rss_path):
    setup, kib = line.rstrip("\n").split("\t")
    rss.setdefault(setup, []).append(int(kib) // 1024)
print("\npeak RSS of each coffer node (VmHWM, MiB)")
for setup, mib in rss.items():
    print(f"{setup:<42}{', '.join(map(str, mib))}")
PY
