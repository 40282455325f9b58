#!/usr/bin/env bash
# Runs ceph/s3-tests (as scripts/s3tests.sh does) through HAProxy in front of several Coffer
# nodes that share one PostgreSQL index (a throwaway server, scripts/postgres.sh), one blob dir
# and one master key, each node with a data dir of its own. Everything listens on 127.0.0.1.
#
# usage: S3T_MIRROR=<ceph/s3-tests git dir> scripts/s3tests-cluster.sh [OUTDIR]
#
# Environment: S3T_NODES (default 2), and what scripts/s3tests.sh takes (COFFER_BIN,
# COFFER_SERVE_ARGS, S3T_STORAGE_CLASSES, S3T_LC_DEBUG_INTERVAL, S3T_* for the runner).
# Compare with a single-node run: python3 ../shared/tools/s3tests/summarize.py --diff A B
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNNER="$REPO/../shared/tools/s3tests/run.sh"
[[ -f $RUNNER ]] || { echo "s3tests-cluster.sh: no runner at $RUNNER" >&2; exit 64; }
BIN="${COFFER_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/coffer}"
[[ -x $BIN ]] || { echo "s3tests-cluster.sh: build the server first (cargo build --release); no $BIN" >&2; exit 64; }
OUTDIR="${1:-}"
NODES="${S3T_NODES:-2}"

WORK="$(mktemp -d)"
# shellcheck source=scripts/cluster-common.sh
source "$REPO/scripts/cluster-common.sh"

start_postgres
psql "$PG_URL" -q -c "CREATE DATABASE coffer"
main_ak=S3TESTSMAINKEY00001 main_sk=s3tests-main-secret-key-0123456789abcdef
alt_ak=S3TESTSALTKEY000001 alt_sk=s3tests-alt-secret-key-0123456789abcdefg
COFFER_METADATA="$(with_db coffer)"
COFFER_MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
export COFFER_METADATA COFFER_MASTER_KEY COFFER_ROOT_ACCESS_KEY="$main_ak" COFFER_ROOT_SECRET_KEY="$main_sk"

# KMS keys and tiers are made through the first node's data dir (both live in the index).
first="$WORK/node1"
mkdir -p "$first" "$WORK/blobs"
arn1="$(COFFER_DATA_DIR="$first" "$BIN" admin kms create testkey-1 | awk '$1 == "arn:" {print $2}')"
arn2="$(COFFER_DATA_DIR="$first" "$BIN" admin kms create testkey-2 | awk '$1 == "arn:" {print $2}')"
for class in $(tr ',' ' ' <<<"${S3T_STORAGE_CLASSES:-}"); do
    [[ $class == STANDARD ]] && continue
    name="$(tr 'A-Z_' 'a-z-' <<<"$class")"
    COFFER_DATA_DIR="$first" "$BIN" admin tier add "$name" --dir "$WORK/tiers/$name" --storage-class "$class" >/dev/null
done

read -r -a serve_args <<<"${COFFER_SERVE_ARGS:-}"
if [[ -n ${S3T_LC_DEBUG_INTERVAL:-} && " ${serve_args[*]} " != *" --lifecycle-day-secs"* ]]; then
    serve_args+=(--lifecycle-day-secs "$S3T_LC_DEBUG_INTERVAL")
fi
ports=()
for i in $(seq 1 "$NODES"); do
    dir="$WORK/node$i" port="$(free_port)"
    mkdir -p "$dir"
    COFFER_DATA_DIR="$dir" "$BIN" serve --address "127.0.0.1:$port" --blobs "$WORK/blobs" --sse-c-allow-http "${serve_args[@]}" >"$WORK/node$i.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null || { tail -n 30 "$WORK/node$i.log" >&2; exit 2; }
    ports+=("$port")
done
COFFER_DATA_DIR="$first" "$BIN" admin user create s3tests-alt --access-key "$alt_ak" --secret-key "$alt_sk" >/dev/null

start_haproxy s3tests "${ports[@]}"
lb="$LB_PORT"
for _ in $(seq 50); do
    curl -fsS "http://127.0.0.1:$lb/health" >/dev/null 2>&1 && break
    sleep 0.2
done

S3T_KMS_KEYID="$arn1" S3T_KMS_KEYID2="$arn2" \
    bash "$RUNNER" "http://127.0.0.1:$lb" "$main_ak" "$main_sk" "$alt_ak" "$alt_sk" ${OUTDIR:+"$OUTDIR"}
