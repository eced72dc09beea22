#!/usr/bin/env bash
# One image, four roles: the container's command picks one. The same script runs on a
# host checkout (it then uses .venv/), which is how the tests start each role.
#
#   entrypoint.sh web       daphne on $BIND:$PORT (0.0.0.0:8000)
#   entrypoint.sh worker    a Celery worker ($CELERY_CONCURRENCY, default 8)
#   entrypoint.sh beat      Celery beat; its schedule file goes to $LABPLATFORM_RUN_DIR
#   entrypoint.sh migrate   applies migrations, then exits
#   entrypoint.sh manage …  any manage.py command (seed_demo, load_course, …)
#
# Each role is exec'd, so it is PID 1 in a container and receives SIGTERM itself.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ]; then
    PATH=$PWD/.venv/bin:$PATH
fi
run_dir=${LABPLATFORM_RUN_DIR:-/tmp/labplatform}
mkdir -p "$run_dir"

role=${1:-}
[ $# -eq 0 ] || shift
case $role in
web)
    exec python -m daphne --bind "${BIND:-0.0.0.0}" --port "${PORT:-8000}" --proxy-headers \
        "$@" labplatform.asgi:application
    ;;
worker)
    exec python -m celery -A labplatform worker --loglevel "${LOG_LEVEL:-INFO}" \
        --concurrency "${CELERY_CONCURRENCY:-8}" "$@"
    ;;
beat)
    # Exactly one beat may run (the Deployment uses Recreate); its schedule is scratch.
    exec python -m celery -A labplatform beat --loglevel "${LOG_LEVEL:-INFO}" \
        --schedule "$run_dir/celerybeat-schedule" "$@"
    ;;
migrate)
    exec python manage.py migrate --noinput "$@"
    ;;
manage)
    exec python manage.py "$@"
    ;;
*)
    echo "usage: $0 web|worker|beat|migrate|manage [ARGS...] (got ${role@Q})" >&2
    exit 2
    ;;
esac
