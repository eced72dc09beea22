#!/usr/bin/env bash
# etcd's upkeep on the local cluster, run by cluster.sh beside it: `up` starts it, `stop`
# and `down` end it.
#
#   etcd-maintenance.sh KWOK_CONFIG PID_FILE
#
# etcd keeps every version of every object until its history is compacted (every
# minute, by the API server and by etcd itself: kwokctl.yaml), and compaction frees pages
# inside its database file without shrinking the file: the pages are reused, but the file
# stays at its largest, and the quota counts the file. Only a defragmentation gives the
# space back. Every ETCD_MAINTENANCE_INTERVAL_SECONDS (60) this asks etcd for its status
# (POST /v3/maintenance/status on its client URL, read from KWOK_CONFIG, the cluster's
# kwok.yaml; etcd's grpc-gateway, as no etcdctl is built here) and defragments when
# the file is more than twice what is in use and at least ETCD_DEFRAGMENT_MIN_FREE_MIB (64)
# larger, or when etcd has raised its NOSPACE alarm. A defragmentation holds etcd's reads
# and writes while it copies the live pages (well under a second per 100 MiB here), so it
# is not done for little gain. After one, a NOSPACE alarm is disarmed if the file is back
# under the quota: until then etcd refuses every write, the whole cluster's.
# One line per defragmentation (and per failure to reach etcd, once until it answers) goes
# to standard output, which cluster.sh sends to the state folder's etcd-maintenance.log.
set -euo pipefail

kwok_config=$1
pid_file=$2
interval=${ETCD_MAINTENANCE_INTERVAL_SECONDS:-60}
min_free=$((${ETCD_DEFRAGMENT_MIN_FREE_MIB:-64} * 1024 * 1024))

echo $$ >"$pid_file"
say() { printf '%s etcd-maintenance: %s\n' "$(date -u +%FT%TZ)" "$*"; }

client_url() {
    sed -n 's#^ *- --listen-client-urls=\(http://127\.0\.0\.1:[0-9][0-9]*\)$#\1#p' "$kwok_config" | head -n 1
}

# POST /v3/maintenance/NAME with BODY; the answer's JSON on stdout.
maintenance() {
    curl --silent --show-error --fail --max-time "${3:-10}" -X POST -d "$2" "$url/v3/maintenance/$1"
}

# A number field of etcd's JSON answer (grpc-gateway writes 64-bit numbers as strings).
field() { sed -n "s/.*\"$1\":\"\\([0-9][0-9]*\\)\".*/\\1/p" <<<"$2"; }

mib() { echo "$(($1 / 1024 / 1024)) MiB"; }

disarm_nospace() {
    local alarms member
    alarms=$(maintenance alarm '{"action":"GET"}') || return 0
    case $alarms in *NOSPACE*) ;; *) return 0 ;; esac
    member=$(field member_id "$alarms")
    maintenance alarm "{\"action\":\"DEACTIVATE\",\"memberID\":\"$member\",\"alarm\":\"NOSPACE\"}" >/dev/null &&
        say "NOSPACE alarm disarmed: etcd takes writes again"
}

upkeep() {
    local status size in_use quota nospace=false after
    status=$(maintenance status '{}') || return 1
    size=$(field dbSize "$status") in_use=$(field dbSizeInUse "$status") quota=$(field dbSizeQuota "$status")
    [ -n "$size" ] && [ -n "$in_use" ] || return 1
    case $(maintenance alarm '{"action":"GET"}' || true) in *NOSPACE*) nospace=true ;; esac
    if $nospace || { [ "$size" -gt $((2 * in_use)) ] && [ $((size - in_use)) -ge "$min_free" ]; }; then
        # A large database takes a while to copy: give it minutes rather than the usual 10 s.
        if maintenance defragment '{}' 300 >/dev/null; then
            after=$(field dbSize "$(maintenance status '{}' || true)")
            say "defragmented: file $(mib "$size") with $(mib "$in_use") in use -> $(mib "${after:-0}") (quota $(mib "${quota:-0}"))"
            if $nospace && [ -n "$after" ] && [ -n "$quota" ] && [ "$after" -lt "$quota" ]; then disarm_nospace; fi
        else
            say "defragmentation of $(mib "$size") failed; trying again in ${interval}s"
        fi
    fi
}

unreachable=false
while :; do
    url=$(client_url || true)
    if [ -n "$url" ] && upkeep; then
        unreachable=false
    elif ! $unreachable; then
        say "etcd does not answer at ${url:-(no client URL in $kwok_config)}; trying every ${interval}s"
        unreachable=true
    fi
    sleep "$interval"
done
