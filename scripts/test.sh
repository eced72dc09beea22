#!/usr/bin/env bash
# `make test`: starts what the suite needs (Redis, PostgreSQL, the local cluster),
# then runs every linter (scripts/lint.sh) and pytest over tests/unit, tests/integration, tests/e2e and
# tests/security.
# Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

step() { printf '\n== %s\n' "$*"; }

step "services"
scripts/apt-ensure.sh redis-server postgresql chromium nftables socat iproute2 util-linux tmux openssl curl shellcheck
scripts/redis.sh start 6379
database_url=${TEST_DATABASE_URL:-$(scripts/postgres.sh start 5433)}
echo "postgres: ${database_url%%@*}@…"
if [ -z "${LABPLATFORM_KUBECONFIG:-}" ]; then
    k8s/local/cluster.sh up
fi

step "lint"
scripts/lint.sh

step "pytest"
export DATABASE_URL=$database_url
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/1}
export SECRET_KEY=test-only-not-secret DEBUG=false
# Test databases are dropped at the end; connections kept open by worker threads would block that.
export DATABASE_CONN_MAX_AGE=0
export LABPLATFORM_RUN_DIR=${LABPLATFORM_RUN_DIR:-$PWD/.run/test}
# The platform's sockets and files live here: only root may look in, whatever the umask
# and wherever the checkout is (students' shells see the host's file tree).
mkdir -p "$LABPLATFORM_RUN_DIR"
chmod 700 "$LABPLATFORM_RUN_DIR"
status=0
.venv/bin/python -m pytest "$@" || status=$?
echo "make test: $((SECONDS - started))s in all"
exit "$status"
