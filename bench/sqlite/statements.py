"""The statements of statements.lisp through Python's sqlite3 module, one
after another on one connection with the same settings (WAL,
synchronous=NORMAL): what the library does with no event loop, no thread
pool and no fibers in between. Prints 'label<TAB>statements/s' lines."""
import os
import sqlite3
import sys
import time

n = int(os.environ.get("STATEMENTS", "200000"))
rows = n // 10

db = sqlite3.connect(sys.argv[1], isolation_level=None, cached_statements=128)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=NORMAL")
db.execute("CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT)")
db.execute("DELETE FROM kv")


def run(label, n, f):
    t0 = time.monotonic()
    for i in range(n):
        f(i)
    print(f"{label}\t{int(n / (time.monotonic() - t0))}")


run("select_param", n, lambda i: db.execute("SELECT ? AS n", (i,)).fetchall())
run("insert_commit", rows, lambda i: db.execute("INSERT INTO kv VALUES (?, 'x')", (i,)))
run("select_by_key", n, lambda i: db.execute("SELECT v FROM kv WHERE k = ?", (i % rows,)).fetchall())
