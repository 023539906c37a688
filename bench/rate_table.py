#!/usr/bin/env python3
"""Medians of alternated rounds, valk beside a peer, as a table.

Usage: rate_table.py RESULTS KIND PEER

RESULTS has a line "WHO<tab>LABEL<tab>RATE" per run (WHO is valk or PEER);
the table has a row per LABEL (a KIND: statement, command) with each one's
median rate a second and valk's over the peer's.
"""
import statistics
import sys

results, kind, peer = sys.argv[1:4]
runs = {}
for line in open(results, encoding="utf-8"):
    who, label, rate = line.split()
    runs.setdefault(label, {}).setdefault(who, []).append(int(rate))
width = max(len(peer) + 2, 10) + 2
print(f"{kind:<15}{'valk/s':>12}{peer + '/s':>{width}}{'ratio':>8}")
for label, by in runs.items():
    v, p = statistics.median(by["valk"]), statistics.median(by[peer])
    print(f"{label:<15}{v:>12.0f}{p:>{width}.0f}{v / p:>8.2f}")
