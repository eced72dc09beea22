#!/usr/bin/env bash
# Builds the images of the local cluster's real node from Debian packages and our own
# build of Kubernetes, without a registry: nothing here pulls an image.
#
#   pause        localhost/labplatform/pause:3.10: k8s.io/kubernetes's build/pause/linux/pause.c,
#                compiled static, alone in an image made with umoci
#   workstation  localhost/labplatform/workstation:<hash>: k8s/workstation/Dockerfile, the one
#                production builds, built with buildah from a Debian base made by mmdebstrap
#                (which already has the Dockerfile's packages, so its apt step is skipped)
#                and the kubectl of build.sh
#   platform     localhost/labplatform/platform:<hash>: the top-level Dockerfile, the one
#                production builds, built with buildah from a Debian base with python3.11
#                made by mmdebstrap, its wheels and browser libraries fetched beforehand
#                (pip download, npm ci) into a copy of the checkout, so that the build
#                itself has no network. Only when asked for: nothing of the local cluster
#                runs it yet.
#
# Each image is cached as an OCI archive (for `ctr -n k8s.io images import`) in
# $LABPLATFORM_CACHE/images/<name>-<hash>/image.tar, where <hash> covers every input
# (this script, the source files, the versions); a folder counts only if its .complete
# stamp verifies the archive, so an interrupted build is rebuilt. Prints, per image,
# NAME_IMAGE_TAR=<archive> and NAME_IMAGE=<reference>.
#
#   images.sh [pause|workstation|platform...]   pause and workstation by default
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/complete.sh"
cache=${LABPLATFORM_CACHE:-$HOME/.cache/labplatform}
images=$cache/images
# buildah's storage is ours alone (never /var/lib/containers, which other tools share);
# its run state lives in /run so that a reboot clears stale locks, one folder per storage
# (per cache), as two storages must not share one.
buildah_root=$cache/buildah/storage
buildah_runroot=/run/labplatform-buildah/$(printf '%s' "$buildah_root" | sha256sum | cut -c1-12)
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

PAUSE_REF=localhost/labplatform/pause:3.10
WORKSTATION_REPO=localhost/labplatform/workstation
PLATFORM_REPO=localhost/labplatform/platform
# What the platform needs of python:3.11-slim-bookworm, from Debian: CPython 3.11 with venv
# (and ensurepip), CA certificates for TLS to the API server and identity providers, time
# zones, and /etc/services and /etc/protocols.
PLATFORM_BASE_PACKAGES="python3.11 python3.11-venv ca-certificates tzdata netbase"
DEBIAN_SUITE=bookworm

started=$SECONDS
current_image=""
current_step=""
current_log=""
base_for=""  # the image a Debian base is made for (its messages)

say() { printf '[images %3ss] %s\n' "$((SECONDS - started))" "$*" >&2; }

on_error() {
    trap - ERR
    say "FAILED: image $current_image, step: $current_step"
    if [ -n "$current_log" ] && [ -f "$current_log" ]; then
        say "last lines of $current_log:"
        tail -n 25 "$current_log" >&2
    fi
    exit 1
}
trap on_error ERR

# run STEP LOG cmd...: runs one step of the current image, its output going to LOG.
run() {
    current_step=$1 current_log=$2
    shift 2
    (trap - ERR; "$@") >>"$current_log" 2>&1
}

buildah_() {
    buildah --root "$buildah_root" --runroot "$buildah_runroot" --storage-driver vfs "$@"
}

