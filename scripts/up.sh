#!/usr/bin/env bash
# `make up`: runs labplatform on this machine with its embedded defaults: Redis, the
# local cluster (unless LABPLATFORM_KUBECONFIG names another), SQLite, the web server,
# a Celery worker and Celery beat. Prints the URL and the demo logins. Ctrl-C stops
# what this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
port=${PORT:-8000}
run_dir=${LABPLATFORM_RUN_DIR:-$PWD/.run}
mkdir -p "$run_dir"
chmod 700 "$run_dir"
export LABPLATFORM_RUN_DIR=$run_dir

say() { printf '[up] %s\n' "$*"; }
children=()
stop_services=()
cluster=

cleanup() {
    trap - INT TERM EXIT
    say "stopping"
    [ ${#children[@]} -eq 0 ] || kill -TERM "${children[@]}" 2>/dev/null || true
    [ -z "$cluster" ] || kill -TERM "$cluster" 2>/dev/null || true
    wait 2>/dev/null || true
    local service
    for service in "${stop_services[@]}"; do
        eval "$service" || true
    done
}
trap cleanup INT TERM EXIT

if [ -z "${REDIS_URL:-}" ]; then
    scripts/apt-ensure.sh redis-server
    if [ "$(scripts/redis.sh start 6379)" = started ]; then
        stop_services+=("scripts/redis.sh stop 6379")
    fi
fi

# The local cluster starts while the packages, the database, the courses and the web
# server are made ready, which do not need it; the worker, which provisions on it,
# starts once it is up.
if [ -z "${LABPLATFORM_KUBECONFIG:-}" ]; then
    scripts/apt-ensure.sh nftables socat iproute2 util-linux openssl curl
    k8s/local/cluster.sh status >/dev/null 2>&1 || stop_services+=("k8s/local/cluster.sh stop")
    k8s/local/cluster.sh up &
    cluster=$!
else
    say "using the cluster in LABPLATFORM_KUBECONFIG=$LABPLATFORM_KUBECONFIG"
fi

# Python's and npm's packages install while the cluster starts (on a fresh machine, while
# it builds): the platform's processes need them, the cluster does not.
make --no-print-directory deps

if [ ! -s "$run_dir/secret_key" ]; then
    (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' >"$run_dir/secret_key")
fi
export SECRET_KEY_FILE=$run_dir/secret_key

# Migrations, the courses in lessons/content and the demo logins, in one process; what it
# says is shown once the cluster's messages are done.
if ! .venv/bin/python manage.py up_prepare >"$run_dir/prepare.log" 2>&1; then
    cat "$run_dir/prepare.log"
    say "preparing the database failed; see the messages above"
    exit 1
fi

.venv/bin/daphne -b 127.0.0.1 -p "$port" labplatform.asgi:application >>"$run_dir/web.log" 2>&1 &
children+=($!)
if [ -n "$cluster" ] && ! wait "$cluster"; then
    say "the local cluster did not start; see the messages above, then run: make cluster-up"
    exit 1
fi
cluster=  # done: never signal a pid that may be reused
cat "$run_dir/prepare.log"
.venv/bin/celery -A labplatform worker --loglevel INFO --concurrency 8 >>"$run_dir/worker.log" 2>&1 &
children+=($!)
.venv/bin/celery -A labplatform beat --loglevel INFO --schedule "$run_dir/celerybeat-schedule" >>"$run_dir/beat.log" 2>&1 &
children+=($!)

url="http://127.0.0.1:$port/"
for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "${url}login/" 2>/dev/null; then
        break
    fi
    sleep 0.2
done
curl -fsS -o /dev/null "${url}login/" || { say "the web server did not start; see $run_dir/web.log"; exit 1; }
case $(curl -s -o /dev/null -w '%{http_code}' "${url}healthz") in
200) health="ok" ;;
*) health="DEGRADED: see ${url}healthz, signed in as admin" ;;
esac
say "serving in $((SECONDS - started))s at $url (health: $health)"
say "logs: $run_dir/{web,worker,beat}.log. Ctrl-C stops."
wait -n "${children[@]}"
say "a process exited; see the logs in $run_dir"
