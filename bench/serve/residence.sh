#!/usr/bin/env bash
# Where an HTTP/1.1 request's time goes under a closed loop, seen from the
# server's system calls. For each connection (h2load --h1, one request at a
# time) it pairs the read that takes a request with the write of its answer:
#   residence  read -> write: the time the server holds the request
#   outside    write -> the connection's next read: the client's share, plus
#              the time the next request waits in the socket to be read
#   cycle      read -> next read on the connection: one request's round trip
#   per poll   connections with input per epoll_wait
# With every connection busy, the mean cycle is fixed by the throughput
# (Little's law); the split says how a server spreads it. A server that
# answers each request as it reads it has a residence of a few µs; one that
# reads a loop turn's requests, then runs them, then writes the answers
# holds each for most of a turn.
#
# Starts `valk serve examples/hello.lisp --threads 1` on CPU 1 (or traces a
# running server: PID and URL), loads it from CPU 0 for TRACE+3 s, and
# traces it (perf record of read/recvfrom, write/writev, epoll_wait) for TRACE
# seconds (1.5) in the middle. Tracing slows system calls by about a µs each.
#   bench/serve/residence.sh
#   VALK_BIN=/tmp/valk-other bench/serve/residence.sh
#   PID=$(pgrep -f 'nginx: worker') URL=http://127.0.0.1:8081/lua bench/serve/residence.sh
# Needs perf (apt-get install linux-perf), h2load and python3, and root
# (or perf_event_paranoid <= -1) for the system-call tracepoints.
set -euo pipefail
case ${1:-} in -h | --help) sed -n '2,24s/^# \{0,1\}//p' "$0" && exit 0 ;; esac
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
CONNS=${CONNS:-32}
TRACE=${TRACE:-1.5}
VALK=${VALK_BIN:-build/valk}
require_tools "linux-perf nghttp2-client python3" perf h2load python3 taskset

work=$(mktemp -d)
pid=${PID:-}
own=
trap '[ -n "$own" ] && kill "$own" 2>/dev/null; rm -rf "$work"' EXIT
if [ -z "$pid" ]; then
  [ -x "$VALK" ] || ./dev.sh build
  taskset -c 1 "$VALK" serve examples/hello.lisp --port 0 --threads 1 2>"$work/log" &
  own=$!
  pid=$own
  URL=http://127.0.0.1:$(wait_for_port "$work/log")/
fi
: "${URL:?with PID, give the URL to load}"

duration=$(python3 -c "import math; print(math.ceil($TRACE) + 3)")
taskset -c 0 h2load --h1 -c "$CONNS" -m 1 -D "$duration" "$URL" >"$work/h2load" 2>&1 &
load=$!
sleep 2
events=syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write
events+=,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait,syscalls:sys_exit_epoll_wait
perf record -q -e "$events" -p "$pid" -o "$work/perf.data" -- sleep "$TRACE" >/dev/null 2>&1
wait "$load"
grep -E '^finished' "$work/h2load" || { cat "$work/h2load" >&2; exit 1; }
perf script -i "$work/perf.data" 2>/dev/null | python3 bench/serve/residence_summary.py
