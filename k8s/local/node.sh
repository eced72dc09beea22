#!/usr/bin/env bash
# The local cluster's real node: containerd, runc and a kubelet, for the workstation pods
# in which students' shells run. cluster.sh runs it after the control plane is up:
#
#   node.sh up | stop | down | status
#
# The node lives in a network namespace of its own, made here, with no link to the host:
#   - its address ($node_ip) is on the namespace's loopback device; pods are on a bridge inside;
#   - the API server is reached through a relay: a listener on $api_port inside the
#     namespace, a Unix socket in a root-only folder, and 127.0.0.1:$api_port on the host;
#   - the kubelet (exec, attach, logs, metrics) is reached from the host only through
#     node-proxy, an HTTP CONNECT proxy on loopback that joins the node's name and address
#     at the kubelet's port to a Unix socket relayed inside (the API server's and
#     metrics-server's HTTPS_PROXY, see kwokctl.yaml);
#   - an nftables rule lets pods reach the API relay and nothing else of the namespace;
#   - kube-router's firewall controller (alone: no routing, no service proxy) enforces
#     NetworkPolicy between pods and from pods to the node, with iptables and ipset in the
#     namespace; it reaches the API server as its own user, $kube_router_user.
# So no packet of the node or its pods can leave for an address outside the namespace:
# there is no interface to leave by.
#
# Environment (cluster.sh sets it): NODE_STATE (this node's folder), CLUSTER_PKI (the
# cluster's CA), API_PORT, NODE_PROXY_PORT, NODE_PROXY_SOCKET, KUBE_BIN, KUBELET_BIN, CONTAINERD_BIN,
# RUNC_BIN, NODE_PROXY_BIN, KUBE_ROUTER_BIN, PAUSE_IMAGE, PAUSE_IMAGE_TAR, WORKSTATION_IMAGE,
# WORKSTATION_IMAGE_TAR, ADMIN_KUBECONFIG. Optional: NODE_DISK_GIB (the node's disk, 20).
set -euo pipefail

node=${NODE_STATE:?}
node_name=labplatform-node
node_ip=10.250.0.1
pod_cidr=10.88.0.0/16
kubelet_port=10250
# The API server inside the namespace, for the kubelet (at 127.0.0.1) and pods (at the
# node's address): the same port on every local cluster, whatever the API server's own.
node_api_port=6443
# One id per cluster (its state folder): two local clusters on one machine share nothing.
id=$(printf '%s' "$node" | sha256sum | cut -c1-10)
netns=labplatform-node-$id
cgroup_root=/labplatform-$id
relay=$node/relay
logs=$node/logs
# What containers use (the kubelet's pod folders, containerd's snapshots and state) is
# outside root's home: a container's processes, which are no one on this host (a user
# namespace), must be able to pass through every folder above their mounts.
data=/var/lib/labplatform/node-$id
disk_image=/var/lib/labplatform/node-$id.disk
node_disk_gib=${NODE_DISK_GIB:-20}
run=/run/labplatform/node-$id
containerd_socket=$run/containerd.sock
# The kubelet sets these host-wide at start (protectKernelDefaults would refuse to start
# instead); node.sh records them first and puts them back when the node stops.
kernel_tunables=(kernel.panic kernel.panic_on_oops vm.overcommit_memory)
controllers=(cpu cpuacct cpuset memory pids devices freezer blkio systemd)
taint_key=labplatform.io/workstations
# kube-router's identity (a client certificate of the cluster's CA) and what it may read.
kube_router_user=labplatform-node:kube-router
# Its health endpoint, inside the namespace (the nftables table refuses it to pods).
kube_router_health_port=20244
# The API server's own default (kwokctl sets none): kube-router needs one, and lets
# traffic to it through its input chain; no kube-proxy serves it here.
service_cidr=10.0.0.0/24

say() { printf '[node] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
case $node_disk_gib in '' | *[!0-9]* | 0) die "NODE_DISK_GIB must be a whole number of GiB, not '$node_disk_gib'" ;; esac

inside=(nsenter --net="/run/netns/$netns" --)
in_node() { "${inside[@]}" "$@"; }
kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=5s "$@"; }
# ctr warns on every call that cgroup v1 is deprecated (this kernel has only v1): said once
# in containerd's log, not on every line of cluster.sh's output.
ctr() {
    "$CONTAINERD_BIN/ctr" --address "$containerd_socket" --namespace k8s.io "$@" \
        2> >(grep -v 'support for cgroup v1 is deprecated' >&2)
}

