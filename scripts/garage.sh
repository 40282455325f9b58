#!/usr/bin/env bash
# A throwaway single-node Garage (an S3 service) on loopback, for the blob tier's tests.
#   scripts/garage.sh start DIR PORT   configures a node in DIR (if none), starts it with its S3
#                                      API on 127.0.0.1:PORT (RPC on PORT+1, admin API on PORT+2),
#                                      gives it a layout, a key and a bucket, and prints them as
#                                      COFFER_TEST_BLOBS_* lines (NAME=value) for harness.py
#   scripts/garage.sh stop DIR         stops it
# Garage is installed when missing with `cargo install garage` into $COFFER_GARAGE_ROOT
# (default ~/.cache/coffer-garage; a build of about 40 min on two busy cores, whose build
# files are removed afterwards); GARAGE_BIN names another binary.
set -euo pipefail

version=2.5.0
root="${COFFER_GARAGE_ROOT:-$HOME/.cache/coffer-garage}"
garage_bin="${GARAGE_BIN:-$root/bin/garage}"
region=garage
bucket=coffer-blobs
key_name=coffer-tests

say() { echo "garage.sh: $*" >&2; }

install_garage() {
    [[ -x $garage_bin ]] && return
    command -v cargo >/dev/null || { say "cargo is needed to build Garage"; exit 1; }
    say "building Garage $version into $root (cargo install; this takes long)"
    local build
    build="$(mktemp -d /tmp/coffer-garage-build.XXXXXX)"
    CARGO_TARGET_DIR="$build" nice -n 10 cargo install garage --version "$version" --locked --root "$root" >&2 \
        || { rm -rf "$build"; exit 1; }
    rm -rf "$build"
}

# Runs the garage CLI against the node configured in $dir.
cli() { "$garage_bin" -c "$dir/garage.toml" "$@"; }

# Runs "$@" until it succeeds (the node needs a moment after starting and after a layout change).
retry() {
    local tries=0
    until "$@" >/dev/null 2>"$dir/last-error"; do
        ((++tries < 100)) || { say "gave up on: $*"; cat "$dir/last-error" >&2; exit 1; }
        sleep 0.2
    done
}

write_config() {
    local port="$1"
    mkdir -p "$dir/meta" "$dir/data"
    cat >"$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:$((port + 1))"
rpc_public_addr = "127.0.0.1:$((port + 1))"
rpc_secret = "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"

[s3_api]
s3_region = "$region"
api_bind_addr = "127.0.0.1:$port"

[admin]
api_bind_addr = "127.0.0.1:$((port + 2))"
EOF
    chmod 600 "$dir/garage.toml"
}

case "${1:-}" in
start)
    dir="$(mkdir -p "$2" && cd "$2" && pwd)" port="$3"
    install_garage
    [[ -f $dir/garage.toml ]] || write_config "$port"
    port="$(sed -n 's/^api_bind_addr = "127.0.0.1:\([0-9]*\)"$/\1/p' "$dir/garage.toml" | head -1)"
    nohup "$garage_bin" -c "$dir/garage.toml" server >>"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/garage.pid"
    retry cli status
    if cli layout show 2>/dev/null | grep -q "NO ROLE ASSIGNED\|No nodes currently have a role"; then
        node="$(cli node id -q 2>/dev/null | cut -d@ -f1)"
        retry cli layout assign -z local -c 1G "$node"
        retry cli layout apply --version 1
    fi
    cli key info "$key_name" >/dev/null 2>&1 || retry cli key create "$key_name"
    # The key may also create buckets of its own (test_blob_store.py makes one per setup).
    retry cli key allow --create-bucket "$key_name"
    cli bucket info "$bucket" >/dev/null 2>&1 || retry cli bucket create "$bucket"
    retry cli bucket allow --read --write --owner "$bucket" --key "$key_name"
    info="$(cli key info --show-secret "$key_name")"
    echo "COFFER_TEST_BLOBS_ENDPOINT=http://127.0.0.1:$port"
    echo "COFFER_TEST_BLOBS_REGION=$region"
    echo "COFFER_TEST_BLOBS_ACCESS_KEY=$(awk '/^Key ID:/ {print $3}' <<<"$info")"
    echo "COFFER_TEST_BLOBS_SECRET_KEY=$(awk '/^Secret key:/ {print $3}' <<<"$info")"
    echo "COFFER_TEST_BLOBS_BUCKET=$bucket"
    ;;
stop)
    dir="$2"
    if [[ -f $dir/garage.pid ]]; then
        pid="$(cat "$dir/garage.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -f "$dir/garage.pid"
    fi
    ;;
*)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
