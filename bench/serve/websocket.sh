#!/usr/bin/env bash
# WebSockets on `valk serve examples/websocket.lisp --threads 1` (CPU 1):
#  - memory: the server's RSS growth per open, idle WebSocket, N (5000) of
#    them, each parked in ws/receive after one echo;
#  - echo, while those N stay open: CLIENTS (4) processes on CPU 0, each
#    with CONNS (16) WebSockets sending 32-byte messages and awaiting their
#    echoes for DURATION (5) s:
#    round trips per second and the server's CPU per round trip (user and
#    system µs, /proc/PID/stat). The Python clients (python3-websockets)
#    are the bottleneck; the server's CPU per message is the figure.
#    SIZE (32) bytes a message; with COMPRESS=1 the clients offer
#    permessage-deflate (the example takes it) and send JSON-like text.
# H2=1: the WebSockets are streams of HTTP/2 connections (RFC 8441,
# python3-h2): the idle ones 100 to a connection, each echoing client's
# CONNS on one connection.
#   bench/serve/websocket.sh [VALK_BINARY]
#   N=10000 bench/serve/websocket.sh build/valk
#   COMPRESS=1 SIZE=1024 bench/serve/websocket.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
N=${N:-5000}
CLIENTS=${CLIENTS:-4}
CONNS=${CONNS:-16}
DURATION=${DURATION:-5}
case ${1:-} in
  -h | --help) sed -n '2,18s/^# \{0,1\}//p' "$0" && exit 0 ;;
esac
VALK=${1:-build/valk}
[ -x "$VALK" ] || ./dev.sh build
/usr/bin/python3 -c 'import websockets' 2>/dev/null || {
  echo "missing python3-websockets (apt-get install -y python3-websockets)" >&2
  exit 1
}
ulimit -n $((N + 1000))

log=$(mktemp)
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$log" "$work"' EXIT
taskset -c 1 "$VALK" serve --port 0 --threads 1 examples/websocket.lisp 2>"$log" &
pid=$!
port=$(wait_for_port "$log")
url="ws://127.0.0.1:$port/echo"
client=bench/serve/websocket_client.py

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
cpu_ticks() { awk '{print $14, $15}' "/proc/$pid/stat"; }

# Warm up: the allocator's and the heap's first growth is not per socket.
idle=${H2:+h2idle}
idle=${idle:-idle}
echo=${H2:+h2echo}
echo=${echo:-echo}
echo | taskset -c 0 /usr/bin/python3 "$client" "$idle" "$url" 200 >/dev/null
before=$(rss_kib)
mkfifo "$work/hold"
taskset -c 0 /usr/bin/python3 "$client" "$idle" "$url" "$N" <"$work/hold" >"$work/idle" &
idler=$!
exec 3>"$work/hold"
until grep -q open "$work/idle" 2>/dev/null; do sleep 0.2; done
after=$(rss_kib)
echo "idle WebSockets: $N, server RSS $before -> $after KiB:" \
  "$(( (after - before) * 1024 / N )) bytes each"

# The echoes run while the idle WebSockets stay open, as in a chat server.
read -r u0 s0 < <(cpu_ticks)
echoers=()
for _ in $(seq "$CLIENTS"); do
  taskset -c 0 /usr/bin/python3 "$client" "$echo" "$url" "$CONNS" "$DURATION" >>"$work/echo" &
  echoers+=($!)
done
wait "${echoers[@]}"
read -r u1 s1 < <(cpu_ticks)
exec 3>&-
wait "$idler"
trips=$(awk '{n += $2} END {print n}' "$work/echo")
hz=$(getconf CLK_TCK)
awk -v n="$trips" -v d="$DURATION" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" 'BEGIN {
  printf "echo: %d round trips in %s s, %.0f/s; server CPU per round trip %.2f + %.2f us (user + system)\n",
    n, d, n / d, u / hz * 1e6 / n, s / hz * 1e6 / n }'