# start NAME COMMAND...: runs it in the background in a session of its own, its output in
# $logs/NAME.log, its pid in $node/run/NAME.pid.
start() {
    local name=$1
    shift
    if running "$name"; then return; fi
    setsid "$@" </dev/null >>"$logs/$name.log" 2>&1 &
    echo $! >"$node/run/$name.pid"
}

# Running: its pid is alive and is still ours (every command started here names a path
# of the node's folder; after a reboot the pid may be another program's).
running() {
    local pid
    pid=$(cat "$node/run/$1.pid" 2>/dev/null) || return 1
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$node/"
}

halt() {
    local name=$1 pid _
    pid=$(cat "$node/run/$name.pid" 2>/dev/null) || return 0
    case $pid in '' | *[!0-9]*) rm -f "$node/run/$name.pid"; return ;; esac
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$node/run/$name.pid"
}

wait_for() {
    local what=$1 tries=$2 _
    shift 2
    for _ in $(seq 1 "$tries"); do
        "$@" >/dev/null 2>&1 && return
        sleep 0.5
    done
    die "$what did not happen within $((tries / 2))s"
}

save_kernel_tunables() {
    [ -f "$node/kernel-tunables" ] && return
    local name
    for name in "${kernel_tunables[@]}"; do
        printf '%s=%s\n' "$name" "$(sysctl -n "$name")"
    done >"$node/kernel-tunables.new"
    mv "$node/kernel-tunables.new" "$node/kernel-tunables"
}

restore_kernel_tunables() {
    [ -f "$node/kernel-tunables" ] || return 0
    local line name value
    while IFS= read -r line; do
        name=${line%%=*} value=${line#*=}
        case $name in kernel.panic | kernel.panic_on_oops | vm.overcommit_memory) ;; *) continue ;; esac
        case $value in '' | *[!0-9-]*) continue ;; esac
        sysctl -q -w "$name=$value"
    done <"$node/kernel-tunables"
    rm -f "$node/kernel-tunables"
}

# The kubelet refuses to start until its cgroupRoot exists in every v1 hierarchy.
make_cgroups() {
    local controller dir
    for controller in "${controllers[@]}"; do
        dir=/sys/fs/cgroup/$controller$cgroup_root
        [ -d "/sys/fs/cgroup/$controller" ] || continue
        mkdir -p "$dir"
        if [ "$controller" = cpuset ]; then
            cp /sys/fs/cgroup/cpuset/cpuset.cpus "$dir/cpuset.cpus"
            cp /sys/fs/cgroup/cpuset/cpuset.mems "$dir/cpuset.mems"
        fi
    done
}

# Ends whatever still runs under the node's cgroup (containers, shims), then removes it.
remove_cgroups() {
    local controller dir pid _
    for _ in 1 2 3; do
        { find "/sys/fs/cgroup/pids$cgroup_root" -name cgroup.procs -exec cat {} + 2>/dev/null || true; } |
            while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done
        sleep 0.2
    done
    for controller in "${controllers[@]}"; do
        dir=/sys/fs/cgroup/$controller$cgroup_root
        [ -d "$dir" ] || continue
        find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
}

make_netns() {
    # A name left from before a reboot is a plain file, no namespace: made again.
    if ip netns list | grep -qw "^$netns" && ! in_node true 2>/dev/null; then
        ip netns delete "$netns" 2>/dev/null || rm -f "/run/netns/$netns"
    fi
    if ! ip netns list | grep -qw "^$netns"; then
        ip netns add "$netns"
    fi
    # On the host these addresses are nowhere: a connection to one fails at once instead of
    # following the host's default route off the machine (the node's address and its pods'
    # exist only inside the namespace). Every local cluster's node uses the same ranges.
    ip route replace unreachable "${node_ip%.*}.0/24"
    ip route replace unreachable "$pod_cidr"
    in_node ip link set lo up
    # The node's address is the namespace's own (on its loopback device; the kernel here
    # has no dummy devices): local to the namespace, reachable from its pods' bridge.
    in_node ip addr replace "$node_ip/32" dev lo
    # Pods may reach the API relay at the node's address and nothing else of the namespace
    # (the kubelet, containerd's stream server, the relays); a refused connection fails at
    # once. Pod-to-pod traffic is bridged and not seen here (NetworkPolicy's part).
    in_node nft -f - <<NFT
table inet labplatform_node
delete table inet labplatform_node
table inet labplatform_node {
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "lo" accept
        ct state established,related accept
        ip daddr $node_ip tcp dport $node_api_port accept
        iifname != "lo" meta l4proto tcp reject with tcp reset
        iifname != "lo" reject
    }
}
NFT
}

