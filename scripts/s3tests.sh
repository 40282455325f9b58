#!/usr/bin/env bash
# Runs ceph/s3-tests (through the shared runner, ../shared/tools/s3tests/run.sh) against a
# fresh Coffer: a new data dir, a free loopback port, root plus a second user, and the two KMS
# keys the SSE-KMS tests name. Not part of ./scripts/test.sh: it takes 20-40 minutes.
#
# usage: S3T_MIRROR=<ceph/s3-tests git dir> scripts/s3tests.sh [OUTDIR]
#
# Environment:
#   S3T_MIRROR   the git dir of a ceph/s3-tests copy (required by the runner)
#   COFFER_BIN   the binary (default: $CARGO_TARGET_DIR/release/coffer, else ./target/release/coffer)
#   COFFER_SERVE_ARGS  extra flags for `coffer serve`, split on spaces; when
#                S3T_LC_DEBUG_INTERVAL is set and this names no --lifecycle-day-secs, that
#                flag is added with the same value (the suite's lifecycle "day")
#   S3T_STORAGE_CLASSES  storage classes for the suite (e.g. STANDARD_IA,GLACIER_IR); each gets
#                a directory tier of its own under the run's work dir, so transitions move bytes
#   S3T_*        passed through to the runner (profile, workers, test selection; see its README)
# Prints the runner's area table; the results stay in OUTDIR for summarize.py --diff.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNNER="$REPO/../shared/tools/s3tests/run.sh"
[[ -x $RUNNER || -f $RUNNER ]] || { echo "s3tests.sh: no runner at $RUNNER" >&2; exit 64; }
BIN="${COFFER_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/coffer}"
[[ -x $BIN ]] || { echo "s3tests.sh: build the server first (cargo build --release); no $BIN" >&2; exit 64; }
OUTDIR="${1:-}"

work="$(mktemp -d)"
data="$work/data"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
endpoint="http://127.0.0.1:$port"
main_ak=S3TESTSMAINKEY00001 main_sk=s3tests-main-secret-key-0123456789abcdef
alt_ak=S3TESTSALTKEY000001 alt_sk=s3tests-alt-secret-key-0123456789abcdefg

export COFFER_DATA_DIR="$data" COFFER_ROOT_ACCESS_KEY="$main_ak" COFFER_ROOT_SECRET_KEY="$main_sk"
mkdir -p "$data"
# Keys come first: the admin commands create the master key the server then loads.
arn1="$("$BIN" admin kms create testkey-1 | awk '$1 == "arn:" {print $2}')"
arn2="$("$BIN" admin kms create testkey-2 | awk '$1 == "arn:" {print $2}')"

for class in $(tr ',' ' ' <<<"${S3T_STORAGE_CLASSES:-}"); do
    [[ $class == STANDARD ]] && continue
    name="$(tr 'A-Z_' 'a-z-' <<<"$class")"
    "$BIN" admin tier add "$name" --dir "$work/tiers/$name" --storage-class "$class" >/dev/null
done

read -r -a serve_args <<<"${COFFER_SERVE_ARGS:-}"
if [[ -n ${S3T_LC_DEBUG_INTERVAL:-} && " ${serve_args[*]} " != *" --lifecycle-day-secs"* ]]; then
    serve_args+=(--lifecycle-day-secs "$S3T_LC_DEBUG_INTERVAL")
fi
"$BIN" serve --address "127.0.0.1:$port" --sse-c-allow-http "${serve_args[@]}" >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    curl -fsS "$endpoint/health" >/dev/null 2>&1 && break
    sleep 0.2
done
"$BIN" admin user create s3tests-alt --access-key "$alt_ak" --secret-key "$alt_sk" >/dev/null

S3T_KMS_KEYID="$arn1" S3T_KMS_KEYID2="$arn2" \
    bash "$RUNNER" "$endpoint" "$main_ak" "$main_sk" "$alt_ak" "$alt_sk" ${OUTDIR:+"$OUTDIR"}
