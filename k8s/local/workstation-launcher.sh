#!/usr/bin/env bash
# The workstation's side of a terminal on the local cluster. cluster.sh renders this file
# (filling in the @...@ values) and installs it as /usr/local/libexec/labplatform-workstation.
#
# KWOK runs what an exec into the workstation namespace asks for, as root (the ClusterExec
# in k8s/platform/overlays/local), and an admission policy lets the platform ask for this
# launcher only. It gives each student one tmux session, kept by a root "keeper" that is
# PID 1 of namespaces of its own:
#   - a network namespace whose only way out is a relay to the API server;
#   - a mount namespace with its own /tmp and /dev/shm, a /proc showing only the session's
#     processes, and the host's database and Redis sockets hidden;
#   - limits on processes, open files, file size and memory;
# and the shell runs in it as the student's own Unix user (lab-<student>, made at
# provisioning). Every connection is its own `tmux attach`; the session outlives the web
# process and each connection, and ends after `grace` seconds with no one attached.
#
# Root never reads what the student's side produces: the tmux server is the student's, so
# everything that talks to it (starting it, detaching stale clients, ending it when idle)
# runs as the student (the `session` mode below). Root builds the namespaces, then waits
# for that process; the only thing it takes from the student's side is an exit status.
#
#   labplatform-workstation attach STUDENT GRACE_SECONDS   the student's own terminal
#   labplatform-workstation watch STUDENT                  read-only, for an instructor
#   labplatform-workstation end STUDENT                    ends the session (reset)
set -euo pipefail
umask 077

relay_dir=@RELAY_DIR@
admin_kubeconfig=@ADMIN_KUBECONFIG@
max_processes=@SESSION_MAX_PROCESSES@
max_open_files=@SESSION_MAX_OPEN_FILES@
max_file_kb=@SESSION_MAX_FILE_KB@
max_virtual_kb=@SESSION_MAX_VIRTUAL_KB@
tmp_size=@SESSION_TMP_SIZE@
sessions=/run/labplatform-terminal

die() { echo "labplatform-workstation: $*" >&2; exit 2; }

stale_client_seconds=120

# The student's side of a session: PID 2 of the keeper's namespaces, already the student's
# user. It starts their tmux server and watches it; nothing here runs as root.
if [ "${1:-}" = session ]; then
    [ "$(id -u)" -ne 0 ] || die "the session side never runs as root"
    grace=${3:?grace}
    socket=${4:?socket}
    conf=${5:?tmux.conf}
    # Whatever tmux answers is the student's own text: a number is taken only if it is one.
    number() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }
    detach_stale_clients() {
        local now activity tty
        now=$(date +%s)
        tmux -S "$socket" list-clients -F '#{client_activity} #{client_tty}' 2>/dev/null |
            while read -r activity tty; do
                number "$activity" || continue
                if [ $((now - 10#$activity)) -gt "$stale_client_seconds" ]; then
                    tmux -S "$socket" detach-client -t "$tty" 2>/dev/null || true
                fi
            done
    }
    tmux -S "$socket" -f "$conf" new-session -d -s main -x 120 -y 40
    # Watch this session's own server (a PID in this namespace), not whatever answers on
    # the socket's path later.
    server=$(tmux -S "$socket" display-message -p '#{pid}')
    number "$server" || die "tmux gave no server pid"
    echo "session started (tmux server $server, grace ${grace}s)"
    idle=0
    while kill -0 "$server" 2>/dev/null; do
        sleep 5
        kill -0 "$server" 2>/dev/null || break
        detach_stale_clients
        if [ -z "$(tmux -S "$socket" list-clients 2>/dev/null)" ]; then
            idle=$((idle + 5))
            if [ "$idle" -ge "$grace" ]; then
                echo "no one attached for ${idle}s: ending the session"
                tmux -S "$socket" kill-server 2>/dev/null || true
                break
            fi
        else
            idle=0
        fi
    done
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (the workstation exec rule)"
mode=${1:-}
student=${2:-}
case $student in '' | *[!a-z0-9]*) die "bad student id ${student@Q}" ;; esac
user=lab-$student
entry=$(getent passwd "$user") || die "no Unix user $user (is the environment provisioned?)"
IFS=: read -r _ _ uid gid _ home _ <<<"$entry"
case $uid$gid in *[!0-9]*) die "bad uid or gid for $user" ;; esac
[ "$uid" -gt 0 ] && [ "$gid" -gt 0 ] || die "$user must not be root"
dir=$sessions/$student
socket=$dir/tmux
# TERM comes from the exec rule; even so, only a plain terminal name passes.
case ${TERM:-} in '' | *[!A-Za-z0-9.+-]*) TERM=xterm-256color ;; esac

# The student's user, no capabilities, a clean environment, and their home as the working
# folder, entered as the student (root never resolves a path inside the student's home).
as_student=(
    setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs --
    env -i -C "$home" HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/bash LANG=C.UTF-8
    PATH=/usr/local/lib/labplatform/bin:/usr/local/bin:/usr/bin:/bin TERM="$TERM"
    KUBECONFIG="$home/.kube/config" KUBECACHEDIR=/tmp/.kube-cache
)
as_student() { "${as_student[@]}" "$@"; }

session_alive() { as_student tmux -S "$socket" has-session -t main 2>/dev/null; }

