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
