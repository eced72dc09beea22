#!/usr/bin/env bash
# Builds the local control plane from Go modules and caches the binaries under
# $LABPLATFORM_CACHE (default ~/.cache/labplatform), one folder per component and
# version. A folder is used only if its .complete stamp verifies every binary's
# checksum; anything else is a partial build and is rebuilt from scratch.
#
# Prints the bin directory of each component on success (KUBE_BIN=..., etc.).
# metrics-server's folder also holds its release manifests (manifests/overlays/release,
# a kustomize directory kwokctl applies), copied from the module so that the cluster
# does not depend on the Go module cache; the stamp covers them too.
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${LABPLATFORM_CACHE:-$HOME/.cache/labplatform}
mkdir -p "$cache"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOTOOLCHAIN=local

started=$SECONDS
step_total=5
step_no=0
step_label=""
current_module=""
current_step=""
current_log=""

say() { printf '[build %3ss] %s\n' "$((SECONDS - started))" "$*" >&2; }

on_error() {
    trap - ERR
    say "FAILED: module $current_module, step: $current_step"
    if [ -n "$current_log" ] && [ -f "$current_log" ]; then
        say "last lines of $current_log:"
        tail -n 25 "$current_log" >&2
    fi
    exit 1
}
trap on_error ERR

# run MODULE STEP DIR LOG cmd...: runs one build step in DIR, its output going to LOG.
run() {
    current_module=$1 current_step=$2 current_log=$4
    local dir=$3
    shift 4
    (trap - ERR; cd "$dir" && "$@") >>"$current_log" 2>&1
}

is_complete() {
    local dir=$1
    [ -f "$dir/.complete" ] && (cd "$dir/bin" && sha256sum --quiet -c ../.complete) >/dev/null 2>&1
}

stamp() {
    local dir=$1
    (
        cd "$dir/bin"
        sha256sum -- *
        if [ -d ../manifests ]; then find ../manifests -type f -print0 | sort -z | xargs -0 sha256sum --; fi
    ) >"$dir/.complete.tmp"
    mv "$dir/.complete.tmp" "$dir/.complete"
}

fresh_dir() {
    local dir=$1
    if [ -e "$dir" ]; then
        say "discarding partial build in $dir"
        chmod -R u+w "$dir" 2>/dev/null || true
        rm -rf "$dir"
    fi
    mkdir -p "$dir/bin" "$dir/src"
}

# component LABEL VERSION VAR BUILDER: unless $cache/LABEL-VERSION holds a complete build,
# runs BUILDER DIR into a fresh one and stamps it; prints VAR=<its bin directory>.
component() {
    local label=$1 version=$2 var=$3 builder=$4
    local dir=$cache/$label-$version
    step_no=$((step_no + 1))
    step_label="[$step_no/$step_total] $label $version"
    if is_complete "$dir"; then
        say "$step_label: cached"
    else
        fresh_dir "$dir"
        "$builder" "$dir"
        stamp "$dir"
        say "$step_label: done"
    fi
    echo "$var=$dir/bin"
}

