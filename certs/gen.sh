#!/usr/bin/env bash
# Regenerates the development certificates in this directory:
#   ca.crt/ca.key          a throwaway certificate authority
#   dev.crt/dev.key        server certificate for localhost, 127.0.0.1, ::1
#   other.crt/other.key    second server certificate for other.test (SNI tests)
#   client.crt/client.key  client certificate (mTLS tests), CN=valk-test-client
# Never use these outside development: the keys are public.
set -euo pipefail
cd "$(dirname "$0")"
days=3650
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days $days \
  -subj "/CN=valk dev CA" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
issue() {  # name subject san extendedKeyUsage
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=%s\n%s\n' "$4" "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue dev "/CN=localhost" "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
issue other "/CN=other.test" "subjectAltName=DNS:other.test" serverAuth
issue client "/CN=valk-test-client" "" clientAuth
rm -f ca.srl
echo "certificates regenerated in $(pwd)"