certificates() {
    local pki=$node/pki
    [ -s "$pki/kubelet.crt" ] && cmp -s "$CLUSTER_PKI/ca.crt" "$pki/ca.crt" && return
    mkdir -p "$pki"
    chmod 700 "$pki"
    cp "$CLUSTER_PKI/ca.crt" "$pki/ca.crt"
    # The kubelet's own identity, system:node:NAME in system:nodes (the Node authorizer
    # and NodeRestriction act on it); never the admin's.
    client_certificate kubelet "/O=system:nodes/CN=system:node:$node_name"
}

# client_certificate NAME SUBJECT: a key and a certificate for SUBJECT signed by the
# cluster's CA, as $node/pki/NAME.key and NAME.crt.
client_certificate() {
    local pki=$node/pki name=$1 subject=$2
    openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" \
        -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
    openssl x509 -req -in "$pki/$name.csr" -CA "$CLUSTER_PKI/ca.crt" -CAkey "$CLUSTER_PKI/ca.key" \
        -CAcreateserial -days 3650 -out "$pki/$name.crt" 2>/dev/null
    rm -f "$pki/$name.csr"
    chmod 600 "$pki/$name.key"
}

# kube-router's own certificate and kubeconfig: never the admin's, never the kubelet's.
kube_router_identity() {
    local pki=$node/pki
    if ! { [ -s "$pki/kube-router.crt" ] && openssl verify -CAfile "$pki/ca.crt" "$pki/kube-router.crt" >/dev/null 2>&1; }; then
        client_certificate kube-router "/CN=$kube_router_user"
    fi
    mkdir -p "$node/kube-router"
    cat >"$node/kube-router/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$node_api_port
    certificate-authority: $pki/ca.crt
users:
- name: kube-router
  user:
    client-certificate: $pki/kube-router.crt
    client-key: $pki/kube-router.key
contexts:
- name: kube-router
  context: {cluster: local, user: kube-router}
current-context: kube-router
KUBECONFIG
}

# What kube-router's firewall controller reads (its informers: pods, namespaces,
# NetworkPolicies, and nodes, services, endpoints and EndpointSlices, which it lists
# whatever runs), and nothing it may change.
kube_router_rbac() {
    kubectl apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: labplatform-node-kube-router
rules:
- apiGroups: [""]
  resources: [nodes, pods, namespaces, services, endpoints]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: labplatform-node-kube-router
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: labplatform-node-kube-router
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: $kube_router_user
YAML
}

# kube-router's health endpoint answers 200 once its firewall controller has synced.
kube_router_healthy() {
    in_node curl -fsS --max-time 2 "http://127.0.0.1:$kube_router_health_port/healthz"
}