build_kubernetes() {
    local dir=$1
    local src=$dir/src log=$dir/build.log module=k8s.io/kubernetes@$KUBE_VERSION
    say "$step_label: preparing the wrapper module (log: $log)"
    run "$module" "go mod init" "$src" "$log" go mod init labplatform.local/kubernetes-build
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and points them at
    # ./staging/src/... with replace directives, which apply only inside its own repo.
    # Replace each one with its published version; the list is those directives of its
    # own go.mod, never kept by hand.
    run "$module" "go mod download" "$src" "$src/download.json" go mod download -json "$module"
    local upstream_mod staging count
    upstream_mod=$(sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p' "$src/download.json")
    current_step="read upstream go.mod"
    [ -f "$upstream_mod" ]
    staging=$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$upstream_mod")
    count=$(printf '%s\n' "$staging" | grep -c .)
    current_step="derive staging modules from go.mod (found $count)"
    [ "$count" -gt 20 ]
    say "$step_label: replacing $count staging modules with $KUBE_STAGING_VERSION"
    local edits=() m
    for m in $staging; do edits+=("-replace=$m=$m@$KUBE_STAGING_VERSION"); done
    run "$module" "go mod edit -replace" "$src" "$log" go mod edit "${edits[@]}"

    local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl) pkgs=() c
    for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c@$KUBE_VERSION"); done
    say "$step_label: resolving modules (go get)"
    run "$module" "go get -tool" "$src" "$log" go get -tool "${pkgs[@]}"
    local minor=${KUBE_VERSION#v1.}
    minor=${minor%%.*}
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
    local i=0
    for c in "${cmds[@]}"; do
        i=$((i + 1))
        say "$step_label: building $c ($i/${#cmds[@]})$([ "$c" = kube-apiserver ] && echo '; the longest, ~3-4 min cold')"
        run "k8s.io/kubernetes/cmd/$c@$KUBE_VERSION" "go build" "$src" "$log" \
            go build -trimpath -ldflags "$ldflags" -o "$dir/bin/$c" "k8s.io/kubernetes/cmd/$c"
    done
    current_module=k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION current_step="version check"
    # Captured first: `grep -q` would stop reading early, and the writer's SIGPIPE fail the pipe.
    local reported
    reported=$("$dir/bin/kube-apiserver" --version)
    grep -qF "$KUBE_VERSION" <<<"$reported"
}

build_etcd() {
    local dir=$1
    local src=$dir/src log=$dir/build.log module=go.etcd.io/etcd/server/v3@$ETCD_VERSION
    say "$step_label: building (log: $log)"
    cp "$here/etcd/main.go" "$src/main.go"
    run "$module" "go mod init" "$src" "$log" go mod init labplatform.local/etcd-build
    run "$module" "go get" "$src" "$log" go get "$module"
    run "$module" "go mod tidy" "$src" "$log" go mod tidy
    run "$module" "go build" "$src" "$log" go build -trimpath -ldflags "-s -w" -o "$dir/bin/etcd" .
    current_module=$module current_step="version check"
    local reported
    reported=$("$dir/bin/etcd" --version)
    grep -qF "${ETCD_VERSION#v}" <<<"$reported"
}

build_kwok() {
    local dir=$1
    local log=$dir/build.log c
    for c in kwok kwokctl; do
        say "$step_label: installing $c (log: $log)"
        run "sigs.k8s.io/kwok/cmd/$c@$KWOK_VERSION" "go install" "$dir" "$log" \
            env GOBIN="$dir/bin" go install -trimpath "sigs.k8s.io/kwok/cmd/$c@$KWOK_VERSION"
    done
}

build_metrics_server() {
    local dir=$1
    local log=$dir/build.log module=sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION
    # Its version is stamped as its Makefile does; kwokctl reads it from --version.
    local ldflags="-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION -X k8s.io/client-go/pkg/version.buildDate=1970-01-01T00:00:00Z"
    say "$step_label: installing metrics-server (log: $log; ~3 min cold)"
    run "$module" "go install" "$dir" "$log" \
        env GOBIN="$dir/bin" go install -trimpath -ldflags "$ldflags" "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
    run "$module" "go mod download" "$dir" "$dir/download.json" go mod download -json "$module"
    local module_dir
    module_dir=$(sed -n 's/^\s*"Dir": "\(.*\)",\?$/\1/p' "$dir/download.json")
    current_step="copy manifests/ from the module ($module_dir)"
    [ -f "$module_dir/manifests/overlays/release/kustomization.yaml" ]
    cp -R "$module_dir/manifests" "$dir/manifests"
    # The module cache is read-only; the copy need not be.
    chmod -R u+w "$dir/manifests"
    rm -f "$dir/download.json"
    current_step="version check"
    local reported
    reported=$("$dir/bin/metrics-server" --version 2>&1)
    grep -qF "$METRICS_SERVER_VERSION" <<<"$reported"
}

command -v go >/dev/null || { say "Go is required (https://go.dev/dl); none found on PATH"; exit 1; }
component etcd "$ETCD_VERSION" ETCD_BIN build_etcd
component kwok "$KWOK_VERSION" KWOK_BIN build_kwok
component kubernetes "$KUBE_VERSION" KUBE_BIN build_kubernetes
component metrics-server "$METRICS_SERVER_VERSION" METRICS_SERVER_BIN build_metrics_server
step_no=$((step_no + 1))
say "[$step_no/$step_total] all binaries ready in $((SECONDS - started))s"
