#!/usr/bin/env bash
# Server CPU per request over TLS, the figure least disturbed by other work on
# a shared machine: starts `valk static --reactors 1` on a fresh port, runs
# h2load once to warm up and once measured, and divides the server's
# utime+stime (from /proc/PID/stat, 100 Hz ticks) by the request count.
#
#   bench/net/cpu_per_request.sh                          # h2, 13-byte body
#   BODY_BYTES=65536 N=20000 bench/net/cpu_per_request.sh
#   PROTO=h1tls bench/net/cpu_per_request.sh              # HTTP/1.1 over TLS
#   VALK_BIN=/tmp/valk-before bench/net/cpu_per_request.sh
#
# Alternate two builds a few times and compare the means: single runs on a
# busy 2-core machine vary by 10-20 %.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
VALK_BIN=${VALK_BIN:-$root/build/valk}
PROTO=${PROTO:-h2}
BODY_BYTES=${BODY_BYTES:-13}
N=${N:-100000}
CONNS=${CONNS:-16}
STREAMS=${STREAMS:-8}

[ -x "$VALK_BIN" ] || { echo "$VALK_BIN is missing: build first" >&2; exit 1; }
command -v h2load >/dev/null || { echo "needs h2load (nghttp2-client)" >&2; exit 1; }
work=$(mktemp -d /tmp/cpu_per_request.XXXXXX)
head -c "$BODY_BYTES" /dev/zero | tr '\0' x >"$work/body"
"$VALK_BIN" static --host 127.0.0.1 --port 0 --tls-port 0 --tls-cert "$root/certs/dev.crt" \
  --tls-key "$root/certs/dev.key" --reactors 1 --log-level error "$work" 2>"$work/err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  if [ "$(grep -c serving "$work/err")" = 2 ]; then break; fi
  sleep 0.1
done
port=$(sed -n 's|.* on https://127.0.0.1:\([0-9]*\)$|\1|p' "$work/err")
[ -n "$port" ] || { cat "$work/err" >&2; exit 1; }

h1=()
if [ "$PROTO" = h1tls ]; then h1=(--h1); fi
load() {
  h2load "${h1[@]}" -n "$1" -c "$CONNS" -m "$STREAMS" "https://127.0.0.1:$port/body" 2>&1
}
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

load $((N / 10)) >/dev/null
t0=$(ticks)
out=$(load "$N")
t1=$(ticks)
ok=$(echo "$out" | awk '/^requests:/ { print $8 }')
rps=$(echo "$out" | awk '/^finished in/ { print $4 }')
[ "$ok" = "$N" ] || { echo "$out" >&2; exit 1; }
awk -v d=$((t1 - t0)) -v n="$N" -v hz="$(getconf CLK_TCK)" -v rps="$rps" \
  -v what="$(basename "$VALK_BIN") $PROTO body=$BODY_BYTES" \
  'BEGIN { printf "%s\treq/s %s\tus CPU/request %.1f\n", what, rps, d * 1e6 / hz / n }'