# inputs_hash FILE... -- WORD...: the first 16 hex digits of a SHA-256 over the files'
# contents and names (relative to the checkout) and the words (versions, settings).
inputs_hash() {
    local f
    {
        while [ $# -gt 0 ] && [ "$1" != -- ]; do
            printf '%s %s\n' "$(sha256sum <"$1" | cut -d' ' -f1)" "${1#"$repo"/}"
            shift
        done
        [ $# -gt 0 ] && shift
        for f in "$@"; do printf '%s\n' "$f"; done
    } | sha256sum | cut -c1-16
}

is_complete() {
    complete_verified "$1" "$1"
}

# fresh_dir DIR: an empty DIR, discarding what a build that did not finish left there.
fresh_dir() {
    local dir=$1
    if [ -e "$dir" ]; then
        say "discarding partial build in $dir"
        rm -rf "$dir"
    fi
    mkdir -p "$dir/work"
}

# finish DIR FILE: stamps DIR's FILE. Folders of other inputs are left alone: another
# checkout sharing this cache may be using them (remove old ones by hand).
finish() {
    local dir=$1 file=$2
    (cd "$dir" && sha256sum "$file") >"$dir/.complete.tmp"
    rm -f "$dir/.verified"
    mv "$dir/.complete.tmp" "$dir/.complete"
    rm -rf "$dir/work"
}

# cached NAME DIR FILE BUILDER ARG...: unless DIR holds a complete FILE, runs
# BUILDER DIR ARG... into a fresh DIR and stamps FILE.
cached() {
    local name=$1 dir=$2 file=$3 builder=$4
    shift 4
    if is_complete "$dir"; then
        say "$name: cached ($dir)"
    else
        fresh_dir "$dir"
        "$builder" "$dir" "$@"
        finish "$dir" "$file"
        say "$name: done"
    fi
}

# image NAME VAR REF DIR BUILDER: the OCI archive DIR/image.tar of REF, built by
# BUILDER DIR REF unless cached; prints VAR_TAR=<archive> and VAR=<reference>.
image() {
    local name=$1 var=$2 ref=$3 dir=$4 builder=$5
    current_image=$ref
    cached "$name" "$dir" image.tar "$builder" "$ref"
    echo "${var}_TAR=$dir/image.tar"
    echo "$var=$ref"
}

# tar_layout LAYOUT ARCHIVE: an OCI image layout as one tar with the layout at its root,
# which is what `ctr images import` reads; names, owners and times fixed so that the
# same layout gives the same archive.
tar_layout() {
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$1" -cf "$2" .
}

# kubernetes_module_dir: where the Go module cache keeps k8s.io/kubernetes@KUBE_VERSION
# (the module cache is read-only and verified as it is written, so a folder there is whole;
# asking `go mod download` costs seconds even when it is).
kubernetes_module_dir() {
    local cached
    cached=$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION
    if [ -f "$cached/go.mod" ]; then
        printf '%s\n' "$cached"
        return
    fi
    current_step="go mod download k8s.io/kubernetes@$KUBE_VERSION"
    (cd / && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION") |
        sed -n 's/^\s*"Dir": "\(.*\)",\?$/\1/p'
}

build_pause() {
    local dir=$1 ref=$2
    local work=$dir/work log=$dir/build.log
    say "pause: compiling pause.c (log: $log)"
    # The version it prints (pause -v) is the upstream image's tag, as its Makefile sets it.
    run "gcc -static pause.c" "$log" \
        gcc -static -O2 -Wall -Werror "-DVERSION=v$pause_tag" -o "$work/pause" "$pause_src/linux/pause.c"
    run "pause -v" "$log" "$work/pause" -v
    say "pause: packing it with umoci"
    # The tag given to umoci is the full reference: it becomes the index's
    # org.opencontainers.image.ref.name, the name ctr import gives the image.
    local layout=$work/oci
    run "umoci init" "$log" umoci init --layout "$layout"
    run "umoci new" "$log" umoci new --image "$layout:$ref"
    # Unpacked and repacked rather than `umoci insert`, whose layer (umoci 0.4.7) lacks the
    # tar's padding and end: GNU tar and Python's tarfile refuse it.
    run "umoci unpack" "$log" umoci unpack --image "$layout:$ref" "$work/bundle"
    install -m 0755 "$work/pause" "$work/bundle/rootfs/pause"
    run "umoci repack" "$log" umoci repack --image "$layout:$ref" "$work/bundle"
    # As upstream's image: /pause as the entrypoint, run as nobody's uid.
    run "umoci config" "$log" umoci config --image "$layout:$ref" \
        --os linux --architecture amd64 --config.entrypoint /pause --config.user 65535:65535
    run "umoci gc" "$log" umoci gc --layout "$layout"
    current_step="tar the layout"
    tar_layout "$layout" "$dir/image.tar"
}

# The packages the Dockerfile's final stage installs, read from its `packages=(...)` line
# so that the base image cannot fall behind it.
workstation_packages() {
    sed -n 's/^RUN packages=(\([^)]*\)).*/\1/p' "$repo/k8s/workstation/Dockerfile"
}

# host_apt_options FILE: the host's apt settings that decide how a mirror is reached
# (a proxy; whether an old Release file is accepted, as a snapshot mirror needs), for
# mmdebstrap, whose apt reads only its own configuration.
host_apt_options() {
    apt-config dump | grep -E '^Acquire::((https?|ftp)::Proxy|Check-Valid-Until|Check-Date)' >"$1" || true
}

# debian_rootfs DIR PACKAGES: DIR/rootfs.tar, a bookworm minbase (what debian:bookworm-slim
# is) with PACKAGES. Cached apart from the image, so that a change of the image's own
# files does not download Debian again.
debian_rootfs() {
    local dir=$1 packages=$2
    local work=$dir/work log=$dir/build.log
    local aptconf=$work/host-apt.conf
    host_apt_options "$aptconf"
    say "$base_for: its base, mmdebstrap $DEBIAN_SUITE minbase + $(wc -w <<<"$packages") packages (log: $log; ~3 min)"
    # Why the customize hook: mmdebstrap leaves the sources it used in /etc/apt and the
    # apt options it was given in apt.conf.d/99mmdebstrap; they are this machine's, and
    # no layer of the image may carry them. The package lists go too (as in Debian's
    # images). Documentation is left out as in debian:bookworm-slim, copyrights kept; so
    # are the device nodes of /dev, which a container runtime makes itself.
    # shellcheck disable=SC2016 # "$1" is the chroot, for the hook's own shell to expand
    run "mmdebstrap" "$log" mmdebstrap --variant=minbase --mode=root --skip=output/dev \
        --include="${packages// /,}" \
        --aptopt="$aptconf" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='rm -f "$1"/etc/apt/sources.list "$1"/etc/apt/apt.conf.d/99*' \
        --customize-hook='rm -rf "$1"/etc/apt/sources.list.d/* "$1"/var/lib/apt/lists/*' \
        "$DEBIAN_SUITE" "$dir/rootfs.tar"
    rm -f "$aptconf"
}

# buildah_base ROOTFS REF: ROOTFS (a tarball) as the image REF in our buildah storage.
buildah_base() {
    local rootfs=$1 ref=$2 log=$3
    say "$base_for: importing its base into buildah ($ref)"
    local container
    current_step="buildah from scratch"
    container=$(trap - ERR; buildah_ from scratch 2>>"$log")
    run "buildah add rootfs.tar" "$log" buildah_ add "$container" "$rootfs" /
    run "buildah config" "$log" buildah_ config --os linux --arch amd64 \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$container"
    run "buildah commit base" "$log" buildah_ commit --rm "$container" "$ref"
}

build_workstation() {
    local dir=$1 ref=$2
    local work=$dir/work log=$dir/build.log
    local base=localhost/labplatform/workstation-base:${ref##*:}
    mkdir -p "$buildah_root" "$buildah_runroot"
    # Our storage keeps nothing between builds (the archive is what is kept): what is
    # there is left over from an interrupted one.
    run "buildah rm --all" "$log" buildah_ rm --all
    run "buildah rmi --all" "$log" buildah_ rmi --all --force
    base_for=workstation buildah_base "$rootfs" "$base" "$log"
    # The build context is a copy, so that the kubectl it carries is never in the checkout.
    local context=$work/context
    cp -R "$repo/k8s/workstation" "$context"
    install -m 0755 "$kubectl" "$context/context-bin/kubectl"
    say "workstation: buildah bud k8s/workstation/Dockerfile (log: $log)"
    # No network in the build: every package is in the base (APT_INSTALL=no) and kubectl
    # is in the context. RUN steps run in containers of the runc build.sh built. The
    # Docker format, because only it has SHELL (bash with pipefail), which the RUN steps
    # are written for, as under docker build; the archive is converted to OCI on push.
    run "buildah bud" "$log" buildah_ bud --format=docker --pull=never --network=none \
        --isolation=oci --runtime "$runc" \
        --build-arg BASE_IMAGE="$base" --build-arg APT_INSTALL=no \
        --build-arg KUBECTL_FROM=context --build-arg KUBECTL_VERSION="$KUBE_VERSION" \
        --layers=false --tag "$ref" --file "$context/Dockerfile" "$context"
    say "workstation: exporting it as an OCI archive"
    # oci-archive:PATH:REF names the image REF in the index (org.opencontainers.image.ref.name).
    run "buildah push" "$log" buildah_ push --format=oci "$ref" "oci-archive:$dir/image.tar:$ref"
    run "buildah rmi" "$log" buildah_ rmi "$ref" "$base"
}

# upstream_version PACKAGE [STATUS_FILE]: the package's version without Debian's revision
# (3.11.2 of 3.11.2-6+deb12u9), from dpkg's status (this machine's, or the file given).
upstream_version() {
    awk -v p="Package: $1" '$0 == p {f = 1} f && /^Version:/ {print $2; exit}' "${2:-/var/lib/dpkg/status}" |
        sed 's/^[0-9]*://; s/-[^-]*$//'
}

# platform_pip: a virtualenv of this machine's Debian python3.11, for pip download: the
# wheels are chosen by the interpreter's version as well as its tags (environment markers
# such as python_full_version < "3.11.3"), so it must be the image's CPython, not the one
# of the checkout's .venv. Prints its python.
platform_pip() {
    local venv=$images/pip-python3.11 status
    status=$(mktemp)
    current_step="install python3.11 and its venv (scripts/apt-ensure.sh)"
    "$repo/scripts/apt-ensure.sh" python3.11 python3.11-venv >&2
    tar -xOf "$platform_rootfs" ./var/lib/dpkg/status >"$status"
    local here_version image_version
    here_version=$(upstream_version python3.11) image_version=$(upstream_version python3.11 "$status")
    rm -f "$status"
    current_step="compare python3.11 here ($here_version) with the image's ($image_version)"
    [ -n "$here_version" ] && [ "$here_version" = "$image_version" ]
    if [ ! -x "$venv/bin/python" ]; then
        current_step="python3.11 -m venv $venv"
        /usr/bin/python3.11 -m venv "$venv"
    fi
    echo "$venv/bin/python"
}

# platform_context DIR: what the top-level Dockerfile copies, from the checkout (its
# .dockerignore still applies), with prefetched/ filled: the wheels of requirements.txt
# for this machine's CPython 3.11 (the image's, from the same Debian release) and the
# browser libraries of package-lock.json. Nothing is written into the checkout.
platform_context() {
    local context=$1 log=$2 path
    mkdir -p "$context/scripts" "$context/prefetched"
    for path in "${platform_inputs[@]}"; do
        cp -R "$repo/$path" "$context/$path"
    done
    find "$context" -name __pycache__ -prune -exec rm -rf {} +
    local python
    python=$(platform_pip)
    say "platform: pip download of requirements.txt (log: $log)"
    run "pip download" "$log" "$python" -m pip download --quiet --disable-pip-version-check \
        --only-binary=:all: --dest "$context/prefetched/wheels" --requirement "$repo/requirements.txt"
    say "platform: npm ci --omit=dev"
    mkdir -p "$context/prefetched/npm"
    cp "$repo/package.json" "$repo/package-lock.json" "$context/prefetched/npm/"
    run "npm ci --omit=dev" "$log" npm ci --prefix "$context/prefetched/npm" --omit=dev --no-audit --no-fund --loglevel=error
    mv "$context/prefetched/npm/node_modules" "$context/prefetched/node_modules"
    rm -rf "$context/prefetched/npm"
}

build_platform() {
    local dir=$1 ref=$2
    local work=$dir/work log=$dir/build.log
    local base=localhost/labplatform/platform-base:${ref##*:}
    mkdir -p "$buildah_root" "$buildah_runroot"
    run "buildah rm --all" "$log" buildah_ rm --all
    run "buildah rmi --all" "$log" buildah_ rmi --all --force
    base_for=platform buildah_base "$platform_rootfs" "$base" "$log"
    local context=$work/context
    platform_context "$context" "$log"
    say "platform: buildah bud Dockerfile (log: $log)"
    # As the workstation's: no network (the packages are in prefetched/), RUN steps in our
    # runc, the Docker format for SHELL. Both stages start from the Debian base, which has
    # bash and cp, all the Node stage needs with PACKAGES_FROM=context.
    run "buildah bud" "$log" buildah_ bud --format=docker --pull=never --network=none \
        --isolation=oci --runtime "$runc" \
        --build-arg PYTHON_IMAGE="$base" --build-arg NODE_IMAGE="$base" --build-arg PACKAGES_FROM=context \
        --layers=false --tag "$ref" --file "$context/Dockerfile" "$context"
    say "platform: exporting it as an OCI archive"
    run "buildah push" "$log" buildah_ push --format=oci "$ref" "oci-archive:$dir/image.tar:$ref"
    run "buildah rmi" "$log" buildah_ rmi "$ref" "$base"
}

want() {
    local name=$1 w
    for w in "${wanted[@]}"; do [ "$w" = "$name" ] && return 0; done
    return 1
}

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(pause workstation)
for name in "${wanted[@]}"; do
    case $name in pause | workstation | platform) ;; *) say "unknown image $name; known: pause workstation platform"; exit 2 ;; esac
done
[ "$(id -u)" -eq 0 ] || { say "needs root: mmdebstrap and buildah build root file systems"; exit 1; }
command -v go >/dev/null || { say "Go is required (https://go.dev/dl); none found on PATH"; exit 1; }
current_step="install umoci, buildah, mmdebstrap, gcc (scripts/apt-ensure.sh)"
"$repo/scripts/apt-ensure.sh" umoci buildah mmdebstrap gcc libc6-dev
mkdir -p "$images"
# Two builds would discard each other's folders as partial: one at a time.
exec {lock}>"$images/.lock"
if ! flock -n "$lock"; then
    say "another image build is using $images; waiting for it"
    flock "$lock"
fi

if want pause; then
    current_image=$PAUSE_REF
    pause_src=$(kubernetes_module_dir)/build/pause
    current_step="find $pause_src/linux/pause.c"
    [ -f "$pause_src/linux/pause.c" ]
    pause_tag=$(sed -n 's/^TAG ?= *//p' "$pause_src/Makefile")
    pause_hash=$(inputs_hash "$here/images.sh" "$pause_src/linux/pause.c" -- "$KUBE_VERSION" "$pause_tag" "$PAUSE_REF" "$(gcc -dumpfullversion)")
    image pause PAUSE_IMAGE "$PAUSE_REF" "$images/pause-$pause_hash" build_pause
fi

if want workstation; then
    current_image=$WORKSTATION_REPO
    current_step="read the package list of k8s/workstation/Dockerfile"
    packages=$(workstation_packages)
    [ -n "$packages" ]
    # The base first: it needs nothing of build.sh, so it is made while build.sh runs
    # (cluster.sh starts both at once).
    # Its hash covers the code that makes it, not the whole script.
    rootfs_hash=$(inputs_hash -- "$(declare -f debian_rootfs host_apt_options)" "$DEBIAN_SUITE" "$packages")
    rootfs_dir=$images/debian-$DEBIAN_SUITE-$rootfs_hash
    base_for=workstation cached "debian-$DEBIAN_SUITE" "$rootfs_dir" rootfs.tar debian_rootfs "$packages"
    rootfs=$rootfs_dir/rootfs.tar
    # kubectl (and runc, for buildah's RUN steps) from build.sh, cached there (or, while
    # build.sh runs, once it is done: it holds the build's lock).
    current_step="build.sh kubernetes runc"
    built=$("$here/build.sh" kubernetes runc)
    kubectl=$(sed -n 's#^KUBE_BIN=\(.*\)#\1/kubectl#p' <<<"$built")
    runc=$(sed -n 's#^RUNC_BIN=\(.*\)#\1/runc#p' <<<"$built")
    current_step="find kubectl and runc in the output of build.sh"
    [ -x "$kubectl" ] && [ -x "$runc" ]
    mapfile -t context_files < <(find "$repo/k8s/workstation" -type f -not -path '*/context-bin/kubectl' | sort)
    workstation_hash=$(inputs_hash "$here/images.sh" "${context_files[@]}" -- \
        "kubectl $(sha256sum <"$kubectl" | cut -d' ' -f1)" "rootfs $rootfs_hash")
    image workstation WORKSTATION_IMAGE "$WORKSTATION_REPO:$workstation_hash" \
        "$images/workstation-$workstation_hash" build_workstation
fi

if want platform; then
    current_image=$PLATFORM_REPO
    current_step="find npm (make deps installs it)"
    command -v npm >/dev/null
    platform_rootfs_hash=$(inputs_hash -- "$(declare -f debian_rootfs host_apt_options)" "$DEBIAN_SUITE" "$PLATFORM_BASE_PACKAGES")
    platform_rootfs_dir=$images/debian-$DEBIAN_SUITE-$platform_rootfs_hash
    base_for=platform cached "debian-$DEBIAN_SUITE python3.11" "$platform_rootfs_dir" rootfs.tar debian_rootfs "$PLATFORM_BASE_PACKAGES"
    platform_rootfs=$platform_rootfs_dir/rootfs.tar
    current_step="build.sh runc"
    built=$("$here/build.sh" runc)
    runc=$(sed -n 's#^RUNC_BIN=\(.*\)#\1/runc#p' <<<"$built")
    [ -x "$runc" ]
    # What the Dockerfile copies; the image's hash covers every file of them.
    platform_inputs=(Dockerfile .dockerignore requirements.txt package.json package-lock.json manage.py
        labplatform lessons scripts/entrypoint.sh prefetched/README.md)
    mkdir -p "$images"
    current_step="hash the platform's sources"
    mapfile -t platform_files < <(cd "$repo" && find "${platform_inputs[@]}" -type f -not -path '*/__pycache__/*' | sort)
    platform_hash=$(inputs_hash "$here/images.sh" "${platform_files[@]/#/$repo/}" -- "rootfs $platform_rootfs_hash")
    image platform PLATFORM_IMAGE "$PLATFORM_REPO:$platform_hash" "$images/platform-$platform_hash" build_platform
fi
say "images ready in $((SECONDS - started))s"
