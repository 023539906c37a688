#!/usr/bin/env bash
# PostgreSQL queries per second from one valk isolate beside pgbench, the
# server's own client, on a throwaway server (tests/pg/postgres.sh): both
# with CONNS (4) connections kept busy for DURATION (5) s running
# `SELECT $1::int` (prepared: pgbench -M prepared; valk prepares each
# statement once per connection), valk from FIBERS (64) fibers over a
# pool of CONNS.
# Rounds (ROUNDS, 3) alternate the two; per run: queries/s, and for valk
# its CPU per query (user and system µs). Clients on CPU 0; the server's
# processes where the kernel puts them.
#   bench/pg/queries.sh build/valk
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-4}
FIBERS=${FIBERS:-64}
DURATION=${DURATION:-5}
one_argument "$@"
valk=$1
require_tools "postgresql libpq-dev" pg_config taskset
pgbench=$(pg_config --bindir)/pgbench
dir=$(mktemp -u /tmp/valk-pg-bench-XXXXXX)
work=$(mktemp -d)
trap 'tests/pg/postgres.sh stop "$dir"; rm -rf "$work"' EXIT
conninfo=$(tests/pg/postgres.sh start "$dir")
echo 'SELECT 1::int AS i;' >"$work/select.sql"
cat >"$work/load.lisp" <<LISP
(def db (pg/connect "$conninfo" {:pool-size $CONNS}))
(await (pg/query db "SELECT 1"))
(def stop (+ (now-ms) (* $DURATION 1000)))
(defn worker []
  (loop [n 0]
    (if (< (now-ms) stop)
      (do (await (pg/query db "SELECT \$1::int AS i" [n])) (recur (inc n)))
      n)))
(println (reduce + (await (all (mapv (fn [_] (spawn worker)) (range $FIBERS))))))
LISP
echo "$CONNS connections, ${DURATION} s a run"
printf '%-5s %-8s %9s %7s %7s\n' round client queries/s usr_us sys_us
for round in $(seq "$ROUNDS"); do
  n=$(taskset -c 0 /usr/bin/time -f '%U %S' -o "$work/time" "$valk" run "$work/load.lisp")
  read -r u s <"$work/time"
  awk -v n="$n" -v d="$DURATION" -v u="$u" -v s="$s" -v r="$round" \
    'BEGIN { printf "%-5s %-8s %9.0f %7.2f %7.2f\n", r, "valk", n / d, u * 1e6 / n, s * 1e6 / n }' |
    tee -a "$work/runs"
  tps=$(taskset -c 0 "$pgbench" -n -M prepared -c "$CONNS" -j 1 -T "$DURATION" -f "$work/select.sql" \
    "$conninfo" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  printf '%-5s %-8s %9.0f %7s %7s\n' "$round" pgbench "$tps" - - | tee -a "$work/runs"
done
echo "medians over $ROUNDS rounds:"
for client in valk pgbench; do
  printf '%-5s %-8s %9.0f\n' med "$client" \
    "$(awk -v c="$client" '$2 == c { print $3 }' "$work/runs" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
done
