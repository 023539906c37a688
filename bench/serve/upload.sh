#!/usr/bin/env bash
# Uploads through a gateway, side by side with nginx's reverse proxy:
# valk serving examples/gateway.lisp (/api/, valk/proxy's `proxy`, which
# passes a body that streams in up as it comes) against nginx with
# proxy_pass and proxy_request_buffering off. The upstream is nginx,
# which reads each body and drops it. Per run: MiB/s through the
# gateway, its CPU per MiB (user and system µs, from /proc/PID/stat), and
# how much its peak RSS grew (VmHWM less the RSS before the load, KiB):
# what the gateway holds of the bodies in flight.
#
# Gateways on CPU 1 (one worker each), h2load and the upstream on CPU 0;
# CONNS (16) connections each sending REQS/CONNS bodies of SIZE_MB (32)
# MiB, one at a time; REQS (64). PROTO: h1 (default) or h2c.
#   ROUNDS=3 bench/serve/upload.sh build/valk
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
PROTO=${PROTO:-h1}
CONNS=${CONNS:-16}
REQS=${REQS:-64}
SIZE_MB=${SIZE_MB:-32}
one_argument "$@"
valk=$1
require_tools "nghttp2-client nginx python3" h2load nginx taskset python3
case $PROTO in
  h1) h2load_flags=(--h1) ;;
  h2c) h2load_flags=() ;;
  *) echo "PROTO is h1 or h2c, not $PROTO" >&2 && exit 2 ;;
esac

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
head -c $((SIZE_MB << 20)) /dev/urandom >"$work/body"

cat >"$work/sink.lisp" <<'EOF'
(import "valk/web")
(defn sink [req]
  (loop [n 0]
    (if-let [chunk (read-chunk req)]
      (recur (+ n (count chunk)))
      (text (str n "\n")))))
(serve (router (ANY "/*path" sink)) {:port 0})
EOF
taskset -c 0 "$valk" serve "$work/sink.lisp" --threads 1 --max-body-size $((SIZE_MB << 21)) \
  --deadline-ms 600000 2>"$work/sink.log" &
pids+=($!)
upstream_port=$(wait_for_port "$work/sink.log")

# start GATEWAY: runs it on CPU 1; sets pid and url.
start() {
  local port
  if [ "$1" = nginx ]; then
    port=$(free_port)
    nginx_on nginx "$port" 1 "$(nginx_listen_flags "$PROTO")" 'client_max_body_size 0;
      location /api/ { proxy_pass http://up/; proxy_http_version 1.1;
        proxy_set_header Connection ""; proxy_request_buffering off; }'
  else
    UPSTREAM=http://127.0.0.1:$upstream_port taskset -c 1 "$valk" serve examples/gateway.lisp \
      --port 0 --threads 1 --max-body-size $((SIZE_MB << 21)) --deadline-ms 600000 \
      2>"$work/valk.log" &
    pid=$!
    pids+=("$pid")
    port=$(wait_for_port "$work/valk.log")
  fi
  url=http://127.0.0.1:$port/api/up
  wait_for_gateway "$1" "$url" "${h2load_flags[@]}"
}

# measure: MiB/s, user and system µs per MiB, and the peak RSS's growth.
measure() {
  local tick_us=$((1000000 / $(getconf CLK_TCK))) u0 s0 u1 s1 rss0 hwm secs
  rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  taskset -c 0 h2load "${h2load_flags[@]}" -c "$CONNS" -n "$REQS" -d "$work/body" "$url" \
    >"$work/h2load" 2>&1 || true
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
  if ! grep -q " $REQS succeeded" "$work/h2load"; then
    cat "$work/h2load" >&2
    exit 1
  fi
  secs=$(sed -n 's/^finished in \([0-9.]*\)\(m\{0,1\}\)s,.*/\1 \2/p' "$work/h2load" |
    awk '{ print $2 == "m" ? $1 / 1000 : $1 }')
  awk -v u=$(((u1 - u0) * tick_us)) -v s=$(((s1 - s0) * tick_us)) -v mb=$((REQS * SIZE_MB)) \
    -v t="$secs" -v grew=$((hwm - rss0)) \
    'BEGIN { printf "%.0f %.0f %.0f %d\n", mb / t, u / mb, s / mb, grew }'
}

echo "uploads, proto $PROTO, $CONNS connections, $REQS bodies of $SIZE_MB MiB per run"
printf '%-5s %-8s %8s %8s %8s %10s\n' round gateway MiB/s usr_us sys_us rss_grew_kb
for round in $(seq "$ROUNDS"); do
  for gw in valk nginx; do
    start "$gw"
    read -r mbs usr sys grew <<<"$(measure)"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    printf '%-5s %-8s %8s %8s %8s %10s\n' "$round" "$gw" "$mbs" "$usr" "$sys" "$grew" |
      tee -a "$work/runs"
  done
done
echo "medians over $ROUNDS rounds:"
print_medians "$work/runs" 8.0f
