#!/usr/bin/env bash
# The local Kubernetes cluster: a real control plane built from Go modules (build.sh)
# with nodes and pods simulated by KWOK, everything on loopback.
#
#   cluster.sh up        build if needed, then start; a no-op when already up with
#                        the same configuration, a re-creation when it changed; the
#                        simulated nodes are sized as the parameters below say on the
#                        running cluster, never by re-creating it
#   cluster.sh fit PODS  grow the running cluster's simulated nodes to hold PODS pods
#                        (what the admin's cohort page names when a cohort may not fit)
#   cluster.sh stop      stop it, keeping its data
#   cluster.sh down      stop and delete it
#   cluster.sh status    what runs, and where the kubeconfig is
#
# Two kinds of node: KWOK's simulated nodes, for the pods students make (where scale
# matters and images cannot be pulled), and one real node (node.sh: kubelet, containerd,
# runc, in a network namespace of its own, with kube-router enforcing NetworkPolicy) for
# the workstation pods in which students' shells run.
#
# Up means: the API server answers, every node is Ready (the simulated ones and the real
# one), a pod becomes Ready, and the metrics API (metrics-server) answers `kubectl top nodes`.
#
# Parameters (environment):
#   LABPLATFORM_CLUSTER_NODES          simulated nodes (default: as many as the cluster has,
#                                      3 for a new one); fewer removes only empty nodes
#   LABPLATFORM_CLUSTER_PODS_PER_NODE  pod capacity of each simulated node (default: as it
#                                      is, 400 for a new cluster)
#   LABPLATFORM_CLUSTER_STATE          state directory (default ~/.local/state/labplatform/cluster)
# Kubeconfigs: $LABPLATFORM_CLUSTER_STATE/kubeconfig (cluster-admin) and
# $LABPLATFORM_CLUSTER_STATE/platform-kubeconfig (the platform's own identity, its token only).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
name=labplatform
simulated_ephemeral_storage=1Ti
state=${LABPLATFORM_CLUSTER_STATE:-$HOME/.local/state/labplatform/cluster}
export KWOK_WORKDIR=$state/kwok
# The simulated nodes' count and pods each, as last sized (kwok-contained.sh reads the
# count: it relays every node's address). Not part of the configuration's hash: the running
# cluster is grown or shrunk to them, never re-created.
nodes_file=$state/simulated-nodes
pods_file=$state/simulated-pods-per-node
nodes=${LABPLATFORM_CLUSTER_NODES:-$(cat "$nodes_file" 2>/dev/null || echo 3)}
pods_per_node=${LABPLATFORM_CLUSTER_PODS_PER_NODE:-$(cat "$pods_file" 2>/dev/null || echo 400)}

say() { printf '[cluster] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

case $nodes in '' | *[!0-9]* | 0) die "LABPLATFORM_CLUSTER_NODES=$nodes must be a positive integer" ;; esac
case $pods_per_node in '' | *[!0-9]* | 0) die "LABPLATFORM_CLUSTER_PODS_PER_NODE=$pods_per_node must be a positive integer" ;; esac
[ "$nodes" -le 250 ] || die "LABPLATFORM_CLUSTER_NODES=$nodes: at most 250 (node addresses are 127.0.0.1-127.0.0.250)"

# build_all: build.sh and images.sh at once (the images' Debian base needs no binary;
# the workstation image waits for build.sh's kubectl); fails if either does.
build_all() {
    "$here/images.sh" &
    local images=$! status=0
    "$here/build.sh" || status=$?
    wait "$images" || status=$?
    return "$status"
}

binaries() {
    local line
    while IFS= read -r line; do
        case $line in
        *_BIN=* | *_IMAGE=* | *_IMAGE_TAR=*) export "${line?}" ;;
        esac
    done < <(build_all)
    local var
    for var in KUBE_BIN ETCD_BIN KWOK_BIN METRICS_SERVER_BIN KUBELET_BIN CONTAINERD_BIN RUNC_BIN NODE_PROXY_BIN KUBE_ROUTER_BIN \
        PAUSE_IMAGE PAUSE_IMAGE_TAR WORKSTATION_IMAGE WORKSTATION_IMAGE_TAR; do
        [ -n "${!var:-}" ] || die "build did not finish (no $var)"
    done
}

require_tools() {
    local missing=() tool
    for tool in socat nft unshare setpriv nsenter ip sha256sum tmux flock openssl curl; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: apt-get install socat nftables util-linux iproute2 tmux openssl curl"
    [ "$(id -u)" -eq 0 ] || die "the contained kwok-controller needs root (network namespace, nftables)"
}

