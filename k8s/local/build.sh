#!/usr/bin/env bash
# Builds the local control plane from Go modules and caches the binaries under
# $LABPLATFORM_CACHE (default ~/.cache/labplatform), one folder per component and
# version. A folder is used only if its .complete stamp verifies every binary's
# checksum; anything else is a partial build and is rebuilt from scratch.
#
# Prints the bin directory of each component on success (KUBE_BIN=..., etc.).
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${LABPLATFORM_CACHE:-$HOME/.cache/labplatform}
mkdir -p "$cache"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOTOOLCHAIN=local

started=$SECONDS
step_total=4
step_no=0
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
    (cd "$dir/bin" && sha256sum -- *) >"$dir/.complete.tmp"
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

build_kubernetes() {
    local dir=$cache/kubernetes-$KUBE_VERSION
    step_no=$((step_no + 1))
    if is_complete "$dir"; then
        say "[$step_no/$step_total] kubernetes $KUBE_VERSION: cached"
        echo "KUBE_BIN=$dir/bin"
        return
    fi
    fresh_dir "$dir"
    local src=$dir/src log=$dir/build.log
    say "[$step_no/$step_total] kubernetes $KUBE_VERSION: preparing wrapper module (log: $log)"
    run k8s.io/kubernetes@"$KUBE_VERSION" "go mod init" "$src" "$log" go mod init labplatform.local/kubernetes-build
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and resolves them with
    # replace directives that only apply inside its own repo. Replace each one with the
    # published staging version; the list comes from its own go.mod, never by hand.
    local upstream_mod
    run k8s.io/kubernetes@"$KUBE_VERSION" "go mod download" "$src" "$src/download.json" \
        go mod download -json "k8s.io/kubernetes@$KUBE_VERSION"
    upstream_mod=$(sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p' "$src/download.json")
    current_step="read upstream go.mod"
    [ -f "$upstream_mod" ]
    local staging
    staging=$(awk '/^require \(/{r=1;next} r&&/^\)/{r=0} r&&$1 ~ /^k8s\.io\// && $2=="v0.0.0"{print $1}' "$upstream_mod")
    local count
    count=$(printf '%s\n' "$staging" | grep -c .)
    say "[$step_no/$step_total] kubernetes: replacing $count staging modules with $KUBE_STAGING_VERSION"
    current_step="derive staging modules from go.mod (found $count)"
    [ "$count" -gt 20 ]
    local edits=()
    for m in $staging; do edits+=("-replace=$m=$m@$KUBE_STAGING_VERSION"); done
    run k8s.io/kubernetes@"$KUBE_VERSION" "go mod edit -replace" "$src" "$log" go mod edit "${edits[@]}"
    local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
    say "[$step_no/$step_total] kubernetes: resolving modules (go get)"
    local pkgs=()
    for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    run k8s.io/kubernetes@"$KUBE_VERSION" "go get -tool" "$src" "$log" go get -tool "${pkgs[@]/%/@$KUBE_VERSION}"
    local minor=${KUBE_VERSION#v1.}
    minor=${minor%%.*}
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
    local i=0
    for c in "${cmds[@]}"; do
        i=$((i + 1))
        say "[$step_no/$step_total] kubernetes: building $c ($i/${#cmds[@]})$([ "$c" = kube-apiserver ] && echo '; the longest, ~3-4 min cold')"
        run "k8s.io/kubernetes/cmd/$c@$KUBE_VERSION" "go build" "$src" "$log" go build -trimpath -ldflags "$ldflags" -o "$dir/bin/$c" "k8s.io/kubernetes/cmd/$c"
    done
    current_module=k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION current_step="version check"
    "$dir/bin/kube-apiserver" --version | grep -qF "$KUBE_VERSION"
    stamp "$dir"
    say "[$step_no/$step_total] kubernetes $KUBE_VERSION: done"
    echo "KUBE_BIN=$dir/bin"
}

build_etcd() {
    local dir=$cache/etcd-$ETCD_VERSION
    step_no=$((step_no + 1))
    if is_complete "$dir"; then
        say "[$step_no/$step_total] etcd $ETCD_VERSION: cached"
        echo "ETCD_BIN=$dir/bin"
        return
    fi
    fresh_dir "$dir"
    local src=$dir/src log=$dir/build.log mod=go.etcd.io/etcd/server/v3@$ETCD_VERSION
    say "[$step_no/$step_total] etcd $ETCD_VERSION: building (log: $log)"
    cp "$here/etcd/main.go" "$src/main.go"
    run "$mod" "go mod init" "$src" "$log" go mod init labplatform.local/etcd-build
    run "$mod" "go get" "$src" "$log" go get "$mod"
    run "$mod" "go mod tidy" "$src" "$log" go mod tidy
    run "$mod" "go build" "$src" "$log" go build -trimpath -ldflags "-s -w" -o "$dir/bin/etcd" .
    current_module=$mod current_step="version check"
    "$dir/bin/etcd" --version | grep -qF "${ETCD_VERSION#v}"
    stamp "$dir"
    say "[$step_no/$step_total] etcd $ETCD_VERSION: done"
    echo "ETCD_BIN=$dir/bin"
}

build_kwok() {
    local dir=$cache/kwok-$KWOK_VERSION
    step_no=$((step_no + 1))
    if is_complete "$dir"; then
        say "[$step_no/$step_total] kwok $KWOK_VERSION: cached"
        echo "KWOK_BIN=$dir/bin"
        return
    fi
    fresh_dir "$dir"
    local log=$dir/build.log
    for c in kwok kwokctl; do
        say "[$step_no/$step_total] kwok $KWOK_VERSION: installing $c (log: $log)"
        run "sigs.k8s.io/kwok/cmd/$c@$KWOK_VERSION" "go install" "$dir" "$log" \
            env GOBIN="$dir/bin" go install -trimpath "sigs.k8s.io/kwok/cmd/$c@$KWOK_VERSION"
    done
    stamp "$dir"
    say "[$step_no/$step_total] kwok $KWOK_VERSION: done"
    echo "KWOK_BIN=$dir/bin"
}

command -v go >/dev/null || { say "Go is required (https://go.dev/dl); none found on PATH"; exit 1; }
build_etcd
build_kwok
build_kubernetes
step_no=$((step_no + 1))
say "[$step_no/$step_total] all binaries ready in $((SECONDS - started))s"
