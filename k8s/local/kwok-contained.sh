#!/usr/bin/env bash
# kwok-controller, contained. cluster.sh renders this file (filling in the @...@ values)
# and gives it to kwokctl as the kwok-controller binary.
#
# KWOK would run whatever an exec rule (ClusterExec, Exec) asks for on this host. No rule
# exists: students' shells are containers on the real node (node.sh), exec into a
# simulated pod is refused (k8s/platform/overlays/local), and the platform may write none.
# kwok is contained all the same, in a network and a mount namespace of its own whose only
# ways out are two relays through Unix sockets in a root-only directory: one to the API
# server, and one that lets the API server (logs) and metrics-server (resource metrics)
# reach KWOK's server at every node's loopback address. Inside, an nftables rule refuses
# every connection by a non-root user except to the API server. The relays die with kwok.
# Limits set here (processes, open files, address space, file size) bound kwok itself.
set -euo pipefail

kwok=@KWOK_BINARY@
kubectl=@KUBECTL_BINARY@
relay_dir=@RELAY_DIR@
# How many simulated nodes there are (cluster.sh writes it, and grows it as it adds nodes).
nodes_file=@NODES_FILE@

if [ "${1:-}" = "--version" ] || [ "${1:-}" = "version" ]; then
    exec "$kwok" "$@"
fi

relay() {
    # The relay gets SIGKILL when its parent (this process, later exec'd into kwok, or the
    # keeper below) dies.
    setpriv --pdeathsig KILL socat "$@" &
}

# KWOK's server, for every node address: the API server dials 127.0.0.1 (Hostname
# localhost) for exec and logs, metrics-server each node's InternalIP 127.0.0.N (kwokctl
# numbers nodes from 0: node-00000K is 127.0.0.K+1). Nodes are added while kwok runs
# (cluster.sh up and fit), so the keeper relays 127.0.0.1 to .N for the N in $nodes_file,
# looking again every second; it never closes a relay (one for an address whose node was
# removed costs an idle socat). It dies with kwok, and its relays with it.
if [ "${1:-}" = "--keep-node-relays" ]; then
    kwok_port=$2 relayed=0
    while :; do
        want=$(cat "$nodes_file" 2>/dev/null || true)
        case $want in '' | *[!0-9]*) want=$relayed ;; esac
        [ "$want" -le 250 ] || want=250
        while [ "$relayed" -lt "$want" ]; do
            relayed=$((relayed + 1))
            relay "TCP-LISTEN:$kwok_port,bind=127.0.0.$relayed,reuseaddr,fork" "UNIX-CONNECT:$relay_dir/kwok.sock"
        done
        sleep 1
    done
fi

arg() {
    local name=$1 a
    shift
    for a in "$@"; do
        case $a in --"$name"=*) printf '%s\n' "${a#*=}"; return ;; esac
    done
    echo "kwok-contained: missing --$name" >&2
    exit 2
}

case $relay_dir/ in
/tmp/* | /var/tmp/* | /dev/shm/* | /run/lock/*)
    # Those folders are replaced inside kwok's namespace (see below).
    echo "kwok-contained: the relay directory $relay_dir must not be in a scratch folder" >&2
    exit 2
    ;;
esac

inside=false
if [ "${1:-}" = "--inside-netns" ]; then
    inside=true
    shift
fi
kubeconfig=$(arg kubeconfig "$@")
server_address=$(arg server-address "$@")
kwok_port=${server_address##*:}
api_port=$(sed -n 's#^ *server: https://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$kubeconfig" | head -n 1)
if [ -z "$api_port" ]; then
    echo "kwok-contained: no https://127.0.0.1:PORT server in $kubeconfig" >&2
    exit 2
fi

wait_for_socket() {
    for _ in $(seq 1 100); do
        [ -S "$1" ] && return 0
        sleep 0.05
    done
    echo "kwok-contained: relay socket $1 did not appear" >&2
    exit 1
}

release_stale_node_leases() {
    # A kwok that was killed rather than stopped still holds its nodes' leases for
    # minutes, and a new one leaves those nodes' pods alone until they expire. One kwok
    # serves this cluster's simulated nodes (annotated kwok.x-k8s.io/node=fake), so any
    # lease of theirs is a dead predecessor's; the real node's lease is its kubelet's. On a
    # new cluster there is none, or the API server is not up yet: that is fine too.
    local names
    for _ in $(seq 1 10); do
        if names=$("$kubectl" --kubeconfig "$kubeconfig" --request-timeout=3s get nodes \
            -o jsonpath='{range .items[?(@.metadata.annotations.kwok\.x-k8s\.io/node=="fake")]}{.metadata.name}{" "}{end}' 2>/dev/null); then
            [ -n "$names" ] || return 0
            # shellcheck disable=SC2086 # node names, one word each
            "$kubectl" --kubeconfig "$kubeconfig" --request-timeout=3s -n kube-node-lease \
                delete leases --ignore-not-found $names >/dev/null 2>&1 && return
        fi
        sleep 0.5
    done
}

if ! $inside; then
    release_stale_node_leases
    mkdir -p "$relay_dir"
    chmod 700 "$relay_dir"
    rm -f "$relay_dir/api.sock" "$relay_dir/kwok.sock"
    relay "UNIX-LISTEN:$relay_dir/api.sock,fork,mode=600" "TCP:127.0.0.1:$api_port"
    setpriv --pdeathsig KILL "$0" --keep-node-relays "$kwok_port" &
    wait_for_socket "$relay_dir/api.sock"
    ulimit -u @MAX_PROCESSES@
    ulimit -n @MAX_OPEN_FILES@
    ulimit -v @MAX_VIRTUAL_KB@
    # The file size limit is for what kwok runs. kwok's own log goes through a pipe to a
    # writer started before the limit (a log grown past it would stop kwok).
    exec > >(exec cat) 2>&1
    ulimit -f @MAX_FILE_KB@
    exec unshare --net --mount --propagation private -- "$0" --inside-netns "$@"
fi

ip link set lo up
# A /proc of our own in which a user other than root sees only their own processes.
mount -t proc -o hidepid=invisible proc /proc
# The host's folders that everyone may write to are not kwok's: it gets its own.
for scratch in /tmp /var/tmp /dev/shm /run/lock; do
    if [ -d "$scratch" ]; then mount -t tmpfs -o size=256m,mode=1777,nosuid,nodev tmpfs "$scratch"; fi
done
# Replies the kernel makes for us (a TCP reset, an ICMP error) belong to no socket, so
# `meta skuid` matches neither way on them and they pass: a refused connection fails at
# once instead of hanging.
nft -f - <<NFT
table inet kwok_contained {
    chain output {
        type filter hook output priority 0; policy accept;
        meta skuid 0 accept
        ip daddr 127.0.0.1 tcp dport $api_port accept
        meta skuid != 0 meta l4proto tcp reject with tcp reset
        meta skuid != 0 reject
    }
}
NFT
relay "TCP-LISTEN:$api_port,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$relay_dir/api.sock"
relay "UNIX-LISTEN:$relay_dir/kwok.sock,fork,unlink-early,mode=600" "TCP:127.0.0.1:$kwok_port"
wait_for_socket "$relay_dir/kwok.sock"
umask 077
exec "$kwok" "$@"
