#!/usr/bin/env bash
# A throwaway PostgreSQL for routegate's tests: its own cluster, listening only
# on 127.0.0.1 at an uncommon port, never the system's main cluster.
#
#   scripts/postgres.sh          install if absent (apt-get), init, start, create the
#                                database; print its URL on stdout
#   scripts/postgres.sh stop     stop the cluster (its data stays for the next start)
#
#   export ROUTEGATE_TEST_POSTGRES_URL="$(scripts/postgres.sh)"
#
# ROUTEGATE_PG_PORT (default 54329) and ROUTEGATE_PG_DIR (default
# /var/tmp/routegate-postgres) choose another cluster: the database-outage test
# starts and stops a private one that way. Run as root (the server then runs as
# the postgres user) or as an ordinary user who owns the data folder.
set -euo pipefail

PORT="${ROUTEGATE_PG_PORT:-54329}"
DATA="${ROUTEGATE_PG_DIR:-/var/tmp/routegate-postgres}"
ROLE=routegate
PASSWORD=routegate
DATABASE=routegate

say() { echo "postgres.sh: $*" >&2; }

# The newest server install (a client-only package also makes a bin folder, without initdb).
pg_bin() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    done
    return 0
}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_postgres() {
    if [ "$(id -u)" -ne 0 ]; then
        say "PostgreSQL is not installed and installing it needs root"; exit 2
    fi
    say "installing PostgreSQL with apt-get"
    # Only our throwaway cluster is wanted: stop the package creating and starting 'main'.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql >&2
}

running() { [ -n "$BIN" ] && as_owner "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

psql_admin() { as_owner "$BIN/psql" -h "$DATA" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -tAq "$@"; }

start() {
    BIN="$(pg_bin)"
    if [ -z "$BIN" ]; then install_postgres; BIN="$(pg_bin)"; fi
    if [ ! -s "$DATA/PG_VERSION" ]; then
        mkdir -p "$DATA"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$DATA"
        chmod 700 "$DATA"
        say "initialising a cluster in $DATA"
        as_owner "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    fi
    if ! running; then
        say "starting on 127.0.0.1:$PORT"
        as_owner "$BIN/pg_ctl" start -D "$DATA" -w -t 60 -l "$DATA/server.log" \
            -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DATA -c fsync=off" >/dev/null
    fi
    if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
        psql_admin -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'"
    fi
    if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
        psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE"
    fi
    echo "postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
}

stop() {
    BIN="$(pg_bin)"
    if running; then
        as_owner "$BIN/pg_ctl" stop -D "$DATA" -m fast -w >/dev/null
        say "stopped the cluster in $DATA"
    else
        say "no cluster running in $DATA"
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) say "usage: $0 [start|stop]"; exit 2 ;;
esac
