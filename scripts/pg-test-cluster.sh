#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks, on 127.0.0.1.
#
#   scripts/pg-test-cluster.sh start [--state FILE] [--durable]
#       initdb in a new temp dir (as the `postgres` user when run as root),
#       start it on a free port with its unix socket in the temp dir, print
#       its URL (postgresql://postgres@127.0.0.1:PORT/postgres) on stdout.
#       --state FILE also writes the URL (line 1) and the dir (line 2) there.
#       The cluster runs with fsync off (tests do not survive an OS crash, and
#       the machine is shared); --durable keeps fsync on (for benchmarks).
#   scripts/pg-test-cluster.sh stop DIR|STATE_FILE
#       stops the cluster and removes its dir (and the state file).
#
# Needs Debian's postgresql package (scripts/install-deps.sh). Several clusters
# can run at once: each has its own dir and port.
set -euo pipefail

die() {
    echo "pg-test-cluster: $*" >&2
    exit 1
}

bindir=""
for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && bindir="$d"
done
[ -n "$bindir" ] || die "PostgreSQL is not installed (run scripts/install-deps.sh)"

# Runs a PostgreSQL program as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local state="" durable=0
    while [ $# -gt 0 ]; do
        case "$1" in
        --state) state="$2"; shift 2 ;;
        --durable) durable=1; shift ;;
        *) die "unknown argument '$1' (usage: start [--state FILE] [--durable])" ;;
        esac
    done
    # a cluster left behind by an interrupted run with the same state file
    if [ -n "$state" ] && [ -f "$state" ]; then
        stop "$state" || true
    fi
    local dir
    dir=$(mktemp -d /tmp/lspg.XXXXXX)
    chmod 700 "$dir"
    mkdir "$dir/data" "$dir/sock"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' user (install the postgresql package)"
        chown -R postgres: "$dir"
    fi
    if ! as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        die "initdb failed"
    fi
    local fsync=off
    [ "$durable" -eq 1 ] && fsync=on
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/sock'
max_connections = 200
shared_buffers = 32MB
fsync = $fsync
full_page_writes = $fsync
logging_collector = off
EOF
    # The port is probed free, then taken by the server: retry if someone
    # took it in between.
    local port="" ok=0
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        if as_owner "$bindir/pg_ctl" -D "$dir/data" -o "-p $port" -l "$dir/server.log" -w -t 60 \
            start >/dev/null 2>&1; then
            ok=1
            break
        fi
    done
    if [ "$ok" -ne 1 ]; then
        cat "$dir/server.log" >&2 || true
        rm -rf "$dir"
        die "the server did not start"
    fi
    local url="postgresql://postgres@127.0.0.1:$port/postgres"
    echo "$url" >"$dir/url"
    if [ -n "$state" ]; then
        printf '%s\n%s\n' "$url" "$dir" >"$state"
    fi
    echo "$url"
}

stop() {
    [ $# -eq 1 ] || die "usage: stop DIR|STATE_FILE"
    local dir="$1" state=""
    if [ -f "$1" ]; then
        state="$1"
        dir=$(sed -n 2p "$state")
    fi
    case "$dir" in
    /tmp/lspg.*) ;;
    *) die "'$dir' is not a cluster dir made by this script" ;;
    esac
    if [ -d "$dir/data" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    [ -n "$state" ] && rm -f "$state"
    return 0
}

case "${1:-}" in
start) shift; start "$@" ;;
stop) shift; stop "$@" ;;
*) die "usage: $0 start [--state FILE] [--durable] | stop DIR|STATE_FILE" ;;
esac
