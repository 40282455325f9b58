#!/usr/bin/env bash
# The project's benchmark command: ./scripts/bench.sh [--duration 15s]
#
# Builds coffer (release) and the shared load generator s3bench (../shared/tools/s3bench,
# or $S3BENCH_DIR, built into its own target dir), measures the disk's fsynced write speed,
# starts coffer on a free port with a fresh data dir on the repo's disk (never tmpfs), and runs:
#   put 4KiB c=16, get 4KiB c=16, put 64MiB c=2, get 64MiB c=2, put 64MiB c=8, multipart
#   uploads of 64 MiB in 8 MiB parts c=2, list of 10000 keys c=4, get 4KiB c=16 while put
#   64MiB c=2 runs beside it,
#   and put/get 64MiB c=2 again into a bucket whose default encryption is SSE-S3 (needs boto3
#   in the test virtualenv, $COFFER_VENV or ./.venv; skipped without it)
# Prints a compact table, the upload limit the hashes set (MD5 + SHA-256 + CRC32C per core,
# times the cores s3bench leaves) and each large PUT row's share of it, the server's peak RSS
# (VmHWM) and the raw JSON lines' path.
# Exits 1 if any run reported errors.
#
# Environment: BENCH_DURATION (default 15s), BENCH_DD_MIB (default 1024), BENCH_KEEP=1 keeps
# the data dir and logs, CARGO_TARGET_DIR, COFFER_BIN, S3BENCH_DIR, COFFER_LOG (default info:
# the access log, which gives each row's p999, is on as it is by default).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

DURATION="${BENCH_DURATION:-15s}"
while (($#)); do
    case "$1" in
        --duration) DURATION="$2"; shift 2 ;;
        --duration=*) DURATION="${1#*=}"; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
DD_MIB="${BENCH_DD_MIB:-1024}"

# shellcheck source=scripts/bench-common.sh
source "$REPO/scripts/bench-common.sh"

# ---------------------------------------------------------------- build
build_bench_binaries

# ---------------------------------------------------------------- scratch space on the repo's disk
fs_of() { df --output=source "$1" | tail -n1; }
if [[ $(stat -f -c %T /tmp) != tmpfs && $(fs_of /tmp) == "$(fs_of "$REPO")" ]]; then
    parent=/tmp
else
    parent="$target"
    mkdir -p "$parent"
fi
WORK="$(mktemp -d "$parent/coffer-bench.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
RESULTS="$target/bench-results-$(date +%Y%m%d-%H%M%S).jsonl"
: >"$RESULTS"
FS_DESC="$(df --output=source,fstype "$WORK" | tail -n1 | tr -s ' ')"

# ---------------------------------------------------------------- disk baseline
log "disk: ${DD_MIB} MiB sequential write with O_DIRECT + fsync ($FS_DESC)"
dd_out="$(dd if=/dev/zero of="$WORK/dd.tmp" bs=4M count=$((DD_MIB / 4)) oflag=direct conv=fsync 2>&1 \
    || dd if=/dev/zero of="$WORK/dd.tmp" bs=4M count=$((DD_MIB / 4)) conv=fsync 2>&1 || true)"
rm -f "$WORK/dd.tmp"
log "disk: 4 KiB file creates with fsync + rename + dir fsync (3 s)"
creates="$(python3 - "$WORK" <<'PY'
import os, sys, time
d = os.path.join(sys.argv[1], "creates"); os.mkdir(d)
buf = os.urandom(4096); n = 0; t0 = time.monotonic()
dfd = os.open(d, os.O_RDONLY)
while time.monotonic() - t0 < 3.0:
    tmp = os.path.join(d, f".t{n}"); fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, buf); os.fsync(fd); os.close(fd)
    os.rename(tmp, os.path.join(d, f"f{n}")); os.fsync(dfd); n += 1
print(f"{n / (time.monotonic() - t0):.0f}")
PY
)"
rm -rf "$WORK/creates"
log "hashes: MD5, SHA-256 and CRC32C of 64 MiB on one core (storage/examples/hash_limit.rs)"
cargo build --release -q -p coffer-storage --example hash_limit
hashes="$("$target/release/examples/hash_limit" 64)"

