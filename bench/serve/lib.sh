# shellcheck shell=bash
# Sourced by the bench/serve scripts that start `valk serve --port 0`.

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
