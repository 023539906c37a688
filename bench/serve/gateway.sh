#!/usr/bin/env bash
# A gateway in front of an upstream, side by side with nginx's reverse
# proxy: valk serving examples/gateway.lisp (each request awaits an
# http/get to the upstream) against nginx with proxy_pass and kept-alive
# upstream connections. The upstream is nginx answering "Hello, World!"
# from its config, the cheapest answer there is, so the gateways' cost
# shows. Rounds alternate the two; per run: requests/s, the gateway's CPU
# per request (user and system µs, from /proc/PID/stat) and p50/p99 of
# every request's time (h2load --log-file); then the medians.
#
# Gateways on CPU 1 (one worker each), h2load and the upstream on CPU 0;
# CONNS (32) connections, STREAMS (16) streams each on h2c, one request at
# a time on h1; WARMUP (1) s, then DURATION (4) s measured. PROTO: h2c
# (default) or h1. ROUTE: valk's route, proxy (default: /proxy/, the
# body fetched whole and answered) or api (/api/, valk/proxy's `proxy`:
# the request's headers passed on, the answer streamed back).
#   ROUNDS=5 bench/serve/gateway.sh build/valk
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
ROUTE=${ROUTE:-proxy}
PROTO=${PROTO:-h2c}
CONNS=${CONNS:-32}
STREAMS=${STREAMS:-16}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-4}
one_argument "$@"
valk=$1
require_tools "nghttp2-client nginx python3" h2load nginx taskset python3
case $PROTO in
  h1) h2load_flags=(--h1 -m 1) ;;
  h2c) h2load_flags=(-m "$STREAMS") ;;
  *) echo "PROTO is h1 or h2c, not $PROTO" >&2 && exit 2 ;;
esac

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

upstream_port=$(free_port)
nginx_on upstream "$upstream_port" 0 "" \
  'location / { default_type text/plain; return 200 "Hello, World!"; }'

# start GATEWAY: runs it on CPU 1; sets pid and url.
start() {
  local port
  if [ "$1" = nginx ]; then
    port=$(free_port)
    nginx_on nginx "$port" 1 "$(nginx_listen_flags "$PROTO")" 'location /proxy/ {
      proxy_pass http://up/; proxy_http_version 1.1; proxy_set_header Connection ""; }'
  else
    UPSTREAM=http://127.0.0.1:$upstream_port taskset -c 1 "$valk" serve examples/gateway.lisp \
      --port 0 --threads 1 2>"$work/valk.log" &
    pid=$!
    pids+=("$pid")
    port=$(wait_for_port "$work/valk.log")
  fi
  url=http://127.0.0.1:$port/proxy/
  if [ "$1" = valk ] && [ "$ROUTE" = api ]; then
    url=http://127.0.0.1:$port/api/
  fi
  wait_for_gateway "$1" "$url" "${h2load_flags[@]}"
}

echo "gateway, proto $PROTO, $CONNS connections$([ "$PROTO" = h1 ] || echo " x $STREAMS streams"), ${WARMUP} s + ${DURATION} s per run"
printf '%-5s %-8s %9s %7s %7s %7s %7s\n' round gateway req/s usr_us sys_us p50_us p99_us
for round in $(seq "$ROUNDS"); do
  for gw in valk nginx; do
    start "$gw"
    m=$(measure_h2load "$pid" "$url" "${h2load_flags[@]}" -c "$CONNS")
    read -r rps usr_us sys_us p50 _ p99 _ <<<"$m"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    printf '%-5s %-8s %9.0f %7s %7s %7s %7s\n' "$round" "$gw" "$rps" "$usr_us" "$sys_us" \
      "$p50" "$p99" | tee -a "$work/runs"
  done
done
echo "medians over $ROUNDS rounds:"
print_medians "$work/runs"
