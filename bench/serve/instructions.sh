#!/usr/bin/env bash
# User-space instructions per request of `valk serve examples/hello.lisp`
# (or APP's, at URL_PATH),
# counted by callgrind: exact and repeatable on this noisy machine, where
# timings of one build against another swing by 10-50 %. Use it to see
# what a change to the request path costs or saves; the kernel's share
# (about two thirds of the CPU time under load) is not in it.
#
# Starts one valk serve thread under callgrind, warms it up with WARM
# requests, counts N more (h2load over PROTO: h1, h2c, h2 over TLS or
# h1tls, HTTP/1.1 over TLS; CONNS connections), and
# prints the instructions per request, then the functions with the most,
# by self and by inclusive count.
#   bench/serve/instructions.sh                    # h1, 20 000 requests
#   PROTO=h2c bench/serve/instructions.sh
#   PROTO=h2 TOP=40 bench/serve/instructions.sh    # over TLS
#   VALK_BIN=/tmp/valk-before bench/serve/instructions.sh
#   VALK_FLAGS="--metrics 0" bench/serve/instructions.sh   # more serve flags
#   APP=examples/gateway.lisp URL_PATH=/api/ bench/serve/instructions.sh
#                                      # another app (its environment as set)
# Needs valgrind (apt-get install valgrind), h2load and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
PROTO=${PROTO:-h1}
N=${N:-20000}
WARM=${WARM:-5000}
CONNS=${CONNS:-32}
TOP=${TOP:-25}
VALK=${VALK_BIN:-build/valk}
APP=${APP:-examples/hello.lisp}
URL_PATH=${URL_PATH:-/}
require_tools "valgrind nghttp2-client python3" valgrind callgrind_control h2load python3
[ -x "$VALK" ] || ./dev.sh build

case $PROTO in
  h1) flags=(); scheme=http; h2load_flags=(--h1) ;;
  h2c) flags=(); scheme=http; h2load_flags=() ;;
  h2) flags=(--tls-cert certs/dev.crt --tls-key certs/dev.key); scheme=https; h2load_flags=() ;;
  h1tls) flags=(--tls-cert certs/dev.crt --tls-key certs/dev.key); scheme=https; h2load_flags=(--h1) ;;
  *) echo "PROTO is h1, h2c, h2 or h1tls, not $PROTO" >&2 && exit 2 ;;
esac

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
# shellcheck disable=SC2086 # VALK_FLAGS is words
valgrind --tool=callgrind --callgrind-out-file="$work/out.%p" \
  "$VALK" serve "$APP" --port 0 --threads 1 "${flags[@]}" ${VALK_FLAGS:-} 2>"$work/log" &
pid=$!
port=$(wait_for_port "$work/log" 60)  # loading under callgrind is slow
url=$scheme://127.0.0.1:$port$URL_PATH

load() { h2load "${h2load_flags[@]}" -c "$CONNS" -n "$1" "$url" | grep -E '^requests:'; }
load "$WARM" >/dev/null
callgrind_control -z "$pid" >/dev/null 2>&1
load "$N"
callgrind_control -d "$pid" >/dev/null 2>&1
kill -INT "$pid"
wait "$pid" 2>/dev/null || true

# The dump after -z holds only the counted requests: "out.PID.1".
echo "$PROTO: $N requests over $CONNS connections"
python3 bench/serve/callgrind_summary.py "$work/out.$pid.1" "$N" "$TOP"
