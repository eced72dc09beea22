#!/usr/bin/env bash
# `make lint`: shellcheck over every first-party shell script, found rather than listed so
# that a new one is linted too: each *.sh, each file whose first line is a sh or bash
# shebang, and each whose first line is a `# shellcheck shell=...` directive (files that are
# only sourced, such as k8s/workstation/bashrc). Settings are in .shellcheckrc.
# Arguments go to shellcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || {
    echo "shellcheck is missing: scripts/apt-ensure.sh shellcheck" >&2
    exit 1
}

# One awk reads the first line of every file (and only that line).
mapfile -t scripts < <(
    find . \( -name node_modules -o -name .venv -o -name .git \) -prune -o -type f -print0 | sort -z |
        xargs -0 -r awk 'FNR == 1 {
            if (FILENAME ~ /\.sh$/ || /^#!.*[\/ ](ba)?sh([[:space:]]|$)/ || /^# shellcheck shell=/) print FILENAME
            nextfile
        }'
)
[ ${#scripts[@]} -gt 0 ] || { echo "shellcheck.sh: no shell scripts found" >&2; exit 1; }
echo "shellcheck: ${#scripts[@]} scripts"
shellcheck "$@" -- "${scripts[@]}"
