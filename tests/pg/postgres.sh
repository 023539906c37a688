#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, listening only on a Unix
# socket in DIR (no TCP port to collide with), with trust authentication.
#   tests/pg/postgres.sh start DIR   initdb (once) and start; prints the
#                                    conninfo the tests use
#   tests/pg/postgres.sh stop DIR    stop it and remove DIR
# As root, the server runs as the postgres user (PostgreSQL refuses root).
set -euo pipefail
usage() { sed -n '2,8s/^# \{0,1\}//p' "$0"; }
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
# fsync off: a test database need not survive a crash.
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-k $dir -c listen_addresses= -c fsync=off -c max_connections=200" start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }
echo "host=$dir port=5432 user=valk dbname=postgres"
