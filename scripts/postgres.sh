#!/usr/bin/env bash
# Starts a PostgreSQL server on 127.0.0.1 for labplatform's tests (TCP only, no Unix
# socket outside its own data directory), creating its cluster on first use.
#   postgres.sh start [PORT]   prints the DATABASE_URL to use
#   postgres.sh stop [PORT]
set -euo pipefail
port=${2:-5433}
dir=${LABPLATFORM_POSTGRES_DIR:-/var/lib/labplatform}/postgres-$port  # outside /root: the server runs as postgres
url="postgres://labplatform:labplatform@127.0.0.1:$port/labplatform"

# The newest installed version; with none, the pattern stays unexpanded and names nothing.
bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
[ -e "$bin" ] || { echo "PostgreSQL is missing: apt-get install postgresql" >&2; exit 1; }
as_postgres() { runuser -u postgres -- "$@"; }

ready() { as_postgres "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; }

case ${1:-} in
start)
    if [ ! -f "$dir/PG_VERSION" ]; then
        mkdir -p "$dir"
        chown postgres: "$dir"
        chmod 700 "$dir"
        as_postgres "$bin/initdb" -D "$dir" -U postgres --auth-host=scram-sha-256 --auth-local=peer \
            --encoding=UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 ||
            { cat "$dir.initdb.log" >&2; exit 1; }
    fi
    if ! ready; then
        as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    fi
    as_postgres psql -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
SELECT 'CREATE ROLE labplatform LOGIN CREATEDB PASSWORD ''labplatform'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'labplatform') \gexec
SELECT 'CREATE DATABASE labplatform OWNER labplatform'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'labplatform') \gexec
SQL
    echo "$url"
    ;;
stop)
    if [ -f "$dir/postmaster.pid" ]; then
        as_postgres "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null || true
    fi
    ;;
*)
    echo "usage: $0 start|stop [PORT]" >&2
    exit 2
    ;;
esac
