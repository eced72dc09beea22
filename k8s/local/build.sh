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
#
# The real node's parts are components too: kubelet, containerd (with ctr and the runc
# shim) and runc; its CNI plugins are Debian's containernetworking-plugins (CNI_BIN); its
# NetworkPolicy enforcer is kube-router (its firewall controller only), with Debian's
# iptables and ipset.
#
#   build.sh [COMPONENT...]   e.g. `build.sh kubernetes runc`; all of them by default
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/complete.sh"
cache=${LABPLATFORM_CACHE:-$HOME/.cache/labplatform}
mkdir -p "$cache"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOTOOLCHAIN=local

started=$SECONDS
all_components=(etcd kwok kubernetes metrics-server kubelet containerd runc cni kube-router node-proxy)
components=("$@")
[ ${#components[@]} -gt 0 ] || components=("${all_components[@]}")
step_total=$((${#components[@]} + 1))
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
    complete_verified "$1" "$1/bin"
}

stamp() {
    local dir=$1
    (
        cd "$dir/bin"
        sha256sum -- *
        if [ -d ../manifests ]; then find ../manifests -type f -print0 | sort -z | xargs -0 sha256sum --; fi
    ) >"$dir/.complete.tmp"
    rm -f "$dir/.verified"
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

# build_kubernetes_commands DIR CMD...: builds k8s.io/kubernetes/cmd/CMD for each CMD into
# DIR/bin, through a wrapper module in DIR/src (the control plane and the kubelet are built
# alike, each into its own cache folder).
build_kubernetes_commands() {
    local dir=$1
    shift
    local cmds=("$@")
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

    local pkgs=() c hint
    for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c@$KUBE_VERSION"); done
    say "$step_label: resolving modules (go get)"
    run "$module" "go get -tool" "$src" "$log" go get -tool "${pkgs[@]}"
    local minor=${KUBE_VERSION#v1.}
    minor=${minor%%.*}
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
    # One `go build` for all of them: the packages they share are compiled once, and one
    # binary's link (single-threaded) overlaps the others' compiling.
    local targets=()
    for c in "${cmds[@]}"; do targets+=("k8s.io/kubernetes/cmd/$c"); done
    case " ${cmds[*]} " in
        *" kube-apiserver "*) hint=" (~6 min cold)" ;;
        *" kubelet "*) hint=" (~1 min after the control plane's build, far longer cold)" ;;
        *) hint="" ;;
    esac
    say "$step_label: building ${cmds[*]}$hint"
    run "k8s.io/kubernetes/cmd/{${cmds[*]}}@$KUBE_VERSION" "go build" "$src" "$log" \
        go build -trimpath -ldflags "$ldflags" -o "$dir/bin/" "${targets[@]}"
}

# version_check MODULE WANTED BINARY ARGS...: BINARY ARGS must print WANTED.
version_check() {
    local module=$1 wanted=$2
    shift 2
    current_module=$module current_step="version check ($* should say $wanted)"
    # Captured first: `grep -q` would stop reading early, and the writer's SIGPIPE fail the pipe.
    local reported
    reported=$("$@" 2>&1)
    grep -qF "$wanted" <<<"$reported"
}

build_kubernetes() {
    local dir=$1
    build_kubernetes_commands "$dir" kube-apiserver kube-controller-manager kube-scheduler kubectl
    version_check "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" "$KUBE_VERSION" "$dir/bin/kube-apiserver" --version
}

build_kubelet() {
    local dir=$1
    # CGO_ENABLED=0 as for the control plane: a static kubelet, as Kubernetes releases it.
    build_kubernetes_commands "$dir" kubelet
    version_check "k8s.io/kubernetes/cmd/kubelet@$KUBE_VERSION" "Kubernetes $KUBE_VERSION" "$dir/bin/kubelet" --version
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
    version_check "$module" "${ETCD_VERSION#v}" "$dir/bin/etcd" --version
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
    version_check "$module" "$METRICS_SERVER_VERSION" "$dir/bin/metrics-server" --version
}

build_containerd() {
    local dir=$1
    local log=$dir/build.log pkg=github.com/containerd/containerd/v2
    local module=$pkg@$CONTAINERD_VERSION
    # As containerd's Makefile stamps it; Revision (a git commit) is not in a module zip.
    local ldflags="-s -w -X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg"
    # The node uses the overlayfs snapshotter: leave out the btrfs, devmapper and zfs
    # ones (btrfs needs cgo and its headers). The shim is built as upstream builds it:
    # without the gRPC server it does not use (ttrpc only).
    local tags="urfave_cli_no_docs no_btrfs no_devmapper no_zfs"
    say "$step_label: installing containerd and ctr (log: $log; ~3 min cold)"
    run "$module" "go install containerd ctr" "$dir" "$log" \
        env GOBIN="$dir/bin" go install -trimpath -tags "$tags" -ldflags "$ldflags" \
        "$pkg/cmd/containerd@$CONTAINERD_VERSION" "$pkg/cmd/ctr@$CONTAINERD_VERSION"
    say "$step_label: installing containerd-shim-runc-v2"
    run "$module" "go install containerd-shim-runc-v2" "$dir" "$log" \
        env GOBIN="$dir/bin" go install -trimpath -tags "$tags no_grpc" -ldflags "$ldflags" \
        "$pkg/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
    version_check "$module" "containerd $pkg $CONTAINERD_VERSION" "$dir/bin/containerd" --version
    version_check "$module" "$CONTAINERD_VERSION" "$dir/bin/ctr" --version
    version_check "$module" "$CONTAINERD_VERSION" "$dir/bin/containerd-shim-runc-v2" -v
}

build_runc() {
    local dir=$1
    local log=$dir/build.log module=github.com/opencontainers/runc@$RUNC_VERSION
    # runc needs cgo (its nsenter is C) and libseccomp for seccomp filters; not the
    # libpathrs tag, whose Rust library Debian bookworm does not package.
    current_module=$module current_step="install libseccomp-dev, pkg-config, gcc (scripts/apt-ensure.sh)"
    "$repo/scripts/apt-ensure.sh" libseccomp-dev pkg-config gcc libc6-dev
    say "$step_label: installing runc (log: $log)"
    # A dynamic PIE, as runc's Makefile builds `runc`; the version comes from the VERSION
    # file it embeds, and gitCommit names the tag (a module zip has no git commit).
    run "$module" "go install" "$dir" "$log" \
        env GOBIN="$dir/bin" CGO_ENABLED=1 go install -trimpath -buildmode=pie \
        -tags "seccomp urfave_cli_no_docs" -ldflags "-X main.gitCommit=$RUNC_VERSION" "$module"
    version_check "$module" "runc version ${RUNC_VERSION#v}" "$dir/bin/runc" --version
    # Built with the seccomp tag, it reports the libseccomp it links.
    version_check "$module" "libseccomp: " "$dir/bin/runc" --version
}

# cni: the node's CNI plugins are Debian's; nothing to build or cache, only to install.
cni() {
    step_no=$((step_no + 1))
    step_label="[$step_no/$step_total] cni plugins (Debian containernetworking-plugins)"
    current_module=containernetworking-plugins current_step="install (scripts/apt-ensure.sh)"
    "$repo/scripts/apt-ensure.sh" containernetworking-plugins
    local plugin
    for plugin in bridge host-local loopback portmap; do
        current_step="find /usr/lib/cni/$plugin"
        [ -x "/usr/lib/cni/$plugin" ]
    done
    say "$step_label: installed"
    echo "CNI_BIN=/usr/lib/cni"
}

# kube-router enforces NetworkPolicy on the real node (node.sh runs its firewall controller
# alone). It drives Debian's iptables (nf_tables backend) and ipset, which are installed
# here each time, even when the binary is cached.
build_kube_router() {
    local dir=$1
    local log=$dir/build.log pkg=github.com/cloudnativelabs/kube-router/v2
    local module=$pkg@$KUBE_ROUTER_VERSION
    # As its Makefile stamps it (Version is a git commit there; the tag here).
    local ldflags="-s -w -X $pkg/pkg/version.Version=$KUBE_ROUTER_VERSION -X $pkg/pkg/version.BuildDate=1970-01-01T00:00:00Z"
    say "$step_label: installing kube-router (log: $log; ~5.5 min cold)"
    run "$module" "go install" "$dir" "$log" \
        env GOBIN="$dir/bin" go install -trimpath -ldflags "$ldflags" "$pkg/cmd/kube-router@$KUBE_ROUTER_VERSION"
    version_check "$module" "version $KUBE_ROUTER_VERSION" "$dir/bin/kube-router" --version
}

kube_router() {
    current_module=kube-router current_step="install iptables, ipset (scripts/apt-ensure.sh)"
    "$repo/scripts/apt-ensure.sh" iptables ipset
    component kube-router "$KUBE_ROUTER_VERSION" KUBE_ROUTER_BIN build_kube_router
}

# node-proxy is this repository's own (node-proxy/): its version is its source's hash.
node_proxy_version() {
    cat "$here/node-proxy/go.mod" "$here/node-proxy/main.go" | sha256sum | cut -c1-16
}

build_node_proxy() {
    local dir=$1
    say "$step_label: building (log: $dir/build.log)"
    run labplatform.local/node-proxy "go build" "$here/node-proxy" "$dir/build.log" \
        go build -trimpath -ldflags "-s -w" -o "$dir/bin/node-proxy" .
}

command -v go >/dev/null || { say "Go is required (https://go.dev/dl); none found on PATH"; exit 1; }
# Two builds into one cache would discard each other's folders as partial: one at a time.
exec {lock}>"$cache/.build.lock"
if ! flock -n "$lock"; then
    say "another build is using $cache; waiting for it"
    flock "$lock"
fi
for name in "${components[@]}"; do
    case $name in
        etcd) component etcd "$ETCD_VERSION" ETCD_BIN build_etcd ;;
        kwok) component kwok "$KWOK_VERSION" KWOK_BIN build_kwok ;;
        kubernetes) component kubernetes "$KUBE_VERSION" KUBE_BIN build_kubernetes ;;
        metrics-server) component metrics-server "$METRICS_SERVER_VERSION" METRICS_SERVER_BIN build_metrics_server ;;
        kubelet) component kubelet "$KUBE_VERSION" KUBELET_BIN build_kubelet ;;
        containerd) component containerd "$CONTAINERD_VERSION" CONTAINERD_BIN build_containerd ;;
        runc) component runc "$RUNC_VERSION" RUNC_BIN build_runc ;;
        cni) cni ;;
        kube-router) kube_router ;;
        node-proxy) component node-proxy "$(node_proxy_version)" NODE_PROXY_BIN build_node_proxy ;;
        *) say "unknown component $name; known: ${all_components[*]}"; exit 2 ;;
    esac
done
step_no=$((step_no + 1))
say "[$step_no/$step_total] all binaries ready in $((SECONDS - started))s"