# node-proxy (node.sh): the API server's egress selector sends its traffic to nodes to its
# Unix socket; metrics-server reaches it on loopback at a port chosen once per cluster.
node_proxy_socket=$state/node-proxy/proxy.sock
node_proxy_port() {
    local port
    port=$(cat "$state/node-proxy-port" 2>/dev/null || true)
    case $port in '' | *[!0-9]*)
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        echo "$port" >"$state/node-proxy-port" ;;
    esac
    echo "$port"
}

render() {
    mkdir -p "$state"
    sed -e "s#@KWOK_BINARY@#$KWOK_BIN/kwok#" \
        -e "s#@KUBECTL_BINARY@#$KUBE_BIN/kubectl#" \
        -e "s#@RELAY_DIR@#$state/relay#" \
        -e "s#@NODES_FILE@#$nodes_file#" \
        -e "s#@MAX_PROCESSES@#512#" \
        -e "s#@MAX_OPEN_FILES@#8192#" \
        -e "s#@MAX_VIRTUAL_KB@#$((4 * 1024 * 1024))#" \
        -e "s#@MAX_FILE_KB@#$((512 * 1024))#" \
        "$here/kwok-contained.sh" >"$state/kwok-contained.new"
    chmod 755 "$state/kwok-contained.new"
    mv "$state/kwok-contained.new" "$state/kwok-contained"
    sed -e "s#@METRICS_SERVER_BINARY@#$METRICS_SERVER_BIN/metrics-server#" \
        -e "s#@KWOK_CONFIG@#$KWOK_WORKDIR/clusters/$name/kwok.yaml#" \
        "$here/metrics-server-after-kwok.sh" >"$state/metrics-server.new"
    chmod 755 "$state/metrics-server.new"
    mv "$state/metrics-server.new" "$state/metrics-server"
    {
        sed -e "s#@KUBE_VERSION@#$KUBE_VERSION#" -e "s#@ETCD_VERSION@#${ETCD_VERSION#v}#" \
            -e "s#@KWOK_VERSION@#$KWOK_VERSION#" -e "s#@KUBE_BIN@#$KUBE_BIN#" \
            -e "s#@ETCD_BIN@#$ETCD_BIN#" -e "s#@STATE_DIR@#$state#" \
            -e "s#@METRICS_SERVER_VERSION@#$METRICS_SERVER_VERSION#" -e "s#@METRICS_SERVER_BIN@#$METRICS_SERVER_BIN#" \
            -e "s#@METRICS_SERVER_MANIFESTS@#${METRICS_SERVER_BIN%/bin}/manifests/overlays/release#" \
            -e "s#@PKI@#$KWOK_WORKDIR/clusters/$name/pki#" -e "s#@NODE_PROXY_PORT@#$(node_proxy_port)#" \
            -e "s#@EGRESS_SELECTOR@#$state/egress-selector.yaml#" \
            "$here/kwokctl.yaml"
        echo "---"
        cat "$here/stages.yaml"
        echo "---"
        cat "$here/metrics.yaml"
    } >"$state/kwokctl.yaml"
    install -d -m 700 "$state/node-proxy"
    cat >"$state/egress-selector.yaml" <<YAML
apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: $node_proxy_socket
YAML
}

# Before students' shells ran in containers on the real node, KWOK ran them on this host:
# as a Unix user per student (lab-..., "labplatform student", homes in /home/labplatform),
# through a root launcher and a copy of kubectl. A machine that ran that keeps none of it.
retire_host_shells() {
    local user home
    getent passwd | awk -F: '$5 == "labplatform student" && $1 ~ /^lab-/ {print $1 ":" $6}' |
        while IFS=: read -r user home; do
            pkill -KILL -u "$user" 2>/dev/null || true
            userdel --force "$user" 2>/dev/null || true
            case $home in /home/labplatform/lab-*) rm -rf --one-file-system -- "$home" ;; esac
        done
    rmdir /home/labplatform 2>/dev/null || true
    rm -rf -- "$state/libexec" /run/labplatform-terminal /usr/local/lib/labplatform/bin
    rmdir /usr/local/lib/labplatform 2>/dev/null || true
}

