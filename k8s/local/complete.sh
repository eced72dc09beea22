# shellcheck shell=bash
# Sourced by build.sh and images.sh: whether a cached build is whole.
#
# A build's DIR/.complete lists the sha256 of each of its files (relative to BASE), written
# only once the build has finished. Hashing a gigabyte of binaries took ~10 s of CPU on
# every `make up`, so the full check runs once, and then a record of those files' sizes,
# modification times and inodes (DIR/.verified) stands for it until one of them changes:
# a rebuild, a truncation, a copy over it all change what stat says.

# complete_verified DIR BASE: true if DIR holds a complete, unchanged build.
complete_verified() {
    local dir=$1 base=$2 seen
    [ -f "$dir/.complete" ] || return 1
    seen=$(cd "$base" && sed 's/^[0-9a-f]* [ *]//' "$dir/.complete" | tr '\n' '\0' |
        xargs -0 stat -c '%n %s %y %i' 2>/dev/null) || return 1
    if [ -f "$dir/.verified" ] && [ "$seen" = "$(cat "$dir/.verified")" ]; then
        return 0
    fi
    (cd "$base" && sha256sum --quiet -c "$dir/.complete") >/dev/null 2>&1 || return 1
    printf '%s\n' "$seen" >"$dir/.verified.tmp" && mv "$dir/.verified.tmp" "$dir/.verified"
}
