#!/usr/bin/env bash
# Starts a Redis server on loopback for labplatform, unless one already answers there.
#   redis.sh start [PORT]   prints "started" or "running"
#   redis.sh stop [PORT]
set -euo pipefail
port=${2:-6379}
dir=${LABPLATFORM_SERVICES_DIR:-$HOME/.local/state/labplatform}/redis-$port

case ${1:-} in
start)
    if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
        echo running
        exit 0
    fi
    command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install redis-server" >&2; exit 1; }
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no >/dev/null
    for _ in $(seq 1 50); do
        redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && { echo started; exit 0; }
        sleep 0.1
    done
    echo "redis did not start on 127.0.0.1:$port; see $dir/redis.log" >&2
    exit 1
    ;;
stop)
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: $0 start|stop [PORT]" >&2
    exit 2
    ;;
esac
