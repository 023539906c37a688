#!/usr/bin/env bash
# bench/serve/residence_summary.py pairs each connection's read with the
# write that answers it: a made-up trace of three requests on two
# connections (one answer in two writes) gives the times it was built with.
#   check_residence_summary.sh SOURCE_DIR
set -euo pipefail
out=$(python3 "$1/bench/serve/residence_summary.py" <<'TRACE'
 valk 7 [001] 100.000000: syscalls:sys_exit_epoll_wait: 0x2
 valk 7 [001] 100.000001: syscalls:sys_enter_read: fd: 0x00000007, buf: 0x7f00, count: 0x00010000
 valk 7 [001] 100.000002: syscalls:sys_enter_read: fd: 0x00000008, buf: 0x7f00, count: 0x00010000
 valk 7 [001] 100.000010: syscalls:sys_enter_write: fd: 0x00000007, buf: 0x7f00, count: 0x00000090
 valk 7 [001] 100.000012: syscalls:sys_enter_write: fd: 0x00000008, buf: 0x7f00, count: 0x00000090
 valk 7 [001] 100.000013: syscalls:sys_enter_write: fd: 0x00000008, buf: 0x7f00, count: 0x00000010
 valk 7 [001] 100.000013: syscalls:sys_enter_epoll_wait: epfd: 0x00000003, events: 0x7f00, maxevents: 0x00000400, timeout: 0xffffffff
 valk 7 [001] 100.000050: syscalls:sys_exit_epoll_wait: 0xfffffffffffffffc
 valk 7 [001] 100.000060: syscalls:sys_enter_epoll_wait: epfd: 0x00000003, events: 0x7f00, maxevents: 0x00000400, timeout: 0xffffffff
 valk 7 [001] 100.000100: syscalls:sys_exit_epoll_wait: 0x1
 valk 7 [001] 100.000101: syscalls:sys_enter_recvfrom: fd: 0x00000007, ubuf: 0x7f00, size: 0x00000400
 valk 7 [001] 100.000105: syscalls:sys_enter_writev: fd: 0x00000007, vec: 0x7f00, vlen: 0x00000005
TRACE
)
echo "$out"
expect() {
  grep -Eq "$1" <<<"$out" || { echo "expected a line matching: $1" >&2; exit 1; }
}
expect '^3 requests traced$'
#       residence 9, 10 (not 11: the second write is the same answer), 4 µs
expect '^residence \(us\) +4 +9 +10 +10 +10 +7\.7$'
#       outside: 91 µs (fd 7, write at 10, next read at 101)
expect '^outside \(us\) +91 +91 +91 +91 +91 +91\.0$'
expect '^cycle \(us\) +100 +100 +100 +100 +100 +100\.0$'
#       per poll: 2 and 1; the EINTR exit is not a poll's count
expect '^connections per poll +1 +2 +2 +2 +2 +1\.5$'