# ---------------------------------------------------------------- server
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ENDPOINT="http://127.0.0.1:$PORT"
export COFFER_ROOT_ACCESS_KEY="BENCHROOTACCESSKEY01"
export COFFER_ROOT_SECRET_KEY="bench-root-secret-key-0123456789abcdef"
export S3BENCH_ACCESS_KEY="$COFFER_ROOT_ACCESS_KEY" S3BENCH_SECRET_KEY="$COFFER_ROOT_SECRET_KEY"
mkdir -p "$WORK/data"
log "starting $COFFER_BIN on $ENDPOINT (data in $WORK/data)"
"$COFFER_BIN" serve --data-dir "$WORK/data" --address "127.0.0.1:$PORT" --log-format json \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$ENDPOINT/health" 2>/dev/null && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "coffer exited during startup:" >&2; tail -n 40 "$WORK/server.log" >&2; exit 2
    fi
    sleep 0.1
done
curl -fsS -o /dev/null "$ENDPOINT/health" || { echo "coffer did not answer /health" >&2; tail -n 40 "$WORK/server.log" >&2; exit 2; }

# ---------------------------------------------------------------- runs
BUCKET=bench
failed=0
run() { # label, s3bench args...
    local label="$1"; shift
    log "s3bench $label ($DURATION)"
    s3bench_json "$label" "$WORK/server.log" --endpoint "$ENDPOINT" --bucket "$BUCKET" --create-bucket \
        --server-pid "$SERVER_PID" --duration "$DURATION" "$@" >>"$RESULTS" || failed=1
}
run "put 4KiB c=16"  --op put  --size 4KiB  --concurrency 16
run "get 4KiB c=16"  --op get  --size 4KiB  --concurrency 16
run "put 64MiB c=2"  --op put  --size 64MiB --concurrency 2
run "get 64MiB c=2"  --op get  --size 64MiB --concurrency 2
run "put 64MiB c=8"  --op put  --size 64MiB --concurrency 8
run "mpu 64MiB/8MiB c=2" --op multipart --size 64MiB --part-size 8MiB --concurrency 2
run "list 10k c=4"   --op list --size 4KiB  --concurrency 4 --keys 10000

# Small reads while large writes run: GETs of 4 KiB at c=16 with PUTs of 64 MiB at c=2 beside
# them (the PUTs start first and last a little longer, so they cover the GETs' timed part).
log "s3bench get 4KiB c=16 beside put 64MiB c=2 ($DURATION)"
beside_duration="$DURATION"
[[ $DURATION =~ ^([0-9]+)s$ ]] && beside_duration="$((BASH_REMATCH[1] + 3))s"
s3bench_json "put 64MiB c=2 beside GETs" "$WORK/server.log" --endpoint "$ENDPOINT" --bucket "$BUCKET" --create-bucket \
    --server-pid "$SERVER_PID" --duration "$beside_duration" --op put --size 64MiB --concurrency 2 >"$WORK/beside.json" &
beside=$!
sleep 1
run "get 4KiB c=16 beside PUTs" --op get --size 4KiB --concurrency 16
wait "$beside" || failed=1
cat "$WORK/beside.json" >>"$RESULTS"

# SSE-S3: s3bench sends no SSE headers, so the bucket's default encryption does it.
VENV_PY="${COFFER_VENV:-$REPO/.venv}/bin/python"
if [[ -x $VENV_PY ]] && "$VENV_PY" -c 'import boto3' 2>/dev/null; then
    "$VENV_PY" - "$ENDPOINT" <<'PY'
