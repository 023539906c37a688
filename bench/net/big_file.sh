#!/usr/bin/env bash
# A 1 MiB static file served by valk static, nghttpd, h2o and nginx, side by
# side in one run: h2load over h2 (TLS), h2c and HTTP/1.1, the server pinned
# to core 0 and the client to core 1 (the 13-byte case is
# bench/net/anchors.sh). Prints req/s, MB/s and the CPU seconds per GB sent
# of the server and of the client (h2load: near 1 core-second per second,
# the run is client-bound and req/s says more about the client's work than
# the server's).
#
#   bench/net/big_file.sh
#   SERVERS="valk h2o" PROTOS=h2c DURATION=10 bench/net/big_file.sh
#   VALK_BEFORE=/tmp/valk-before bench/net/big_file.sh   # adds a valk-before row
#
# Needs: nghttp2-client nghttp2-server h2o nginx (Debian packages).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
SERVERS=${SERVERS:-"valk nghttpd h2o nginx"}
# Another valk build measured in the same run, right after valk.
if [ -n "${VALK_BEFORE:-}" ]; then
  SERVERS=${SERVERS/valk/valk valk-before}
fi
PROTOS=${PROTOS:-"h2 h2c h1"}
DURATION=${DURATION:-5}
CONNS=${CONNS:-4}
STREAMS=${STREAMS:-2}
VALK_BIN=${VALK_BIN:-$root/build/valk}
CERT=$root/certs/dev.crt
KEY=$root/certs/dev.key
PORT=18443

work=$(mktemp -d)
trap 'kill $(cat "$work"/pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/www"
head -c $((1 << 20)) /dev/urandom >"$work/www/big.bin"
# h2o and nginx started as root serve as nobody: let them read it.
chmod 755 "$work" "$work/www"
chmod 644 "$work/www/big.bin"

start_server() {
  local name=$1 proto=$2 tls=0
  [ "$proto" = h2 ] && tls=1
  case $name in
    valk | valk-before)
      local bin=$VALK_BIN
      [ "$name" = valk-before ] && bin=$VALK_BEFORE
      if [ $tls = 1 ]; then
        set -- "$bin" static --port $PORT --tls-cert "$CERT" --tls-key "$KEY"
      else
        set -- "$bin" static --port $PORT
      fi
      set -- "$@" --reactors 1 --log-level error "$work/www" ;;
    nghttpd)
      [ "$proto" = h1 ] && return 1
      if [ $tls = 1 ]; then
        set -- nghttpd -a 127.0.0.1 -d "$work/www" $PORT "$KEY" "$CERT"
      else
        set -- nghttpd --no-tls -a 127.0.0.1 -d "$work/www" $PORT
      fi ;;
    h2o)
      {
        echo "error-log: $work/h2o-error.log"
        echo "num-threads: 1"
        echo "hosts:"
        echo "  default:"
        echo "    listen:"
        echo "      host: 127.0.0.1"
        echo "      port: $PORT"
        if [ $tls = 1 ]; then
          echo "      ssl:"
          echo "        certificate-file: $CERT"
          echo "        key-file: $KEY"
          echo "        ocsp-update-interval: 0"
        fi
        echo "    paths:"
        echo "      /:"
        echo "        file.dir: $work/www"
      } >"$work/h2o.conf"
      set -- h2o -c "$work/h2o.conf" ;;
    nginx)
      local listen="127.0.0.1:$PORT"
      [ $tls = 1 ] && listen="$listen ssl http2"
      [ "$proto" = h2c ] && listen="$listen http2"
      cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  sendfile on;
  client_body_temp_path $work/ngx_body;
  proxy_temp_path $work/ngx_proxy;
  fastcgi_temp_path $work/ngx_fastcgi;
  uwsgi_temp_path $work/ngx_uwsgi;
  scgi_temp_path $work/ngx_scgi;
  server {
    listen $listen;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    root $work/www;
  }
}
EOF
      set -- nginx -p "$work" -c "$work/nginx.conf" ;;
  esac
  taskset -c 0 "$@" >"$work/server.log" 2>&1 &
  echo $! >"$work/pid"
  for _ in $(seq 50); do
    if curl -sk -o /dev/null "http$([ $tls = 1 ] && echo s)://127.0.0.1:$PORT/big.bin" \
      $([ "$proto" = h2c ] && echo --http2-prior-knowledge); then
      return 0
    fi
    sleep 0.1
  done
  echo "$name did not start for $proto" >&2
  return 1
}

stop_server() {
  kill "$(cat "$work/pid")" 2>/dev/null || true
  wait "$(cat "$work/pid")" 2>/dev/null || true
  rm -f "$work/pid"
}

# utime + stime of the server and its children (nginx's workers).
cpu_ticks() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $total
}

printf "%-11s %-4s %10s %10s %14s %14s\n" server proto "req/s" "MB/s" "cpu-s/GB" "cli cpu-s/GB"
for proto in $PROTOS; do
  for name in $SERVERS; do
    start_server "$name" "$proto" || continue
    pid=$(cat "$work/pid")
    url="http://127.0.0.1:$PORT/big.bin"
    args=(-c "$CONNS" -m "$STREAMS" -D "$DURATION")
    case $proto in
      h2) url="https://127.0.0.1:$PORT/big.bin" ;;
      h1) args=(--h1 -c "$CONNS" -m 1 -D "$DURATION") ;;
    esac
    t0=$(cpu_ticks "$pid")
    out=$({
      TIMEFORMAT='client-cpu %U %S'
      time taskset -c 1 h2load "${args[@]}" "$url" 2>&1
    } 2>&1)
    [ -n "${DEBUG:-}" ] && echo "$out" >&2
    t1=$(cpu_ticks "$pid")
    stop_server
    rps=$(awk '/^finished in/ { print $4 }' <<<"$out")
    ok=$(awk '/^requests:/ { print $8 }' <<<"$out")
    cli=$(awk '/^client-cpu/ { print $2 + $3 }' <<<"$out")
    awk -v n="$name" -v p="$proto" -v rps="$rps" -v ok="$ok" -v ticks=$((t1 - t0)) \
      -v hz="$(getconf CLK_TCK)" -v cli="$cli" 'BEGIN {
        gb = ok * 1048576 / 1e9
        printf "%-11s %-4s %10.0f %10.0f %14.3f %14.3f\n", n, p, rps, rps * 1.048576,
          (gb > 0 ? ticks / hz / gb : 0), (gb > 0 ? cli / gb : 0)
      }'
  done
done