write_tmux_conf() {
    # A plain terminal: no status bar, the mouse wheel scrolls history, right-click belongs
    # to the browser (copy/paste), and a copied selection goes to the browser's clipboard.
    # The shell is not a login shell: /etc/profile would replace the PATH given above, and
    # with it this cluster's kubectl.
    # Two keys the terminal bridge sends: a keepalive every 30 s (it only marks the client
    # active) and, when its socket closes, detach. KWOK leaves an exec'd process running
    # when its stream closes, so a connection that vanished without a word (a web process
    # killed) leaves a client here; the keeper detaches clients silent for longer than
    # $stale_client_seconds, so they neither pile up nor keep the session from ending.
    local partial
    # Sessions of different students start at once: each writes a file of its own.
    partial=$(mktemp "$sessions/tmux.conf.XXXXXX")
    cat >"$partial" <<'CONF'
set -g status off
set -g mouse on
set -g history-limit 20000
set -s escape-time 0
set -g default-terminal tmux-256color
set -g default-command "exec bash"
set -s set-clipboard on
set -g window-size latest
# A watcher's view larger than the student's window shows blank space, not dots.
set -g fill-character " "
set -g exit-empty on
unbind -n MouseDown3Pane
unbind -n M-MouseDown3Pane
unbind -n MouseDown3Status
unbind -n MouseDown3StatusLeft
unbind -n MouseDown3StatusRight
set -s user-keys[0] "\e[9998~"
set -s user-keys[1] "\e[9999~"
bind -n User0 refresh-client -S
bind -n User1 detach-client
CONF
    chmod 644 "$partial"
    mv "$partial" "$sessions/tmux.conf"
}

keeper() {
    # PID 1 of a new PID, mount and network namespace (see session_start), as root.
    local grace=$1 api_port scratch hidden
    api_port=$(sed -n 's#^ *server: https://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$admin_kubeconfig" | head -n 1)
    [ -n "$api_port" ] || die "no API server port in $admin_kubeconfig"
    ip link set lo up
    # Folders anyone may write to are the session's own.
    mount -t tmpfs -o "size=$tmp_size,mode=1777,nosuid,nodev" tmpfs /tmp
    for scratch in /var/tmp /dev/shm /run/lock; do
        if [ -d "$scratch" ]; then mount -t tmpfs -o "size=64m,mode=1777,nosuid,nodev" tmpfs "$scratch"; fi
    done
    for hidden in /run/postgresql /var/run/postgresql /run/redis /var/run/redis /var/lib/postgresql /var/lib/redis; do
        if [ -d "$hidden" ]; then mount -t tmpfs -o size=1m,mode=755 tmpfs "$hidden"; fi
    done
    # The relay runs as root; the student cannot reach its far end (a 0700 directory).
    socat "TCP-LISTEN:$api_port,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$relay_dir/api.sock" &
    ulimit -u "$max_processes" -n "$max_open_files" -f "$max_file_kb" -v "$max_virtual_kb"
    echo "session of $user starting (grace ${grace}s)"
    # The student's side keeps the session; its output goes to the log as it is, unread.
    as_student "$0" session "$student" "$grace" "$socket" "$sessions/tmux.conf" || true
    echo "session of $user ended"
    # Leaving ends every process in this PID namespace: the relay and anything left behind.
    # The socket's folder stays: a newer session may be using it (session_start clears it).
}

clear_session_folder() {
    # The folder and all in it are the student's: root only renames it (a rename within
    # root's own folder follows nothing) and removes the emptied folder; the student's user
    # empties it.
    local old
    [ -e "$dir" ] || [ -L "$dir" ] || return 0
    old=$(mktemp -u "$sessions/.old.$student.XXXXXX")
    mv -T -- "$dir" "$old"
    if [ -d "$old" ] && [ ! -L "$old" ]; then
        as_student rm -rf -- "$old" 2>/dev/null || true # it cannot remove the folder itself
        rmdir -- "$old" 2>/dev/null || true
    else
        rm -f -- "$old"
    fi
}

session_start() {
    local grace=$1 i
    case $grace in '' | *[!0-9]*) die "bad grace period ${grace@Q}" ;; esac
    mkdir -p "$sessions"
    chmod 711 "$sessions"
    exec 9>"$sessions/$student.lock"
    flock 9
    session_alive && return
    write_tmux_conf
    clear_session_folder
    install -d -m 700 -o "$uid" -g "$gid" "$dir"
    setsid unshare --pid --mount --net --fork --mount-proc --propagation private -- \
        "$0" keeper "$student" "$grace" </dev/null >"$sessions/$student.log" 2>&1 9>&- &
    for i in $(seq 1 100); do
        session_alive && return
        sleep 0.05
    done
    die "the session of $user did not start"
}

case $mode in
attach)
    session_start "${3:-600}"
    exec 9>&-
    # setsid -c makes the exec's terminal the client's controlling terminal, so resizes
    # (SIGWINCH) reach tmux; -w keeps this process until the client leaves.
    exec setsid -w -c "$0" client "$student" attach-session -t main
    ;;
watch)
    # The student's own connection may be starting the session at this moment.
    for _ in $(seq 1 50); do session_alive && break; sleep 0.2; done
    session_alive || die "this student has no terminal open at the moment"
    exec setsid -w -c "$0" client "$student" attach-session -t main -f read-only,ignore-size
    ;;
client)
    shift 2
    exec "${as_student[@]}" tmux -S "$socket" "$@"
    ;;
keeper)
    keeper "${3:?grace}"
    ;;
end)
    as_student tmux -S "$socket" kill-server 2>/dev/null || true
    ;;
*)
    die "usage: labplatform-workstation attach|watch|end STUDENT [GRACE_SECONDS]"
    ;;
esac
