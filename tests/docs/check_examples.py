#!/usr/bin/env python3
"""Runs the examples of a Markdown document with `valk eval`.

Usage: check_examples.py VALK DOC.md

Every fenced ```lisp block is an example. A line `;; => VALUE` inside a
block states what the code above it prints: the block's code from its first
line up to that marker is evaluated with `valk eval` (so earlier
definitions in the block are in scope) and the last line printed must be
VALUE. A block without markers must evaluate without an error. Blocks
fenced with any other language tag (```text, ```clojure, ```sh) are not
run.

Exit status: 0 when every example passes, 1 otherwise.
"""

import re
import subprocess
import sys

MARKER = re.compile(r"^\s*;; => (.*)$")
FENCE_OPEN = re.compile(r"^(\s*)```lisp\s*$")
FENCE_CLOSE = re.compile(r"^\s*```\s*$")


def blocks(path):
    """Yields (first line number, list of lines) for each ```lisp block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if m := FENCE_OPEN.match(lines[i]):
            indent = len(m.group(1))  # a block inside a list item is indented
            start = i + 2  # 1-based number of the block's first line
            body = []
            i += 1
            while i < len(lines) and not FENCE_CLOSE.match(lines[i]):
                body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
                i += 1
            yield start, body
        i += 1


def run(valk, code):
    try:
        p = subprocess.run([valk, "eval", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None, "", "timed out after 60 s"
    return p.returncode, p.stdout, p.stderr


def check_block(valk, doc, start, body):
    """Returns a list of failure descriptions for one block."""
    failures = []
    checks = [(n, m.group(1).strip()) for n, line in enumerate(body)
              if (m := MARKER.match(line))]
    if not checks:
        checks = [(len(body), None)]
    for n, expected in checks:
        code = "\n".join(body[:n])
        where = f"{doc}:{start + n}"
        rc, out, err = run(valk, code)
        if rc != 0:
            failures.append(f"{where}: exit status {rc}\n--- code\n{code}\n--- stderr\n{err.strip()}")
            continue
        if expected is None:
            continue
        printed = out.rstrip("\n").split("\n")[-1] if out.strip() else ""
        if printed != expected:
            failures.append(f"{where}: expected {expected}\n{' ' * len(where)}  printed  {printed}"
                            f"\n--- code\n{code}")
    return failures


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    valk, doc = sys.argv[1], sys.argv[2]
    failures = []
    examples = 0
    for start, body in blocks(doc):
        examples += 1
        failures += check_block(valk, doc, start, body)
    for f in failures:
        print("FAIL " + f + "\n")
    print(f"{examples} examples, {len(failures)} failures")
    return 1 if failures or examples == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
