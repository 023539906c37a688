#!/usr/bin/env bash
# Servers in alternation under the same closed loop, for comparisons
# this noisy machine can settle: each round runs every server once, so
# they share its fast and slow minutes, and the medians over the rounds
# are compared. Per run: requests/s, the server's CPU per request
# (user and system µs, from /proc/PID/stat over the measured part),
# and p50/p90/p99/p99.9 of every request's time (h2load --log-file).
#
# A server is the path of a valk build, serving examples/hello.lisp with
# --threads 1, or nginx-lua (nginx with content_by_lua_block, one worker).
# Servers on CPU 1, h2load on CPU 0; CONNS (32) connections of STREAMS
# (16) streams (HTTP/1.1: one request at a time) for WARMUP (1) s, then
# DURATION (4) s measured. PROTO: h1 (default), h2c or h2 (TLS,
# certs/dev.*).
#   bench/serve/compare.sh /tmp/valk-before build/valk
#   ROUNDS=8 PROTO=h2c bench/serve/compare.sh build/valk nginx-lua
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-5}
PROTO=${PROTO:-h1}
CONNS=${CONNS:-32}
STREAMS=${STREAMS:-16}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-4}
one_argument "$@"
require_tools "nghttp2-client python3" h2load taskset python3
case $PROTO in
  h1) scheme=http; h2load_flags=(--h1 -m 1) ;;
  h2c) scheme=http; h2load_flags=(-m "$STREAMS") ;;
  h2) scheme=https; h2load_flags=(-m "$STREAMS") ;;
  *) echo "PROTO is h1, h2c or h2, not $PROTO" >&2 && exit 2 ;;
esac

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

# start SERVER: runs it on CPU 1; sets pid (the process that does the
# work) and url.
start() {
  if [ "$1" = nginx-lua ]; then
    require_tools "nginx libnginx-mod-http-lua" nginx
    local port
    port=$(free_port)
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$port $(nginx_listen_flags "$PROTO");
    ssl_protocols TLSv1.3;
    ssl_certificate $PWD/certs/dev.crt;
    ssl_certificate_key $PWD/certs/dev.key;
    location = / { default_type text/plain; content_by_lua_block { ngx.print("Hello, World!") } }
  }
}
EOF
    taskset -c 1 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" 2>"$work/log" &
    pid=$!
    url=$scheme://127.0.0.1:$port/
    for _ in $(seq 50); do
      h2load "${h2load_flags[@]}" -c 1 -n 1 "$url" 2>/dev/null | grep -q ' 1 succeeded' && return 0
      sleep 0.1
    done
    echo "nginx-lua did not answer:" >&2
    cat "$work/log" "$work/nginx/error.log" >&2
    exit 1
  fi
  local flags=()
  [ "$PROTO" = h2 ] && flags=(--tls-cert certs/dev.crt --tls-key certs/dev.key)
  taskset -c 1 "$1" serve examples/hello.lisp --port 0 --threads 1 "${flags[@]}" 2>"$work/log" &
  pid=$!
  url=$scheme://127.0.0.1:$(wait_for_port "$work/log")/
}

echo "proto $PROTO, $CONNS connections$([ "$PROTO" = h1 ] || echo " x $STREAMS streams"), ${WARMUP} s + ${DURATION} s per run"
printf '%-5s %-24s %9s %7s %7s %7s %7s %7s %7s\n' round server req/s usr_us sys_us p50_us p90_us p99_us p99.9_us
for round in $(seq "$ROUNDS"); do
  for server in "$@"; do
    start "$server"
    m=$(measure_h2load "$pid" "$url" "${h2load_flags[@]}" -c "$CONNS")
    read -r rps usr_us sys_us p50 p90 p99 p999 <<<"$m"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    printf '%-5s %-24s %9.0f %7s %7s %7s %7s %7s %7s\n' "$round" "$server" "$rps" \
      "$usr_us" "$sys_us" "$p50" "$p90" "$p99" "$p999" | tee -a "$work/runs"
  done
done

echo "medians over $ROUNDS rounds (round \"med\"):"
print_medians "$work/runs"
