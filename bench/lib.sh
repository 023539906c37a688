# shellcheck shell=bash
# Sourced by the bench scripts.

# require_tools "PACKAGES" TOOL...: exits, naming the Debian packages to
# install, unless every TOOL is on the PATH.
require_tools() {
  local packages=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || {
      echo "missing $tool (apt-get install -y $packages)" >&2
      exit 1
    }
  done
}

# usage: the sourcing script's header comment (its lines after the first
# up to the first that is not a comment), without the "# ".
usage() { awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0"; }

# one_argument "$@": for a script that takes one argument (a valk build):
# -h or --help prints the usage; no argument prints it to stderr and
# exits 2.
one_argument() {
  case ${1:-} in
    -h | --help) usage && exit 0 ;;
    "") usage >&2 && exit 2 ;;
  esac
}

# quantiles Q...: reads numbers, one per line, and prints the value at each
# quantile Q (0.5, 0.99, ...) on one line; zeros when there are none.
quantiles() {
  sort -n | awk -v qs="$*" '
    { v[NR] = $1 }
    END {
      n = split(qs, q, " ")
      for (k = 1; k <= n; k++) {
        i = int(NR * q[k])
        printf "%s%s", (NR == 0 ? 0 : v[i < 1 ? 1 : i]), (k < n ? " " : "\n")
      }
    }'
}

# nginx_listen_flags PROTO: what follows the address in nginx's `listen`
# for h1, h1tls, h2c (prior knowledge) or h2 (nginx 1.22 syntax).
nginx_listen_flags() {
  case $1 in
    h1) echo "" ;;
    h1tls) echo "ssl" ;;
    h2c) echo "http2" ;;
    h2) echo "ssl http2" ;;
    *) echo "nginx_listen_flags: no protocol $1" >&2 && return 1 ;;
  esac
}

# A free TCP port on 127.0.0.1 (for servers that cannot take port 0).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port LOG [SECONDS]: prints the port valk serve reported in LOG
# ("serving ... on http(s)://HOST:PORT ..."), waiting for it up to SECONDS
# (10); otherwise prints LOG to stderr and fails.
wait_for_port() {
  local log=$1 port=
  for _ in $(seq $((${2:-10} * 10))); do
    port=$(sed -n 's/.*serving .* on https\?:\/\/[^ ]*:\([0-9]*\) .*/\1/p' "$log")
    if [ -n "$port" ]; then
      echo "$port"
      return 0
    fi
    sleep 0.1
  done
  cat "$log" >&2
  return 1
}

# wait_for_gateway NAME URL H2LOAD_FLAGS...: waits (5 s at most) until one
# request to URL through the gateway NAME succeeds; exits if none does.
wait_for_gateway() {
  local name=$1 url=$2
  shift 2
  for _ in $(seq 50); do
    h2load "$@" -c 1 -n 1 "$url" 2>/dev/null | grep -q ' 1 succeeded' && return 0
    sleep 0.1
  done
  echo "$name did not answer through the gateway" >&2
  exit 1
}

# Seconds (maybe fractional) as h2load takes them: whole milliseconds.
ms() { awk -v s="$1" 'BEGIN { printf "%dms", s * 1000 }'; }

# measure_h2load PID URL H2LOAD_FLAGS...: runs h2load on CPU 0 against URL
# for $WARMUP then $DURATION seconds, logging every request's time, and
# reads the CPU time of server PID over the measured part. Prints
# "req/s usr_us sys_us p50 p90 p99 p99.9": the CPU per request and the
# percentiles in µs. Exits with h2load's output if a request failed. Its
# files go in $work.
measure_h2load() {
  local pid=$1 url=$2 load u0 s0 u1 s1 n rps p50 p90 p99 p999
  local tick_us=$((1000000 / $(getconf CLK_TCK)))
  shift 2
  rm -f "$work/req.log"  # h2load appends to its log
  taskset -c 0 h2load "$@" -D "$(ms "$DURATION")" --warm-up-time "$(ms "$WARMUP")" \
    --log-file "$work/req.log" "$url" >"$work/h2load" 2>&1 &
  load=$!
  sleep "$WARMUP"  # the CPU of the measured part, to within a tick or two
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  wait "$load" || true  # a failure shows in its output, checked below
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  n=$(sed -n 's/^requests: \([0-9]*\) total, [0-9]* started, \([0-9]*\) done, \2 succeeded.*/\1/p' "$work/h2load")
  if [ -z "$n" ] || [ "$n" -eq 0 ] || [ "$(wc -l <"$work/req.log")" != "$n" ]; then
    cat "$work/h2load" >&2
    exit 1
  fi
  rps=$(sed -n 's/^finished in [0-9.]*m\{0,1\}s, \([0-9.]*\) req\/s.*/\1/p' "$work/h2load")
  read -r p50 p90 p99 p999 <<<"$(cut -f3 "$work/req.log" | quantiles 0.5 0.9 0.99 0.999)"
  awk -v u=$(((u1 - u0) * tick_us)) -v s=$(((s1 - s0) * tick_us)) -v n="$n" -v r="$rps" \
    -v q="$p50 $p90 $p99 $p999" 'BEGIN { printf "%.0f %.2f %.2f %s\n", r, u / n, s / n, q }'
}

# print_medians FILE [FORMATS]: FILE's lines are "ROUND NAME value...";
# prints, for each NAME, the median of each column over its rounds, as
# round "med". FORMATS are Python format specs, one per column, the last
# for the rest (by default those of "req/s usr_us sys_us p50...").
print_medians() {
  python3 - "$1" "${2:-9.0f 7.2f 7.2f 7.0f}" <<'PY'
import statistics, sys
formats = sys.argv[2].split()
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if not f or not f[0].isdigit():
        continue
    rows.setdefault(f[1], []).append([float(x) for x in f[2:]])
width = max(len(name) for name in rows) if rows else 0
for name, runs in rows.items():
    med = [statistics.median(col) for col in zip(*runs)]
    spec = lambda i: formats[min(i, len(formats) - 1)]
    print(f"{'med':5s} {name:{max(width, 8)}s} "
          + " ".join(format(x, spec(i)) for i, x in enumerate(med)))
PY
}

# nginx_on NAME PORT CPU FLAGS BODY: an nginx (one process, in the
# foreground) on 127.0.0.1:PORT with `listen` FLAGS (nginx_listen_flags),
# on CPU CPU, its files in $work/NAME, whose server block is BODY; its
# upstream `up` is 127.0.0.1:$upstream_port with 64 kept connections.
# Sets pid, and adds it to pids.
nginx_on() {
  local name=$1 port=$2 cpu=$3 flags=$4 body=$5
  mkdir -p "$work/$name"
  cat >"$work/$name/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $work/$name/nginx.pid;
error_log $work/$name/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/$name;
  proxy_temp_path $work/$name;
  fastcgi_temp_path $work/$name;
  uwsgi_temp_path $work/$name;
  scgi_temp_path $work/$name;
  upstream up { server 127.0.0.1:${upstream_port:-0}; keepalive 64; }
  server {
    listen 127.0.0.1:$port $flags;
    $body
  }
}
EOF
  taskset -c "$cpu" nginx -p "$work/$name" -c "$work/$name/nginx.conf" 2>"$work/$name/log" &
  pid=$!
  pids+=("$pid")
}