import sys, boto3, os
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=os.environ["COFFER_ROOT_ACCESS_KEY"], aws_secret_access_key=os.environ["COFFER_ROOT_SECRET_KEY"])
s3.create_bucket(Bucket="bench-sse")
s3.put_bucket_encryption(Bucket="bench-sse", ServerSideEncryptionConfiguration={
    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
PY
    BUCKET=bench-sse
    run "put 64MiB SSE-S3 c=2" --op put --size 64MiB --concurrency 2
    run "get 64MiB SSE-S3 c=2" --op get --size 64MiB --concurrency 2
else
    log "no boto3 in $VENV_PY: skipping the SSE-S3 runs (./scripts/test.sh creates the virtualenv)"
fi

HWM="$(awk '/^VmHWM/ {print $2 " " $3}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?")"
alive=yes
kill -0 "$SERVER_PID" 2>/dev/null || alive="NO (crashed)"

# ---------------------------------------------------------------- report
python3 - "$RESULTS" "$dd_out" "$creates" "$HWM" "$alive" "$DURATION" "$FS_DESC" "$(nproc)" "$hashes" <<'PY'
import json, re, sys
path, dd_out, creates, hwm, alive, duration, fs, cores, hashes = sys.argv[1:10]
hashes = json.loads(hashes)
rows = [json.loads(l) for l in open(path) if l.strip()]
m = re.search(r"(\d+) bytes.*copied, ([\d.,]+) s", dd_out)
if m:
    secs = float(m.group(2).replace(",", "."))
    disk = f"{int(m.group(1)) / 2**20 / secs:.0f} MiB/s ({int(m.group(1)) >> 20} MiB, O_DIRECT+fsync)"
else:
    disk = "dd failed: " + dd_out.strip().splitlines()[-1] if dd_out.strip() else "dd failed"
print()
print(f"coffer bench  duration={duration}  cores={cores}  fs={fs}")
print(f"disk seq write: {disk}   4KiB fsync'd creates: {creates}/s")
hdr = f"{'test':<21}{'ops':>8}{'ops/s':>10}{'MiB/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'p999 ms':>9}{'errors':>7}{'srv ms/op':>10}{'srv cpu%':>9}"
print(hdr)
print("-" * len(hdr))
notes = []
for r in rows:
    label = r.get("label", "?")
    if "fatal" in r:
        print(f"{label:<21}  FATAL: {r['fatal']}")
        continue
    lat = r.get("lat_ms") or {}
    ops = r.get("ops", 0) or 0
    srv = r.get("server_cpu_s")
    srv_ms = f"{srv * 1000 / ops:.2f}" if srv is not None and ops else "-"
    srv_pct = f"{r.get('server_cpu_pct') or 0:.0f}" if srv is not None else "-"
    errs = r.get("errors_all", r.get("errors", 0))
    p50 = f"{lat['p50']:.2f}" if lat.get("p50") is not None else "-"
    p99 = f"{lat['p99']:.2f}" if lat.get("p99") is not None else "-"
    p999 = (r.get("server_lat_ms") or {}).get("p999")
    p999 = f"{p999:.2f}" if p999 is not None else "-"
    print(f"{label:<21}{ops:>8}{r.get('ops_per_s', 0):>10.1f}{r.get('mib_per_s', 0):>9.1f}"
          f"{p50:>9}{p99:>9}{p999:>9}{errs:>7}{srv_ms:>10}{srv_pct:>9}")
    if r.get("list"):
        l = r["list"]
        notes.append(f"{label}: {l.get('full_listings')} full listings of {l.get('keys')} keys, {l.get('keys_per_s')} keys/s")
    if r.get("error_kinds"):
        notes.append(f"{label}: errors {json.dumps(r['error_kinds'])}")
    for w in r.get("warnings") or []:
        notes.append(f"{label}: warning: {w}")
print("(p50, p99: s3bench, at the client; p999: the server's access log, arrival to last byte)")
# The upload limit: every stored byte is hashed with MD5, SHA-256 and CRC32C, so the server
# can take in at most what its cores do all three at, on the cores the load generator leaves.
# The limit uses the three one after the other; the server hashes two uploads side by side on
# one core and interleaves MD5 with SHA-256, which is faster, so a row can pass 100 %; the
# second share is against that paired rate (MD5 and SHA-256 of two uploads on one core).
print(f"hashes on one core: MD5 {hashes['md5_mb_s']} MB/s, SHA-256 {hashes['sha256_mb_s']}, CRC32C {hashes['crc32c_mb_s']}; "
      f"all three {hashes['mb_per_core']} MB/s per core one after the other, {hashes['interleaved_mb_per_core']} interleaved, "
      f"{hashes['paired_mb_per_core']} for two uploads paired")
for r in rows:
    if r.get("op") not in ("put", "multipart") or (r.get("size") or 0) < 1 << 20 or "fatal" in r or "beside" in r.get("label", ""):
        continue
    left = int(cores) - (r.get("client_cpu_pct") or 0) / 100
    limit = hashes["mb_per_core"] * left
    paired = hashes["paired_mb_per_core"] * left
    got = (r.get("mib_per_s") or 0) * 1.048576
    print(f"  {r.get('label', '?')}: {got:.0f} MB/s of a {limit:.0f} MB/s limit ({left:.2f} cores left by s3bench) = {100 * got / limit:.0f}%"
          f" ({100 * got / paired:.0f}% of {paired:.0f} paired)")
for n in notes:
    print("  " + n)
print(f"server peak RSS (VmHWM): {hwm}   server alive at end: {alive}")
print(f"raw results: {path}")
PY
if [[ $alive != yes ]]; then
    echo "server log tail:" >&2; tail -n 40 "$WORK/server.log" >&2
    failed=1
fi
if ((failed)); then
    echo "some runs reported errors; s3bench stderr: $(tail -n 20 "$WORK/s3bench.stderr" 2>/dev/null)" >&2
fi
exit "$failed"
