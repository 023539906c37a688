#!/usr/bin/env python3
"""Per-request instruction counts from a callgrind output file.

Usage: callgrind_summary.py FILE REQUESTS [TOP]

Prints the program's instructions per request, then the TOP functions by
self count (instructions in the function itself) and by inclusive count
(with what it calls). Reads the format callgrind writes without
--compress-strings=no: "fn=(id) name" names an id once, later lines give
the id alone; a "calls=" line is followed by the cost of that call, which
counts towards the caller's inclusive cost and not its self cost.

(callgrind_annotate 3.19 gives every function of the dump taken after
`callgrind_control -z` the whole count, as if all were inclusive, so it
cannot read this dump.)
"""
import collections
import re
import sys

NAME = re.compile(r"^(fn|cfn|ob|cob)=\((\d+)\)(?: (.*))?$")


def summarise(path):
    names = {}
    objects = {}  # object file ids: "ob=(id) path"
    object_of = {}  # function id -> the object it was first seen in
    ob = None
    self_cost = collections.Counter()
    inclusive = collections.Counter()
    fn = None
    call_cost_next = False
    with open(path) as f:
        for line in f:
            m = NAME.match(line.rstrip("\n"))
            if m:
                kind, ident, name = m.groups()
                if kind in ("ob", "cob"):
                    if name:
                        objects[ident] = name
                    if kind == "ob":
                        ob = ident
                    continue
                if name:
                    names[ident] = name
                if kind == "fn":
                    fn = ident
                    object_of.setdefault(ident, objects.get(ob, ""))
                continue
            if line.startswith("calls="):
                call_cost_next = True
                continue
            if not line[:1].isdigit() and line[:1] not in "+-*":
                continue
            parts = line.split()
            if len(parts) < 2 or fn is None:
                continue
            cost = int(parts[1])
            inclusive[fn] += cost
            if not call_cost_next:
                self_cost[fn] += cost
            call_cost_next = False
    # Functions without symbols (a library's static functions) are named
    # by their address; add the library's name.
    for ident, name in names.items():
        if name.startswith("0x") and object_of.get(ident):
            names[ident] = name + " in " + object_of[ident].rsplit("/", 1)[-1]
    return names, self_cost, inclusive


def main():
    path, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    names, self_cost, inclusive = summarise(path)
    total = sum(self_cost.values())
    print(f"instructions per request: {total / requests:,.0f}")
    for title, counts in (("self", self_cost), ("inclusive", inclusive)):
        print(f"\nby {title} count, per request:")
        for ident, cost in counts.most_common(top):
            name = names.get(ident, ident)
            print(f"{cost / requests:9,.0f} {100 * cost / total:5.1f}%  {name[:100]}")


if __name__ == "__main__":
    main()
