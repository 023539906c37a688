#!/usr/bin/env python3
"""Summarises `perf script` output of a server's read/recvfrom,
write/writev and epoll_wait tracepoints under HTTP/1.1 closed-loop load
(bench/serve/residence.sh): per connection, a read takes a request and the
next write answers it.

Reads the trace on stdin; prints percentiles, in microseconds, of the
server's residence (read -> write), the time outside it (write -> next
read), the cycle (read -> next read), and the connections returned per
epoll_wait.
"""
import re
import sys

EVENT = re.compile(r"\s(\d+\.\d+):\s+syscalls:sys_(enter|exit)_(\w+):\s*(.*)")
FD = re.compile(r"fd: (0x[0-9a-f]+)")
READS = {"read", "recvfrom"}
WRITES = {"write", "writev"}


def percentiles(values):
    values = sorted(values)
    n = len(values)
    if n == 0:
        return "none"
    cells = [f"{values[min(n - 1, int(n * q))]:7.0f}" for q in (0.1, 0.5, 0.9, 0.99, 0.999)]
    return " ".join(cells) + f" {sum(values) / n:7.1f}"


def main():
    last_read, last_write = {}, {}
    residence, outside, cycle, per_poll = [], [], [], []
    for line in sys.stdin:
        m = EVENT.search(line)
        if not m:
            continue
        t = float(m.group(1)) * 1e6
        direction, call, args = m.group(2), m.group(3), m.group(4)
        if call == "epoll_wait":
            if direction == "exit":
                ready = int(args.strip(), 16)
                if ready < 1 << 63:  # not an error (EINTR)
                    per_poll.append(ready)
            continue
        fd = FD.search(args)
        if not fd:
            continue
        fd = int(fd.group(1), 16)
        if call in READS:
            # A read that finds nothing (EAGAIN) would pair wrongly, but a
            # server polling level- or edge-triggered reads a closed-loop
            # connection once per request.
            if fd in last_write and last_write[fd] > last_read.get(fd, 0):
                outside.append(t - last_write[fd])
            if fd in last_read:
                cycle.append(t - last_read[fd])
            last_read[fd] = t
        elif call in WRITES and fd in last_read:
            if last_write.get(fd, 0) < last_read[fd]:
                residence.append(t - last_read[fd])
            last_write[fd] = t
    if not residence:
        sys.exit("no request traced: is the server answering on read/recvfrom and write/writev?")
    print(f"{len(residence)} requests traced")
    print(f"{'':22}{'p10':>7} {'p50':>7} {'p90':>7} {'p99':>7} {'p99.9':>7} {'mean':>7}")
    print(f"{'residence (us)':22}{percentiles(residence)}")
    print(f"{'outside (us)':22}{percentiles(outside)}")
    print(f"{'cycle (us)':22}{percentiles(cycle)}")
    print(f"{'connections per poll':22}{percentiles(per_poll)}")


if __name__ == "__main__":
    main()
