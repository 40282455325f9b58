# Sourced by bench.sh, bench-cluster.sh and bench-scale.sh (after they set REPO): logging, where
# cargo builds, and the two binaries every benchmark runs, built in release mode.
log() { printf '==> %s\n' "$*" >&2; }

target="${CARGO_TARGET_DIR:-$REPO/target}"
[[ $target == /* ]] || target="$REPO/$target"

# Builds the shared load generator (../shared/tools/s3bench, or $S3BENCH_DIR, into its own
# target dir) and coffer; sets S3BENCH and COFFER_BIN (unless COFFER_BIN is set).
build_bench_binaries() {
    S3BENCH_DIR="${S3BENCH_DIR:-$REPO/../shared/tools/s3bench}"
    [[ -f $S3BENCH_DIR/Cargo.toml ]] || { echo "s3bench not found at $S3BENCH_DIR (set S3BENCH_DIR)" >&2; exit 2; }
    log "building s3bench ($S3BENCH_DIR -> $target/s3bench) and coffer"
    (cd "$S3BENCH_DIR" && CARGO_TARGET_DIR="$target/s3bench" cargo build --release -q)
    S3BENCH="$target/s3bench/release/s3bench"
    cargo build --release -q -p coffer-server
    COFFER_BIN="${COFFER_BIN:-$target/release/coffer}"
}

# Runs s3bench once (its stderr appended to $WORK/s3bench.stderr) and prints its JSON line with
# the server's own p50/p99/p999 added from the access logs of the nodes that served it (coffer
# started with --log-format json; see scripts/bench_latency.py); a run that printed nothing
# gets a line saying so. Returns s3bench's status.
s3bench_json() { # label, "server logs (space-separated)", s3bench args...
    local label="$1" logs specs=() log line rc=0
    read -ra logs <<<"$2"
    shift 2
    for log in "${logs[@]}"; do specs+=("$log:$(stat -c %s "$log")"); done
    line="$("$S3BENCH" --label "$label" --json "$@" 2>>"$WORK/s3bench.stderr")" || rc=$?
    [[ -n $line ]] || line="{\"label\": \"$label\", \"fatal\": \"s3bench exited $rc with no output\"}"
    python3 "$REPO/scripts/bench_latency.py" "${specs[@]}" <<<"$line"
    return "$rc"
}
