#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback, for tests.
#   scripts/postgres.sh start DIR PORT   creates a cluster in DIR (if none), starts it on
#                                        127.0.0.1:PORT and prints a libpq URL for it
#   scripts/postgres.sh stop DIR         stops it
# initdb refuses to run as root, so as root the server runs as the `postgres` user (created by
# Debian's postgresql package) and DIR is handed to it.
set -euo pipefail

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[[ -x $bin/initdb ]] || { echo "postgres.sh: PostgreSQL is not installed (Debian package postgresql)" >&2; exit 1; }

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "${1:-}" in
start)
    dir="$2" port="$3"
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    if [[ ! -f $dir/data/PG_VERSION ]]; then
        as_owner "$bin/initdb" -D "$dir/data" -A trust -U coffer -E UTF8 >"$dir/initdb.log" 2>&1
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
    echo "host=127.0.0.1 port=$port user=coffer dbname=postgres"
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$2/data" -m fast stop >/dev/null
    ;;
*)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
