#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, with trust authentication:
# on a Unix socket in DIR, and over TLS (certs/dev.*) on a free TCP port of
# 127.0.0.1, which it writes to DIR/port (the socket is named after it too).
#   tests/pg/postgres.sh start DIR   initdb (once) and start; prints the
#                                    conninfo the tests use (the socket's)
#   tests/pg/postgres.sh stop DIR    stop it and remove DIR
# As root, the server runs as the postgres user (PostgreSQL refuses root).
set -euo pipefail
usage() { sed -n '2,9s/^# \{0,1\}//p' "$0"; }
case ${1:-} in
  -h | --help) usage && exit 0 ;;
  start | stop) ;;
  *) usage >&2 && exit 2 ;;
esac
[ $# -eq 2 ] || { usage >&2; exit 2; }
dir=$2
bin=$(pg_config --bindir)
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
if [ "$1" = stop ]; then
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
  fi
  rm -rf "$dir"
  exit 0
fi
mkdir -p "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
  as_owner "$bin/initdb" -D "$dir/data" -U valk --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
fi
# A server left running by an earlier run that was killed goes first.
if [ -f "$dir/data/postmaster.pid" ]; then
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
fi
# The server reads its key only if the key is its user's and private.
certs=$(cd "$(dirname "$0")/../../certs" && pwd)
install -m 600 "$certs/dev.key" "$dir/tls.key"
install -m 644 "$certs/dev.crt" "$dir/tls.crt"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir/tls.key" "$dir/tls.crt"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# fsync off: a test database need not survive a crash.
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-k $dir -c listen_addresses=127.0.0.1 -c port=$port -c fsync=off -c max_connections=200 \
      -c ssl=on -c ssl_cert_file=$dir/tls.crt -c ssl_key_file=$dir/tls.key" start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }
echo "$port" >"$dir/port"
echo "host=$dir port=$port user=valk dbname=postgres"
