#!/usr/bin/env bash
# Every linter the project has, in one place: `make lint` runs this, and so does `make test`
# (which CI runs), before the tests. Needs `make deps` and shellcheck (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== lint: %s\n' "$*"; }

step "ruff (style, bugs, complexity: C901, PLR0915)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

step "import contracts (import-linter; the directions are in pyproject.toml)"
.venv/bin/lint-imports

step "types (mypy over the gateway and the services modules)"
.venv/bin/mypy

step "shell scripts (shellcheck)"
scripts/shellcheck.sh

step "browser scripts (eslint)"
npx --no-install eslint .
