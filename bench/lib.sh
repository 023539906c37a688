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