render() {
    mkdir -p "$node/run" "$logs" "$relay" "$node/containerd" "$node/cni/net.d" "$node/kubelet"
    chmod 700 "$relay" "$node"
    certificates
    kube_router_identity
    cat >"$node/resolv.conf" <<'RESOLV'
# Pods on this node resolve nothing: no nameserver of the host is named here.
options ndots:1
RESOLV
    cat >"$node/cni/net.d/10-labplatform.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "labplatform-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$data/cni-ipam",
        "ranges": [[{"subnet": "$pod_cidr"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
CNI
    sed -e "s#@DATA@#$data#g" -e "s#@RUN@#$run#g" -e "s#@NODE@#$node#g" -e "s#@RUNC@#$RUNC_BIN/runc#g" \
        -e "s#@PAUSE_IMAGE@#$PAUSE_IMAGE#g" \
        "$(dirname "$0")/node-containerd.toml" >"$node/containerd/config.toml"
    cat >"$node/kubelet/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$node_api_port
    certificate-authority: $node/pki/ca.crt
users:
- name: kubelet
  user:
    client-certificate: $node/pki/kubelet.crt
    client-key: $node/pki/kubelet.key
contexts:
- name: kubelet
  context: {cluster: local, user: kubelet}
current-context: kubelet
KUBECONFIG
    sed -e "s#@NODE@#$node#g" -e "s#@DATA@#$data#g" -e "s#@RUN@#$run#g" -e "s#@NODE_IP@#$node_ip#g" -e "s#@PORT@#$kubelet_port#g" \
        -e "s#@CGROUP_ROOT@#$cgroup_root#g" -e "s#@TAINT_KEY@#$taint_key#g" \
        "$(dirname "$0")/node-kubelet.yaml" >"$node/kubelet/config.yaml"
}

relays() {
    # socat's listen backlog is 5: every open terminal is a connection through the relays, and
    # a burst of them (a class opening its terminals at once) would be refused (EAGAIN).
    # Host side: the node's API socket to the API server on loopback. A socket left by a
    # relay that was killed outright (SIGKILL, a reboot) is replaced, never taken as ours:
    # only a connection that is accepted counts.
    start api-relay-host socat "UNIX-LISTEN:$relay/api.sock,unlink-early,fork,backlog=1024,mode=600" "TCP:127.0.0.1:$API_PORT"
    wait_for "the API relay socket" 40 socat -u /dev/null "UNIX-CONNECT:$relay/api.sock"
    # Inside: the API server at every address of the namespace (the kubelet uses 127.0.0.1,
    # pods the node's address), and the kubelet for node-proxy.
    start api-relay-node "${inside[@]}" socat "TCP-LISTEN:$node_api_port,reuseaddr,fork,backlog=1024" "UNIX-CONNECT:$relay/api.sock"
    start kubelet-relay "${inside[@]}" socat "UNIX-LISTEN:$relay/kubelet.sock,unlink-early,fork,backlog=1024,mode=600" "TCP:$node_ip:$kubelet_port"
    start node-proxy "$NODE_PROXY_BIN/node-proxy" -listen "127.0.0.1:$NODE_PROXY_PORT" -listen-unix "$NODE_PROXY_SOCKET" \
        -route "$node_name:$kubelet_port=$relay/kubelet.sock" -route "$node_ip:$kubelet_port=$relay/kubelet.sock"
}

images() {
    local tar ref
    for pair in "$PAUSE_IMAGE_TAR=$PAUSE_IMAGE" "$WORKSTATION_IMAGE_TAR=$WORKSTATION_IMAGE"; do
        tar=${pair%%=*} ref=${pair#*=}
        if ! ctr images ls -q | grep -qxF "$ref"; then
            say "importing $ref"
            ctr images import --all-platforms "$tar" >/dev/null
        fi
        # Image GC never removes a pinned image: nothing could pull it back.
        ctr images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
    done
}

# The node's run folder (containerd's socket and state: the containers' root filesystems,
# their tasks) is a tmpfs of its own, as /run/containerd would be.
runtime_folders() {
    install -d -m 0711 /var/lib/labplatform /run/labplatform "$data" "$run"
    mountpoint -q "$run" || mount -t tmpfs -o mode=0711,size=256m tmpfs "$run"
    node_disk
}

# The node's disk: an ext4 file system of its own in a (sparse) file, NODE_DISK_GIB big,
# mounted on its data folder. What workstations write (homes, /tmp's spill, their layers)
# fills that file system and never the host's: the host keeps its free space less that
# size whatever students do, and the kubelet evicts pods when the node's disk runs low.
# A student's own share is their ephemeral-storage limit (the cohort's preset).
node_disk() {
    mountpoint -q "$data" && return
    if [ ! -f "$disk_image" ]; then
        # A data folder from before the node had a disk of its own: its pods start afresh.
        unmount_below "$data"
        find "$data" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} + 2>/dev/null || true
        say "making the node's disk: ${node_disk_gib} GiB, sparse, in $disk_image"
        truncate -s "${node_disk_gib}G" "$disk_image.new"
        mkfs.ext4 -q -F -m 0 -L labplatform-node "$disk_image.new"
        chmod 600 "$disk_image.new"
        mv "$disk_image.new" "$disk_image"
    fi
    mount -o loop "$disk_image" "$data"
    chmod 0711 "$data"
}

node_ready() {
    [ "$(kubectl get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# Ready as reported by a kubelet started at SINCE (UTC, RFC 3339) or later: after a kubelet
# is killed its node stays Ready for a while, on the last word of the kubelet that died.
node_ready_since() {
    local since=$1 reported
    reported=$(kubectl get node "$node_name" \
        -o jsonpath='{range .status.conditions[?(@.type=="Ready")]}{.status} {.lastHeartbeatTime}{end}' 2>/dev/null) || return 1
    [ "${reported%% *}" = True ] && [[ ! ${reported#* } < $since ]]
}

# The kubelet answers on its port (exec, attach and logs come to it there).
kubelet_listening() {
    in_node socat -u /dev/null "TCP:$node_ip:$kubelet_port,connect-timeout=2"
}

cmd_up() {
    for tool in socat nft nsenter ip openssl setsid curl iptables ipset mkfs.ext4 truncate; do
        command -v "$tool" >/dev/null || die "missing $tool"
    done
    if ! mountpoint -q "$data" && [ ! -f "$disk_image" ] && { running containerd || running kubelet; }; then
        say "moving the running node onto a disk of its own: it restarts, its pods start afresh"
        cmd_stop
    fi
    render
    make_netns
    make_cgroups
    save_kernel_tunables
    relays
    runtime_folders
    start containerd "${inside[@]}" env PATH="$CONTAINERD_BIN:/usr/sbin:/usr/bin:/sbin:/bin" \
        "$CONTAINERD_BIN/containerd" --config "$node/containerd/config.toml"
    wait_for "containerd's socket" 60 ctr version
    images
    local since
    since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    running kubelet && since=
    start kubelet "${inside[@]}" env PATH="$CONTAINERD_BIN:$RUNC_BIN:/usr/sbin:/usr/bin:/sbin:/bin" \
        "$KUBELET_BIN/kubelet" --config "$node/kubelet/config.yaml" --kubeconfig "$node/kubelet/kubeconfig" \
        --root-dir "$data/kubelet" --cert-dir "$node/pki/serving" \
        --hostname-override "$node_name" --node-ip "$node_ip" --node-labels "$taint_key=true"
    wait_for "the kubelet on $node_ip:$kubelet_port (its log: $logs/kubelet.log)" 240 kubelet_listening
    wait_for "node $node_name Ready (kubelet log: $logs/kubelet.log)" 240 node_ready_since "$since"
    # After the node is registered: kube-router reads its Node object (its address) at start.
    # Its iptables rules and ipsets stay in the namespace while it is stopped.
    kube_router_rbac
    start kube-router "${inside[@]}" env PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        "$KUBE_ROUTER_BIN/kube-router" --kubeconfig "$node/kube-router/kubeconfig" --hostname-override "$node_name" \
        --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
        --enable-cni=false --enable-ipv4=true --enable-ipv6=false --service-cluster-ip-range "$service_cidr" \
        --health-port "$kube_router_health_port" --metrics-port 0
    wait_for "kube-router healthy (its log: $logs/kube-router.log)" 120 kube_router_healthy
    workstation_settings
    say "node $node_name Ready"
}

# What the platform needs to run workstations here (labplatform/settings.py reads it).
workstation_settings() {
    cat >"$node/workstation.json.new" <<JSON
{
  "image": "$WORKSTATION_IMAGE",
  "pull_policy": "Never",
  "node_pool": "$taint_key",
  "api_server": "https://$node_ip:$node_api_port"
}
JSON
    chmod 644 "$node/workstation.json.new"
    mv "$node/workstation.json.new" "$node/workstation.json"
}

cmd_stop() {
    halt kube-router
    halt kubelet
    halt containerd
    remove_cgroups
    for name in node-proxy kubelet-relay api-relay-node api-relay-host; do halt "$name"; done
    restore_kernel_tunables
}

# Unmounts FOLDER and everything mounted below it, deepest first.
unmount_below() {
    local folder=$1 mount
    { findmnt -rn -o TARGET | grep -E "^$folder(/|$)" || true; } | sort -r | while IFS= read -r mount; do
        umount -l "$mount" 2>/dev/null || true
    done
}

cmd_down() {
    cmd_stop
    unmount_below "$run"
    unmount_below "$data"
    unmount_below "$node"
    ip netns delete "$netns" 2>/dev/null || true
    if ! ip netns list | grep -q '^labplatform-node-'; then  # no other local cluster's node
        ip route del unreachable "${node_ip%.*}.0/24" 2>/dev/null || true
        ip route del unreachable "$pod_cidr" 2>/dev/null || true
    fi
    rm -rf "$node" "$data" "$run" "$disk_image"
}

cmd_status() {
    local name status=0
    for name in api-relay-host api-relay-node kubelet-relay node-proxy containerd kubelet kube-router; do
        if running "$name"; then say "$name: running"; else say "$name: not running"; status=3; fi
    done
    if node_ready; then say "node $node_name Ready"; else say "node $node_name not Ready"; status=3; fi
    return $status
}

case ${1:-} in
up) cmd_up ;;
stop) cmd_stop ;;
down) cmd_down ;;
status) cmd_status ;;
*) die "usage: $0 up|stop|down|status" ;;
esac
