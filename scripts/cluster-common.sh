# Sourced by bench-cluster.sh and s3tests-cluster.sh: the processes and the throwaway
# PostgreSQL (scripts/postgres.sh) a run starts, stopped on exit, and HAProxy on loopback.
# The sourcing script sets REPO and WORK (a directory removed on exit) first.

HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"
[[ -x $HAPROXY ]] || { echo "haproxy is needed (apt-get install haproxy)" >&2; exit 2; }
# PostgreSQL runs as the postgres user when we are root: its directory must be reachable.
PG_DIR="$(mktemp -d /tmp/coffer-cluster-pg.XXXXXX)"
PIDS=()
cluster_cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$REPO/scripts/postgres.sh" stop "$PG_DIR" >/dev/null 2>&1 || true
    rm -rf "$WORK" "$PG_DIR"
}
trap cluster_cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts a throwaway PostgreSQL on a free port; sets PG_URL (its libpq URL).
start_postgres() {
    PG_URL="$("$REPO/scripts/postgres.sh" start "$PG_DIR" "$(free_port)")"
}

# PG_URL with another database.
with_db() { sed -E "s/dbname=[^ ]+/dbname=$1/" <<<"$PG_URL"; }

# Starts HAProxy balancing round robin over the nodes at the given loopback ports (its config
# and log are $WORK/NAME-haproxy.*), waits a second, records its pid; sets LB_PORT.
start_haproxy() { # name, node ports...
    local name="$1" servers="" i=0 port; shift
    for port in "$@"; do
        i=$((i + 1))
        servers+="    server node$i 127.0.0.1:$port"$'\n'
    done
    LB_PORT="$(free_port)"
    cat >"$WORK/$name-haproxy.cfg" <<EOF
global
    maxconn 2048
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend s3
    bind 127.0.0.1:$LB_PORT
    # Close a connection whose Expect: 100-continue request got an error (README: Running on
    # several machines).
    http-request set-var(txn.expect) req.hdr(expect)
    http-response set-header Connection close if { var(txn.expect) -m found } { status ge 300 }
    default_backend coffer
backend coffer
    balance roundrobin
$servers
EOF
    "$HAPROXY" -f "$WORK/$name-haproxy.cfg" -db >"$WORK/$name-haproxy.log" 2>&1 &
    PIDS+=($!)
    sleep 1
}
