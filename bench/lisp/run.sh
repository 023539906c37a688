#!/usr/bin/env bash
# Runs the valk Lisp benchmarks beside their Lua 5.4 twins and prints a
# table of the best CPU times (wall-clock in parentheses), the valk/Lua
# ratio of CPU times and whether the two printed the same checksum; then
# the cost of a fiber switch and of a parked fiber.
#
#   bench/lisp/run.sh [-n RUNS] [PROGRAM...]
#
# RUNS defaults to 3 (the best run counts: the machine is shared and noisy).
# PROGRAM names files in this directory without extension (default: all,
# and the parked-fiber measurement, which "parked" selects alone).
# Builds valk in Release in build-release/ at the repository root unless
# VALK names a binary to use.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

runs=3
if [ "${1:-}" = "-n" ]; then
  runs=$2
  shift 2
fi
programs=("$@")
parked=no
if [ ${#programs[@]} -eq 0 ]; then
  programs=(fib tak loop strings maps sort fibers)
  parked=yes
fi
for i in "${!programs[@]}"; do
  if [ "${programs[$i]}" = parked ]; then
    parked=yes
    unset 'programs[i]'
  fi
done

lua=${LUA:-lua5.4}
command -v "$lua" >/dev/null || {
  echo "run.sh: $lua not found (apt-get install lua5.4)" >&2
  exit 2
}
command -v /usr/bin/time >/dev/null || {
  echo "run.sh: /usr/bin/time not found (apt-get install time)" >&2
  exit 2
}

if [ -z "${VALK:-}" ]; then
  build="$root/build-release"
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$build" -j "${JOBS:-2}" --target valk >/dev/null
  VALK="$build/valk"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# best_time OUT CMD...: runs CMD $runs times, its stdout to OUT, and prints
# "CPU WALL": the best CPU time (user + system) and the best wall-clock time
# in seconds. CPU time is the figure compared: on a shared machine it is far
# less disturbed by the other jobs than wall-clock time.
best_time() {
  python3 - "$runs" "$@" <<'PY'
import os, resource, subprocess, sys, time
runs, out, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
best_cpu = best_wall = float("inf")
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(out, "wb") as f:
        subprocess.run(cmd, stdout=f, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
print(f"{best_cpu:.3f} {best_wall:.3f}")
PY
}

echo "valk Lisp vs Lua 5.4: best of $runs runs; seconds of CPU (user+sys), wall in ()"
echo "valk: $VALK"
echo "lua:  $($lua -v 2>&1 | head -1)"
echo
printf "%-8s %16s %16s %9s  %s\n" program "valk s" "lua s" valk/lua "same checksum"
# Start-up alone (the core library is loaded before any program runs).
read -r sv_valk _ < <(best_time "$tmp/startup.valk" "$VALK" eval nil)
read -r sv_lua _ < <(best_time "$tmp/startup.lua" "$lua" -e "")
printf "%-8s %16s %16s\n" "(start)" "$sv_valk" "$sv_lua"
for p in "${programs[@]}"; do
  read -r tv wv < <(best_time "$tmp/$p.valk" "$VALK" run "$here/$p.lisp")
  read -r tl wl < <(best_time "$tmp/$p.lua" "$lua" "$here/$p.lua")
  # The first line is the checksum; later lines are diagnostics.
  if [ "$(head -1 "$tmp/$p.valk")" = "$(head -1 "$tmp/$p.lua")" ]; then
    same=yes
  else
    same="NO ($(head -1 "$tmp/$p.valk") vs $(head -1 "$tmp/$p.lua"))"
  fi
  ratio=$(awk -v a="$tv" -v b="$tl" 'BEGIN { printf "%.2f", a / b }')
  printf "%-8s %16s %16s %9s  %s\n" "$p" "$tv ($wv)" "$tl ($wl)" "$ratio" "$same"
  if [ "$p" = fibers ]; then
    fibers_cpu_valk=$tv
    fibers_cpu_lua=$tl
  fi
done

echo
if [ -n "${fibers_cpu_valk:-}" ]; then
  # Per switch: the best CPU time less start-up, over the switch count; the
  # program also prints its loop's own wall-clock time ("switches S ms M").
  read -r _ sv _ mv < <(sed -n 2p "$tmp/fibers.valk")
  read -r _ sl _ ml < <(sed -n 2p "$tmp/fibers.lua")
  awk -v s="$sv" -v m="$mv" -v c="$fibers_cpu_valk" -v c0="$sv_valk" \
    -v sl="$sl" -v ml="$ml" -v cl="$fibers_cpu_lua" -v cl0="$sv_lua" 'BEGIN {
    printf "fiber switch: %.0f ns of CPU (valk spawn+await, %d switches; its in-loop now-ms timer, wall clock: %.0f ns)\n", (c - c0) * 1e9 / s, s, m * 1e6 / s
    printf "              %.0f ns of CPU (Lua coroutine create+resume; its in-loop os.clock, CPU: %.0f ns)\n", (cl - cl0) * 1e9 / sl, ml * 1e6 / sl
    printf "              target: under 100 ns\n"
  }'
fi

# Parked fibers: heap bytes as the collector counts them, and peak RSS of
# a run with N fibers against a run with none.
if [ "$parked" = no ]; then
  exit 0
fi
n=100000
/usr/bin/time -f "%M" -o "$tmp/rss0" "$VALK" run "$here/parked.lisp" 0 >/dev/null
/usr/bin/time -f "%M" -o "$tmp/rssn" "$VALK" run "$here/parked.lisp" "$n" >"$tmp/parked"
read -r _ _ _ heap _ per <"$tmp/parked"
awk -v n="$n" -v heap="$heap" -v per="$per" -v r0="$(tail -1 "$tmp/rss0")" \
  -v rn="$(tail -1 "$tmp/rssn")" 'BEGIN {
  printf "parked fiber: %d bytes of heap-stats :bytes-live per fiber (%d fibers, %d bytes)\n", per, n, heap
  printf "              %.0f bytes of peak RSS per fiber (%d KiB with %d fibers, %d KiB with none)\n", (rn - r0) * 1024 / n, rn, n, r0
  printf "              target: under 1 KiB\n"
}'
