#!/usr/bin/env bash
# The benchmark's native hello server answers over HTTP/1.1, h2c and h2
# over TLS (so bench/net/hello.sh measures what it claims to).
#   check_hello_server.sh HELLO_SERVER_BIN SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
log=$(mktemp)
"$bin" --port 0 --tls-port 0 --tls-cert "$src/certs/dev.crt" --tls-key "$src/certs/dev.key" \
  --reactors 1 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do
  grep -q "listening" "$log" && break
  sleep 0.1
done
read -r port tls_port < <(sed -n 's/.*listening on \([0-9]*\), TLS on \([0-9]*\).*/\1 \2/p' "$log")
[ -n "${tls_port:-}" ] || { cat "$log"; exit 1; }
check() {
  local got
  got=$(curl -sS --max-time 5 "$@")
  if [ "$got" != "Hello, World!" ]; then
    echo "curl $*: got '$got'" >&2
    exit 1
  fi
}
check --http1.1 "http://127.0.0.1:$port/"
check --http2-prior-knowledge "http://127.0.0.1:$port/any/path"
check -k --http2 "https://127.0.0.1:$tls_port/"
kill -TERM $pid
wait $pid
echo "hello_server answered on HTTP/1.1, h2c and h2 over TLS, and stopped on SIGTERM"