config_hash() {
    {
        cat "$state/kwokctl.yaml" "$state/kwok-contained" "$state/metrics-server" "$state/egress-selector.yaml"
        echo "ephemeral-storage=$simulated_ephemeral_storage"
        # build.sh has checksummed every binary into its folder's .complete stamp.
        cat "$KUBE_BIN/../.complete" "$ETCD_BIN/../.complete" "$KWOK_BIN/../.complete" "$METRICS_SERVER_BIN/../.complete"
        echo "node-proxy port $(node_proxy_port)"
    } | sha256sum | cut -d' ' -f1
}

# kwokctl logs each step as JSON at INFO; this script says what it does itself.
kwokctl() { "$KWOK_BIN/kwokctl" --name "$name" --v WARN "$@"; }
kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$state/kubeconfig" --request-timeout=5s "$@"; }

exists() { [ -f "$KWOK_WORKDIR/clusters/$name/kwok.yaml" ]; }

# The simulated nodes (kwok manages only those annotated kwok.x-k8s.io/node=fake): one
# line each, "NAME READY PODS" (its Ready condition's status, its allocatable pods).
simulated_nodes() {
    kubectl get nodes -o jsonpath='{range .items[?(@.metadata.annotations.kwok\.x-k8s\.io/node=="fake")]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.status.allocatable.pods}{"\n"}{end}'
}

# Up means: the API server answers, there are simulated nodes and every one is Ready, and
# the running kwok holds each of their leases (only then does it move that node's pods along).
control_plane_healthy() {
    [ -f "$state/kubeconfig" ] && kubectl get --raw=/readyz >/dev/null 2>&1 || return 1
    local listed total leases
    listed=$(simulated_nodes 2>/dev/null) || return 1
    total=$(grep -c . <<<"$listed" || true)
    leases=$(kubectl -n kube-node-lease get leases -o name 2>/dev/null | grep -vc "/$real_node$" || true)
    [ "$total" -ge 1 ] && [ "$(grep -c ' True ' <<<"$listed" || true)" -eq "$total" ] && [ "$leases" -eq "$total" ]
}

healthy() { control_plane_healthy && node_sh status >/dev/null 2>&1; }

