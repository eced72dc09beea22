#!/usr/bin/env bash
# metrics-server, started once KWOK's server answers. cluster.sh renders this file
# (filling in the @...@ values) and gives it to kwokctl as the metrics-server binary.
#
# kwokctl starts metrics-server beside kwok, which makes its relays to the nodes'
# addresses a moment later. metrics-server scrapes at once, then every resolution: a first
# scrape refused by a relay not yet there left the metrics API without a rate for two
# more resolutions (23 s after a restart instead of 13 s). Waits at most 30 s, then starts
# it anyway.
set -euo pipefail

metrics_server=@METRICS_SERVER_BINARY@
kwok_config=@KWOK_CONFIG@

case ${1:-} in --version | version) exec "$metrics_server" "$@" ;; esac

# kwok-controller's --node-port: KWOK's server, relayed at every node's address.
port=$(sed -n 's/^ *- --node-port=\([0-9][0-9]*\)$/\1/p' "$kwok_config" | head -n 1)
if [ -n "$port" ]; then
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
fi
# Under the name kwokctl gave it, which is how cluster.sh finds the process.
exec -a "$0" "$metrics_server" "$@"
