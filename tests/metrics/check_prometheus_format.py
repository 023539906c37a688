#!/usr/bin/python3
"""Scrapes `valk serve --metrics` and reads it with Prometheus' own Python
client parser (Debian's python3-prometheus-client): the text must parse,
each family come once with its HELP and TYPE, counters be named *_total,
and the request-duration histogram be cumulative.

    check_prometheus_format.py VALK REPO
"""
import re
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def wait_for(proc, pattern, seconds=20):
    text = ""
    deadline = time.time() + seconds
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        text += line
        m = re.search(pattern, text)
        if m:
            return m
    fail(f"no line matching {pattern!r} in:\n{text}")


def main(valk, repo):
    proc = subprocess.Popen(
        [valk, "serve", "--port", "0", "--metrics", "0", f"{repo}/examples/hello.lisp"],
        stderr=subprocess.PIPE, text=True)
    try:
        app = wait_for(proc, r"serving .* on http://127\.0\.0\.1:(\d+)").group(1)
        metrics = wait_for(proc, r"metrics on (http://127\.0\.0\.1:\d+/metrics)").group(1)
        for path in ["/", "/", "/missing"]:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{app}{path}").read()
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
        reply = urllib.request.urlopen(metrics)
        if reply.headers["content-type"] != "text/plain; version=0.0.4; charset=utf-8":
            fail(f"content-type {reply.headers['content-type']}")
        text = reply.read().decode()
    finally:
        proc.terminate()
        proc.wait(20)

    families = list(text_string_to_metric_families(text))
    names = [f.name for f in families]
    if len(names) != len(set(names)):
        fail(f"a family comes twice: {sorted(n for n in names if names.count(n) > 1)}")
    for f in families:
        if not f.documentation:
            fail(f"{f.name} has no HELP")
        if f.type == "unknown":
            fail(f"{f.name} has no TYPE")
        for s in f.samples:
            if s.value < 0:
                fail(f"{s.name} is negative")
    # The parser drops a counter's _total from the family name; the raw
    # text must carry it.
    for f in families:
        if f.type == "counter" and f"# TYPE {f.name}_total counter\n" not in text:
            fail(f"counter {f.name} is not named {f.name}_total")

    by_name = {f.name: f for f in families}
    expected = {"valk_requests": "counter", "valk_connections_open": "gauge",
                "valk_request_duration_seconds": "histogram", "valk_workers": "gauge",
                "valk_handler_errors": "counter", "process_cpu_seconds": "counter",
                "process_resident_memory_bytes": "gauge", "valk_build_info": "gauge"}
    for name, kind in expected.items():
        if name not in by_name or by_name[name].type != kind:
            fail(f"no {kind} {name}")

    hist = by_name["valk_request_duration_seconds"].samples
    buckets = [(float(s.labels["le"]), s.value) for s in hist if s.name.endswith("_bucket")]
    if [b[0] for b in buckets] != sorted(b[0] for b in buckets) or buckets[-1][0] != float("inf"):
        fail(f"bucket bounds out of order: {buckets}")
    if any(later < earlier for (_, earlier), (_, later) in zip(buckets, buckets[1:])):
        fail(f"buckets not cumulative: {buckets}")
    count = next(s.value for s in hist if s.name.endswith("_count"))
    if count != buckets[-1][1] or count != 3:
        fail(f"_count {count}, +Inf {buckets[-1][1]}, requests 3")
    requests = {s.labels["protocol"]: s.value for s in by_name["valk_requests"].samples}
    if requests != {"http1": 3, "http2": 0}:
        fail(f"valk_requests_total {requests}")
    print(f"ok: {len(families)} families, {sum(len(f.samples) for f in families)} samples")


main(sys.argv[1], sys.argv[2])