# The real node: node.sh, with what it needs of this cluster.
real_node=labplatform-node
node_sh() {
    local server
    server=$(sed -n 's#^ *server: https://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$state/kubeconfig" 2>/dev/null | head -n 1)
    NODE_STATE=$state/node CLUSTER_PKI=$KWOK_WORKDIR/clusters/$name/pki API_PORT=$server \
        NODE_PROXY_PORT=$(node_proxy_port) NODE_PROXY_SOCKET=$node_proxy_socket ADMIN_KUBECONFIG=$state/kubeconfig "$here/node.sh" "$@"
}

# metrics-server is registered as the APIService v1beta1.metrics.k8s.io. `kubectl top
# nodes` answers once it has scraped the nodes (kwok's server, through the relays) twice:
# a rate needs two readings.
metrics_ready() {
    kubectl top nodes --no-headers >/dev/null 2>&1
}

metrics_server_running() {
    pgrep -f "$KWOK_WORKDIR/clusters/$name/bin/metrics-server" >/dev/null
}

# Bounded: metrics-server scrapes every 10 s (kwokctl.yaml). Gives up at once when
# metrics-server has exited: it would never answer.
metrics_answer_within() {
    local _
    for _ in $(seq 1 "$1"); do
        metrics_ready && return
        metrics_server_running || return 1
        sleep 1
    done
    return 1
}

wait_metrics() {
    metrics_answer_within 90 && return
    # metrics-server exits when the API server does not answer as it starts (seen on a
    # loaded machine, at creation, where waiting out the 90 s cost a cold start 95 s);
    # kwokctl does not restart it, a restart of the cluster's components does. Once.
    if ! metrics_server_running; then
        say "metrics-server has exited (its log: $KWOK_WORKDIR/clusters/$name/logs/metrics-server.log); restarting the cluster's components"
        kwokctl stop cluster >&2 && kwokctl start cluster >&2 && wait_ready && node_sh up &&
            metrics_answer_within 90 && return
    fi
    local available
    available=$(kubectl get apiservice v1beta1.metrics.k8s.io \
        -o jsonpath='{.status.conditions[?(@.type=="Available")].message}' 2>&1 || true)
    die "the metrics API did not answer \`kubectl top nodes\` within 90s (APIService: ${available:-?}); metrics-server's log: $KWOK_WORKDIR/clusters/$name/logs/metrics-server.log"
}

wait_ready() {
    for _ in $(seq 1 120); do
        if control_plane_healthy; then
            pods_become_ready
            return
        fi
        sleep 0.5
    done
    return 1
}

# After a restart kwok takes a few seconds to pick its nodes' pods up again. A pod made
# here and seen Ready proves the whole path (scheduler, kwok, stages) before anyone else
# relies on it.
# (Chained with &&: callers test the result, and set -e does not apply in a condition.)
pods_become_ready() {
    local canary=labplatform-canary-$RANDOM$RANDOM
    kubectl -n kube-system run "$canary" --image=labplatform/canary --restart=Never >/dev/null &&
        kubectl -n kube-system wait --for=condition=Ready "pod/$canary" --timeout=120s --request-timeout=130s >/dev/null &&
        kubectl -n kube-system delete pod "$canary" --wait=false >/dev/null
}

create() {
    say "creating cluster $name (Kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, KWOK $KWOK_VERSION)"
    # --kubeconfig "": kwokctl would otherwise add its admin context to ~/.kube/config.
    KWOK_KUBECTL_BINARY=$KUBE_BIN/kubectl kwokctl create cluster \
        --config "$state/kwokctl.yaml" --kubeconfig "" --wait 2m >&2
    cp "$KWOK_WORKDIR/clusters/$name/kubeconfig.yaml" "$state/kubeconfig.new"
    chmod 600 "$state/kubeconfig.new"
    mv "$state/kubeconfig.new" "$state/kubeconfig"
    say "adding $nodes nodes, $pods_per_node pods each, with loopback addresses"
    scale_nodes "$nodes"
}

# kwokctl makes the missing nodes node-000000 to node-<N-1> (node-00000K at 127.0.0.K+1).
# kwokctl's default node addresses are 192.0.2.x, which here is a real network.
# Ephemeral storage too: workstation pods request some (the real node has its own).
scale_nodes() {
    echo "$1" >"$nodes_file"  # first, so that kwok relays the new addresses
    kwokctl scale node --replicas "$1" \
        --param '.nodeIPs=["127.0.0.1"]' --param ".allocatable.pods=$pods_per_node" \
        --param ".allocatable.\"ephemeral-storage\"=\"$simulated_ephemeral_storage\"" >&2
}

# Pods bound to the node, of any phase (a Succeeded pod still holds its name there).
pods_on() {
    kubectl get pods --all-namespaces --field-selector "spec.nodeName=$1" -o name | grep -c . || true
}

# Fewer nodes: removes empty ones from the last (the highest address) down, and stops at
# the first that holds a pod, which stays with all below it (the addresses stay 127.0.0.1
# to .N, each relayed). A node's pods would go with it, so none is removed that has one.
shrink_nodes() {
    local want=$1 node count held
    while read -r node _ _; do
        [ "$(simulated_nodes | grep -c .)" -gt "$want" ] || break
        held=$(pods_on "$node")
        if [ "$held" -gt 0 ]; then
            say "$node holds $held pods: it stays, and the nodes before it ($((10#${node##*-} + 1)) in all)"
            break
        fi
        kubectl delete node "$node" --wait=true >/dev/null
        say "removed $node (it held no pod)"
    done < <(simulated_nodes | sort -r)
    count=$(simulated_nodes | grep -c . || true)
    echo "$count" >"$nodes_file"
}

# The running cluster's simulated nodes, grown to $nodes (or shrunk, by empty nodes
# only), each with $pods_per_node pods (a node's status is patched: kwok keeps it).
size_nodes() {
    local have node ready pods
    have=$(simulated_nodes | grep -c . || true)
    if [ "$have" -lt "$nodes" ]; then
        say "growing from $have to $nodes simulated nodes, $pods_per_node pods each"
        scale_nodes "$nodes"
        wait_ready || die "the new nodes did not become Ready; kwok's log: $KWOK_WORKDIR/clusters/$name/logs/kwok-controller.log"
    elif [ "$have" -gt "$nodes" ]; then
        say "shrinking from $have to $nodes simulated nodes, removing only empty ones"
        shrink_nodes "$nodes"
    else
        echo "$have" >"$nodes_file"
    fi
    while read -r node ready pods; do
        [ "$pods" = "$pods_per_node" ] && continue
        say "$node: $pods_per_node pods (was ${pods:-none})"
        kubectl patch node "$node" --subresource=status --type=merge \
            -p "{\"status\":{\"allocatable\":{\"pods\":\"$pods_per_node\"},\"capacity\":{\"pods\":\"$pods_per_node\"}}}" >/dev/null
        : "$ready"
    done < <(simulated_nodes)
    echo "$pods_per_node" >"$pods_file"
}

# etcd's upkeep (etcd-maintenance.sh): defragments when compaction has left the database
# file much larger than what is in use, and disarms etcd's NOSPACE alarm after. It runs
# while the cluster does: started by up (if it is not running), ended by stop and down.
maintenance_pid_file=$state/etcd-maintenance.pid
maintenance_running() {
    local pid
    pid=$(cat "$maintenance_pid_file" 2>/dev/null) && [ -n "$pid" ] &&
        tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "etcd-maintenance.sh $KWOK_WORKDIR/"
}

maintenance_start() {
    maintenance_running && return
    setsid "$here/etcd-maintenance.sh" "$KWOK_WORKDIR/clusters/$name/kwok.yaml" "$maintenance_pid_file" \
        </dev/null >>"$state/etcd-maintenance.log" 2>&1 &
    say "etcd upkeep started (defragments when needed; log: $state/etcd-maintenance.log)"
}

maintenance_stop() {
    if maintenance_running; then kill "$(cat "$maintenance_pid_file")"; fi
    rm -f "$maintenance_pid_file"
}

# The platform's own identity: k8s/platform with the local overlay, and a kubeconfig that
# holds only its token, so that `make up` and the tests act as the platform does in
# production rather than as cluster-admin. Re-applied when those files change.
platform_identity() {
    local overlay=$here/../platform/overlays/local want
    want=$(find "$here/../platform" -type f -name '*.yaml' -print0 | sort -z | xargs -0 cat | sha256sum | cut -d' ' -f1)
    if [ -s "$state/platform-kubeconfig" ] && [ "$(cat "$state/platform-hash" 2>/dev/null)" = "$want" ]; then
        return
    fi
    say "installing the platform's identity (k8s/platform/overlays/local)"
    kubectl apply --server-side --force-conflicts -k "$overlay" >/dev/null
    # What a cluster made before students' shells were containers still has: KWOK exec
    # rules (which ran commands on this host) and the policies that bounded them.
    kubectl delete clusterexecs.kwok.x-k8s.io --all --ignore-not-found >/dev/null
    kubectl delete execs.kwok.x-k8s.io --all --all-namespaces --ignore-not-found >/dev/null
    kubectl delete validatingadmissionpolicybinding,validatingadmissionpolicy \
        labplatform-kwok-exec-rules labplatform-workstation-exec --ignore-not-found >/dev/null
    # A token that does not expire, for this local cluster only; in a pod the platform
    # uses its projected service-account token instead.
    kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Secret
metadata:
  name: labplatform-token
  namespace: labplatform-system
  annotations:
    kubernetes.io/service-account.name: labplatform
type: kubernetes.io/service-account-token
YAML
    local token=""
    for _ in $(seq 1 50); do
        token=$(kubectl -n labplatform-system get secret labplatform-token -o jsonpath='{.data.token}' | base64 -d)
        [ -n "$token" ] && break
        sleep 0.2
    done
    [ -n "$token" ] || die "the platform's token was not issued"
    local server ca
    server=$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')
    ca=$(base64 -w0 <"$KWOK_WORKDIR/clusters/$name/pki/ca.crt")
    (
        umask 077
        cat >"$state/platform-kubeconfig.new" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: labplatform
  user:
    token: $token
contexts:
- name: labplatform
  context:
    cluster: local
    user: labplatform
current-context: labplatform
KUBECONFIG
    )
    mv "$state/platform-kubeconfig.new" "$state/platform-kubeconfig"
    echo "$want" >"$state/platform-hash"
}

cmd_up() {
    require_tools
    binaries
    render
    retire_host_shells
    local want
    want=$(config_hash)
    if [ -f "$state/config-hash" ] && [ "$(cat "$state/config-hash")" = "$want" ] && exists; then
        if control_plane_healthy; then
            node_sh up  # starts whatever of the node is not running
            size_nodes
            maintenance_start
            # Just started by someone else, metrics may lag a few seconds; a dead
            # metrics-server is reported (cluster.sh stop, then up, restarts it).
            metrics_ready || wait_metrics
            platform_identity
            say "already up: $state/kubeconfig"
            return
        fi
        say "restarting the stopped cluster (its data is kept)"
        if kwokctl start cluster >&2 && wait_ready; then
            node_sh up
            size_nodes
            maintenance_start
            wait_metrics
            platform_identity
            say "up: $state/kubeconfig"
            return
        fi
        say "restart failed; re-creating"
    elif exists; then
        say "configuration changed; re-creating the cluster"
    fi
    rm -f "$state/config-hash" "$state/platform-hash"
    if exists; then
        maintenance_stop
        node_sh down
        kwokctl delete cluster >&2
    fi
    create
    wait_ready || die "nodes or pods did not become Ready; kwok's log: $KWOK_WORKDIR/clusters/$name/logs/kwok-controller.log"
    node_sh up
    size_nodes
    maintenance_start
    wait_metrics
    echo "$want" >"$state/config-hash"
    platform_identity
    say "up in ${SECONDS}s: $state/kubeconfig"
}

cmd_stop() {
    maintenance_stop
    if exists; then
        binaries 2>/dev/null
        node_sh stop
        kwokctl stop cluster >&2
    fi
    say "stopped (data kept; make cluster-up starts it again)"
}

cmd_down() {
    maintenance_stop
    if [ -d "$KWOK_WORKDIR/clusters/$name" ]; then
        binaries 2>/dev/null
        node_sh down
        kwokctl delete cluster >&2
    fi
    rm -f "$state/config-hash" "$state/kubeconfig" "$state/platform-hash" "$state/platform-kubeconfig" \
        "$nodes_file" "$pods_file"
    say "down"
}

# Grows the running cluster's simulated nodes until they hold PODS pods; never shrinks it
# and never re-creates it. With LABPLATFORM_CLUSTER_PODS_PER_NODE, every node gets that
# many first.
cmd_fit() {
    local want=${1:-} have holds need
    case $want in '' | *[!0-9]*) die "usage: $0 fit PODS: the pods the simulated nodes must hold (the cohort page names it)" ;; esac
    exists || die "no cluster; run: make cluster-up"
    binaries 2>/dev/null
    control_plane_healthy || die "cluster $name is not up (or its nodes are not Ready); run: make cluster-up"
    have=$(simulated_nodes | grep -c . || true)
    need=$(((want + pods_per_node - 1) / pods_per_node))
    [ "$need" -le 250 ] || die "$want pods need $need nodes of $pods_per_node pods, and there may be at most 250; give each more, e.g. LABPLATFORM_CLUSTER_PODS_PER_NODE=$(((want + 249) / 250)) $0 fit $want"
    nodes=$((need > have ? need : have))
    size_nodes
    holds=$(simulated_nodes | awk '{ sum += $3 } END { print sum + 0 }')
    if [ "$nodes" -gt "$have" ]; then
        wait_metrics
        say "grown from $have to $nodes simulated nodes of $pods_per_node pods: they hold $holds pods, $want needed"
    else
        say "the $have simulated nodes hold $holds pods; $want fit, nothing to add"
    fi
}

