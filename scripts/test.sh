#!/usr/bin/env bash
# The project's one test command: ./scripts/test.sh
#
# 1. installs what the tests need when it is missing: s3cmd, rclone, restic, duplicity (with
#    python3-boto3), chromium and chromium-driver (Debian packages; headless Chromium runs
#    the browser tests and the web console's), nodejs and npm (to check the console's
#    committed build against its sources), rabbitmq-server (the notification tests start
#    their own broker), prometheus (the metrics test starts its own, scraping Coffer),
#    postgresql (a throwaway server on loopback for the PostgreSQL index's tests,
#    scripts/postgres.sh), haproxy (the several-node tests balance over it), patroni and
#    etcd-server (the failover test runs PostgreSQL under Patroni) and a Python virtualenv
#    with compat-tests/python/requirements.txt;
# 2. builds the workspace in release mode;
# 3. checks that console/dist is what `npm ci && npm run build` makes of console/src
#    (console/check-dist.sh), runs `cargo test --release --workspace`, then the Python compatibility suite
#    (pytest compat-tests/python), which starts the real `coffer` binary, and then the core
#    files of that suite again with the blobs in an S3 bucket of moto (COFFER_TEST_BLOBS=s3),
#    then the storage crate's tests and the whole suite once more with every index in
#    PostgreSQL (COFFER_TEST_STORE_ON_POSTGRES=1, COFFER_TEST_METADATA=postgres), and the boto3
#    and awscli files through HAProxy in front of three nodes (COFFER_TEST_CLUSTER=3); last, a
#    short run of scripts/bench-scale.sh (it fails on any request error); with
#    COFFER_TEST_GARAGE=1, also the blob tier's files with the blobs in a local Garage
#    (scripts/garage.sh, which builds Garage with cargo the first time; CI leaves it out).
# Exits non-zero if either runner fails; both always run.
#
# Environment:
#   CARGO_TARGET_DIR  where cargo builds (default: ./target); the suite finds the binary there
#   COFFER_BIN        binary for the Python suite (default: $CARGO_TARGET_DIR/release/coffer)
#   COFFER_VENV       virtualenv location (default: ./.venv)
#   COFFER_BIG_TESTS  1 (default) runs the 6 GiB multipart round trip; 0 skips it
#   COFFER_TEST_GARAGE  1 adds the pass with the blobs in Garage (default 0)
# Arguments are passed to pytest, e.g. ./scripts/test.sh -k boto3 -x
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
REQS="$REPO/compat-tests/python/requirements.txt"

log() { printf '\n==> %s\n' "$*" >&2; }

