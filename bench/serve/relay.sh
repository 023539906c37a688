#!/usr/bin/env bash
# A large body relayed through a gateway as it comes, side by side with
# nginx's reverse proxy: valk serving examples/gateway.lisp (/relay/*,
# http/get with :as :stream, read-chunk into write) against nginx with
# proxy_pass and kept-alive upstream connections, as configured by
# default (buffering, which spools what a slow client has not taken to a
# temporary file) and with `proxy_buffering off` (nginx-unbuffered, which
# passes the body on as it comes, as valk does). The upstream is nginx
# serving a SIZE_MB (64) MiB file.
#
# Per round, for each gateway:
#   - fast: FETCHES (10) downloads one after another with curl; prints the
#     MB/s and the gateway's CPU ms per download (user + system, from
#     /proc/PID/stat);
#   - slow: SLOW (100) downloads at once, each read at RATE (200k) bytes/s
#     by curl --limit-rate for 3 s; prints how much the gateway's RSS grew
#     (kB, sampled after 2.5 s).
# Rounds alternate the three; then the medians. Gateways on CPU 1 (one
# worker each), curl and the upstream on CPU 0.
#   ROUNDS=3 bench/serve/relay.sh build/valk
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
SIZE_MB=${SIZE_MB:-64}
FETCHES=${FETCHES:-10}
SLOW=${SLOW:-100}
RATE=${RATE:-200k}
one_argument "$@"
valk=$1
require_tools "nginx curl python3" nginx curl taskset python3

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/files"
head -c $((SIZE_MB << 20)) /dev/urandom >"$work/files/big.bin"

upstream_port=$(free_port)
nginx_on upstream "$upstream_port" 0 "" "location / { root $work/files; }"

# start GATEWAY: runs it on CPU 1; sets pid and url.
start() {
  local port
  case $1 in
    valk)
      UPSTREAM=http://127.0.0.1:$upstream_port taskset -c 1 "$valk" serve --port 0 --threads 1 \
        examples/gateway.lisp >"$work/valk.log" 2>&1 &
      pid=$!
      pids+=("$pid")
      port=$(wait_for_port "$work/valk.log")
      ;;
    nginx | nginx-unbuffered)
      port=$(free_port)
      nginx_on "$1" "$port" 1 "" "location /relay/ { proxy_pass http://up/;
        proxy_http_version 1.1; proxy_set_header Connection \"\";
        proxy_buffering $([ "$1" = nginx ] && echo on || echo off); }"
      ;;
  esac
  url=http://127.0.0.1:$port/relay/big.bin
  for _ in $(seq 50); do
    curl -sf -o /dev/null --max-time 10 "$url" && return 0
    sleep 0.1
  done
  echo "$1 did not relay $url" >&2
  exit 1
}

# fast: prints "MB/s cpu_ms_per_download" for $FETCHES downloads of $url.
fast() {
  local tick_ms=$((1000 / $(getconf CLK_TCK))) c0 c1 t0 t1
  c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  t0=$(date +%s%N)
  for _ in $(seq "$FETCHES"); do
    taskset -c 0 curl -sf -o /dev/null "$url"
  done
  t1=$(date +%s%N)
  c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  awk -v mb=$((SIZE_MB * FETCHES)) -v ns=$((t1 - t0)) -v cpu=$(((c1 - c0) * tick_ms)) \
    -v n="$FETCHES" 'BEGIN { printf "%.0f %.1f\n", mb / (ns / 1e9), cpu / n }'
}

# slow: prints the kB the gateway's RSS grew by with $SLOW slow readers.
slow() {
  local before after clients=()
  before=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  for _ in $(seq "$SLOW"); do
    taskset -c 0 curl -s -o /dev/null --limit-rate "$RATE" --max-time 3 "$url" &
    clients+=($!)
  done
  sleep 2.5
  after=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  wait "${clients[@]}" || true  # cut off by --max-time, as meant
  echo $((after - before))
}

results=$work/results
echo "round gateway          MB/s  cpu_ms/download  rss_growth_kB(slow)"
for round in $(seq "$ROUNDS"); do
  for gateway in valk nginx nginx-unbuffered; do
    start "$gateway"
    line="$round $gateway $(fast) $(slow)"
    echo "$line" | tee -a "$results"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
print_medians "$results" "6.0f 8.1f 10.0f"