cmd_status() {
    if ! exists; then
        say "no cluster; run: make cluster-up"
        return 3
    fi
    binaries 2>/dev/null
    if ! healthy; then
        say "cluster $name exists but is not answering or its nodes are not Ready; run: make cluster-up"
        return 3
    fi
    say "kubeconfig: $state/kubeconfig"
    kubectl version 2>/dev/null | sed 's/^/[cluster] /' >&2
    kubectl get nodes -o wide >&2
    local port
    port=$(sed -n 's/^ *metricsServerPort: *\([0-9][0-9]*\).*/\1/p' "$KWOK_WORKDIR/clusters/$name/kwok.yaml" | head -n 1)
    if metrics_ready; then
        say "metrics: metrics-server on 127.0.0.1:${port:-?} answers (kubectl top nodes):"
        kubectl top nodes >&2
    else
        say "metrics: the metrics API does not answer yet (kubectl top nodes); log: $KWOK_WORKDIR/clusters/$name/logs/metrics-server.log"
    fi
}

# One command at a time on a cluster: two `up`s at once (make up beside a test run) raced
# in node.sh. The lock is flock's (-o: the daemons started here do not inherit it, so it
# ends with the command); status reads only and takes none.
one_at_a_time() {
    [ -n "${LABPLATFORM_CLUSTER_LOCKED:-}" ] && return
    mkdir -p "$state"
    LABPLATFORM_CLUSTER_LOCKED=1 exec flock -o "$state/cluster.lock" "$here/cluster.sh" "$@"
}

case ${1:-} in up | fit | stop | down) one_at_a_time "$@" ;; esac
case ${1:-} in
up) cmd_up ;;
fit) cmd_fit "${2:-}" ;;
stop) cmd_stop ;;
down) cmd_down ;;
status) cmd_status ;;
*) die "usage: $0 up|fit PODS|stop|down|status" ;;
esac
