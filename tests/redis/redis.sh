#!/usr/bin/env bash
# A throwaway Redis server for the tests, on a Unix socket in DIR and on a
# free TCP port of 127.0.0.1, keeping nothing on disk.
#   tests/redis/redis.sh start DIR   start it; prints the two URLs the tests
#                                    use (unix://DIR/redis.sock, redis://...)
#   tests/redis/redis.sh stop DIR    stop it and remove DIR
set -euo pipefail
usage() { sed -n '2,7s/^# \{0,1\}//p' "$0"; }
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
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
  --save "" --appendonly no --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
  --dir "$dir"
for _ in $(seq 100); do
  [ -S "$dir/redis.sock" ] && redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -s "$dir/redis.sock" ping >/dev/null || { cat "$dir/redis.log" >&2; exit 1; }
echo "$port" >"$dir/port"
echo "unix://$dir/redis.sock redis://127.0.0.1:$port"
