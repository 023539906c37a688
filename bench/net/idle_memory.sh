#!/usr/bin/env bash
# Memory per idle connection: starts a fresh server with one reactor for each
# protocol, opens N idle connections with bench/net/idle_memory.py and prints
# the server's RSS growth per connection (VmRSS delta / N, KiB).
#
#   bench/net/idle_memory.sh                    # valk: h2 h2c h1tls, 1000 each
#   N=2000 PROTOS="h2 h1" bench/net/idle_memory.sh
#   SERVERS="valk nghttpd nginx" bench/net/idle_memory.sh   # with peers
#   VALK_BIN=/tmp/valk-before bench/net/idle_memory.sh      # another build
#   SETTLE=3 bench/net/idle_memory.sh           # measured 3 s after the last
#                                               # connection (valk releases an idle
#                                               # h2 session's buffers after 2 s)
#   BODY_BYTES=60000 bench/net/idle_memory.sh   # each connection first GETs a
#                                               # body of that size, every protocol
#
# Protocols: h2 (TLS, ALPN h2), h2c (prior knowledge), h1tls (HTTP/1.1 over
# TLS), h1 (cleartext HTTP/1.1). Peers, when installed, are started the way
# ../shared/bench/anchors.sh starts them, with one worker: nghttpd (h2 h2c),
# nginx (every protocol; its worker process is measured). Every server is
# stopped by its PID. Uses certs/dev.crt (P-256, CN=localhost).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
N=${N:-1000}
PROTOS=${PROTOS:-"h2 h2c h1tls"}
SERVERS=${SERVERS:-valk}
BODY_BYTES=${BODY_BYTES:-0}
SETTLE=${SETTLE:-0.5}
VALK_BIN=${VALK_BIN:-$root/build/valk}
CERT=$root/certs/dev.crt
KEY=$root/certs/dev.key
client=$root/bench/net/idle_memory.py

[ -x "$VALK_BIN" ] || { echo "$VALK_BIN is missing: build first" >&2; exit 1; }
work=$(mktemp -d /tmp/idle_memory.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/www"
printf 'Hello, World!' >"$work/www/hello.txt"
chmod 644 "$work/www/hello.txt"
get_args=()
if [ "$BODY_BYTES" -gt 0 ]; then
  head -c "$BODY_BYTES" /dev/urandom >"$work/www/body.bin"
  chmod 644 "$work/www/body.bin"
  get_args=(--path /body.bin --h2-get)
fi
srv_pid=""

stop_server() {
  [ -n "$srv_pid" ] || return 0
  kill -TERM "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
  srv_pid=""
}
trap 'stop_server; rm -rf "$work"' EXIT

# wait_port PORT: until something accepts on it (up to ~10 s).
wait_port() {
  for _ in $(seq 1 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

tls_proto() { [ "$1" = h2 ] || [ "$1" = h1tls ]; }

# start_valk PROTO -> sets srv_pid, port (and measured pid = srv_pid).
start_valk() {
  local proto=$1
  "$VALK_BIN" static --host 127.0.0.1 --port 0 --tls-port 0 --tls-cert "$CERT" --tls-key "$KEY" \
    --reactors 1 --log-level error "$work/www" 2>"$work/valk.err" &
  srv_pid=$!
  measure_pid=$srv_pid
  for _ in $(seq 1 100); do
    if [ "$(grep -c serving "$work/valk.err")" = 2 ]; then break; fi
    sleep 0.1
  done
  local scheme=http
  if tls_proto "$proto"; then scheme=https; fi
  port=$(sed -n "s|.* on $scheme://127.0.0.1:\([0-9]*\)\$|\1|p" "$work/valk.err")
  [ -n "$port" ] || { cat "$work/valk.err" >&2; return 1; }
}

start_nghttpd() {
  local proto=$1
  port=$(free_port)
  case $proto in
    h2) nghttpd -a 127.0.0.1 -d "$work/www" -n 1 "$port" "$KEY" "$CERT" >/dev/null 2>&1 & ;;
    h2c) nghttpd --no-tls -a 127.0.0.1 -d "$work/www" -n 1 "$port" >/dev/null 2>&1 & ;;
    *) return 2 ;;
  esac
  srv_pid=$!
  measure_pid=$srv_pid
  wait_port "$port"
}

start_nginx() {
  local proto=$1
  port=$(free_port)
  mkdir -p "$work/nginx/logs"
  cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $work/nginx/nginx.pid;
error_log stderr error;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$port $(nginx_listen_flags "$proto");
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    root $work/www;
  }
}
EOF
  nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" 2>"$work/nginx.err" &
  srv_pid=$!
  wait_port "$port"
  # The master accepts nothing: measure its one worker.
  for _ in $(seq 1 50); do
    measure_pid=$(pgrep -P "$srv_pid" | head -1 || true)
    [ -n "$measure_pid" ] && return 0
    sleep 0.1
  done
  return 1
}

printf 'server\tproto\tconns\trss_before_KiB\trss_after_KiB\tKiB_per_conn\n'
for server in $SERVERS; do
  for proto in $PROTOS; do
    if [ "$server" != valk ] && ! command -v "$server" >/dev/null; then
      echo "$server is not installed; skipped" >&2
      continue
    fi
    rc=0
    "start_$server" "$proto" || rc=$?
    if [ "$rc" = 2 ]; then
      stop_server
      continue  # the server does not speak this protocol
    fi
    [ "$rc" = 0 ] || { stop_server; exit 1; }
    printf '%s\t' "$server"
    python3 "$client" --pid "$measure_pid" --port "$port" --proto "$proto" -n "$N" \
      --settle "$SETTLE" "${get_args[@]}"
    stop_server
  done
done