# ---------------------------------------------------------------- system packages
missing=()
# command:Debian package
for pair in s3cmd:s3cmd rclone:rclone restic:restic duplicity:duplicity chromium:chromium chromedriver:chromium-driver node:nodejs npm:npm; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
# Debian's duplicity reaches S3 through the system Python's boto3.
/usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 || missing+=(python3-boto3)
# The notification tests start a RabbitMQ broker of their own (not the system service).
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || missing+=(rabbitmq-server)
# The metrics test starts a Prometheus of its own (not the system service) that scrapes Coffer.
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
# The PostgreSQL index's tests run against a throwaway server (scripts/postgres.sh).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# The several-node tests put HAProxy in front of two Coffer nodes.
[[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
# The failover test (test_patroni.py) runs PostgreSQL under Patroni, with an etcd of its own.
command -v patroni >/dev/null 2>&1 || missing+=(patroni)
[[ -x /usr/bin/etcd ]] || missing+=(etcd-server)
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    SUDO=()
    [[ $(id -u) -ne 0 ]] && SUDO=(sudo)
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- python virtualenv
VENV="${COFFER_VENV:-$REPO/.venv}"
PY="${PYTHON:-python3}"
stamp="$VENV/.requirements.sha256"
# The stamp is of the requirements' contents and the Python version, not of their path, so a
# fresh clone elsewhere (as CI makes) reuses the cached virtualenv.
want="$( (sha256sum <"$REQS"; "$PY" --version) 2>&1 | sha256sum | cut -d' ' -f1)"
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null \
    || [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    log "creating virtualenv $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q -r "$REQS"
    echo "$want" >"$stamp"
fi

# ---------------------------------------------------------------- build
target="${CARGO_TARGET_DIR:-$REPO/target}"
[[ $target == /* ]] || target="$REPO/$target"
export COFFER_BIN="${COFFER_BIN:-$target/release/coffer}"
log "cargo build --release (target dir: $target)"
cargo build --release

# ---------------------------------------------------------------- tests
# The 6 GiB multipart round trip runs by default; COFFER_BIG_TESTS=0 skips it.
export COFFER_BIG_TESTS="${COFFER_BIG_TESTS:-1}"
status=0
log "console/check-dist.sh: the embedded web console matches its sources"
console/check-dist.sh || status=1
# test_console.py's accessibility audit injects axe-core from console/node_modules.
(cd console && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || status=1

log "starting a throwaway PostgreSQL on loopback for the PostgreSQL index's tests"
pg_dir="$(mktemp -d /tmp/coffer-pg.XXXXXX)"
pg_port=$((20000 + RANDOM % 20000))
COFFER_TEST_POSTGRES="$("$REPO/scripts/postgres.sh" start "$pg_dir" "$pg_port")"
export COFFER_TEST_POSTGRES
trap '"$REPO/scripts/postgres.sh" stop "$pg_dir" || true; rm -rf "$pg_dir"' EXIT

log "cargo test --release --workspace"
cargo test --release --workspace || status=1

log "pytest compat-tests/python (binary: $COFFER_BIN)"
# The venv's bin first, so the suite runs the pinned `aws` CLI.
# The fault tests (the failover test among them) run once, in the PostgreSQL pass below.
PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m pytest compat-tests/python -q -p no:cacheprovider \
    --ignore=compat-tests/python/test_cluster_faults.py --ignore=compat-tests/python/test_patroni.py "$@" \
    || status=1

log "pytest again, the blobs in an S3 bucket (moto) instead of the data dir: COFFER_TEST_BLOBS=s3"
# Every server these files start keeps its blobs with `--blobs s3://...` (harness.py); tests
# that look at blob files on disk are marked local_blobs and left out.
blob_files=(test_boto3.py test_multipart.py test_sse.py test_versioning.py test_integrity.py test_awscli.py test_restic.py)
(cd compat-tests/python && COFFER_TEST_BLOBS=s3 COFFER_BIG_TESTS=0 PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
    -m "not local_blobs" "${blob_files[@]}") \
    || status=1

if [[ ${COFFER_TEST_GARAGE:-0} == 1 ]]; then
    log "pytest again, the blobs in a local Garage (scripts/garage.sh): COFFER_TEST_BLOBS=s3 with COFFER_TEST_BLOBS_ENDPOINT"
    # The same files plus test_blob_store.py; every server keeps its blobs under a prefix of its
    # own in one Garage bucket.
    garage_dir="$(mktemp -d /tmp/coffer-garage.XXXXXX)"
    garage_port=$((20000 + RANDOM % 20000))
    if garage_env="$("$REPO/scripts/garage.sh" start "$garage_dir" "$garage_port")"; then
        (while IFS='=' read -r name value; do export "$name=$value"; done <<<"$garage_env"
         cd compat-tests/python && COFFER_TEST_BLOBS=s3 COFFER_BIG_TESTS=0 PATH="$VENV/bin:$PATH" \
            "$VENV/bin/python" -m pytest -q -p no:cacheprovider -m "not local_blobs" "${blob_files[@]}" test_blob_store.py) \
            || status=1
    else
        echo "scripts/garage.sh could not start Garage (see $garage_dir)" >&2
        status=1
    fi
    "$REPO/scripts/garage.sh" stop "$garage_dir" || true
    ((status)) || rm -rf "$garage_dir"
fi

log "the storage crate's tests again, every store's index in PostgreSQL: COFFER_TEST_STORE_ON_POSTGRES=1"
# The storage crate's test binary as the workspace build made it (`cargo test -p` alone would
# rebuild the dependencies with other features).
storage_tests="$(cargo test --release --workspace --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "coffer_storage" and m["profile"]["test"]:
        print(m["executable"])')"
if [[ -x $storage_tests ]]; then
    COFFER_TEST_STORE_ON_POSTGRES=1 "$storage_tests" -q || status=1
else
    echo "the storage crate's test binary was not found" >&2
    status=1
fi

log "pytest again, every data dir's index in PostgreSQL: COFFER_TEST_METADATA=postgres"
# The whole suite once more. Tests that read or tamper with the SQLite file, or run commands
# that do, are marked sqlite_index and left out; test_cluster.py's clusters run on PostgreSQL
# in the first pass already.
(cd compat-tests/python && COFFER_TEST_METADATA=postgres COFFER_BIG_TESTS=0 PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
    -m "not sqlite_index" --ignore=test_cluster.py .) \
    || status=1

log "pytest again, through HAProxy in front of three nodes sharing PostgreSQL and a blob dir: COFFER_TEST_CLUSTER=3"
# The session's HTTP and HTTPS servers are each a cluster (compat-tests/python/cluster.py).
# Three nodes cost no more CI time than two (about 40 s either way on 2 cores).
(cd compat-tests/python && COFFER_TEST_CLUSTER=3 COFFER_BIG_TESTS=0 PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
    test_boto3.py test_awscli.py) \
    || status=1

log "the scale benchmark's short version: 20,000 objects, 200 clients at once, no errors (scripts/bench-scale.sh)"
# It needs the shared load generator beside the repository (../shared/tools/s3bench).
if [[ -f ${S3BENCH_DIR:-$REPO/../shared/tools/s3bench}/Cargo.toml ]]; then
    scale_store="$(mktemp -d)"
    BENCH_PYTHON="$VENV/bin/python" "$REPO/scripts/bench-scale.sh" --objects 20000 --clients 200 --duration 2s --store "$scale_store/store" \
        || status=1
    rm -rf "$scale_store"
else
    log "skipped: s3bench is not at ../shared/tools/s3bench (set S3BENCH_DIR)"
fi

if ((status)); then
    log "FAILED (see above)"
else
    log "all tests passed"
fi
exit "$status"
