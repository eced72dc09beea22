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

scripts=()
while IFS= read -r -d '' file; do
    case $file in
    *.sh) scripts+=("$file") ;;
    *) if head -n 1 -- "$file" | grep -qE '^(#!.*[/ ](ba)?sh([[:space:]]|$)|# shellcheck shell=)'; then
        scripts+=("$file")
    fi ;;
    esac
done < <(find . \( -name node_modules -o -name .venv -o -name .git \) -prune -o -type f -print0 | sort -z)

[ ${#scripts[@]} -gt 0 ] || { echo "shellcheck.sh: no shell scripts found" >&2; exit 1; }
echo "shellcheck: ${#scripts[@]} scripts"
shellcheck "$@" -- "${scripts[@]}"
