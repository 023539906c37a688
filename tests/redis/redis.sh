#!/usr/bin/env bash
# A throwaway Redis server for the tests, on a Unix socket in DIR, on a
# free TCP port of 127.0.0.1 and over TLS (certs/dev.*, clients to show a
# certificate of certs/ca.crt) on another, keeping nothing on disk. The
# ports go to DIR/port and DIR/tls_port.
#   tests/redis/redis.sh start DIR   start it; prints the three URLs the
#                                    tests use (unix://DIR/redis.sock,
#                                    redis://..., rediss://...)
#   tests/redis/redis.sh stop DIR    stop it and remove DIR
set -euo pipefail
usage() { sed -n '2,10s/^# \{0,1\}//p' "$0"; }
case ${1:-} in
  -h | --help) usage && exit 0 ;;
  start | stop) ;;
  *) usage >&2 && exit 2 ;;
esac
[ $# -eq 2 ] || { usage >&2; exit 2; }
dir=$2
stop() {
  local pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
}
if [ "$1" = stop ]; then
  stop
  rm -rf "$dir"
  exit 0
fi
stop  # one left running by an earlier run that was killed
mkdir -p "$dir"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
tls_port=$(free_port)
certs=$(cd "$(dirname "$0")/../../certs" && pwd)
redis-server --bind 127.0.0.1 --port "$port" --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
  --tls-port "$tls_port" --tls-cert-file "$certs/dev.crt" --tls-key-file "$certs/dev.key" \
  --tls-ca-cert-file "$certs/ca.crt" --tls-auth-clients yes \
  --save "" --appendonly no --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
  --dir "$dir"
for _ in $(seq 100); do
  [ -S "$dir/redis.sock" ] && redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -s "$dir/redis.sock" ping >/dev/null || { cat "$dir/redis.log" >&2; exit 1; }
echo "$port" >"$dir/port"
echo "$tls_port" >"$dir/tls_port"
echo "unix://$dir/redis.sock redis://127.0.0.1:$port rediss://localhost:$tls_port"
