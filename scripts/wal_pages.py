#!/usr/bin/env python3
"""Which tables and indexes one SQLite transaction wrote, page by page.

Reads DIR/custos.db and DIR/custos.db-wal (as `freeze_latency --wal-copy DIR` leaves them: the WAL
checkpointed just before the freeze, so its first transaction is the freeze) and prints the pages
of the WAL's first committed transaction by B-tree, with the page kinds `dbstat` reports.
"""
import collections
import shutil
import sqlite3
import struct
import sys
import tempfile
from pathlib import Path


def first_transaction(wal: bytes):
    page_size = struct.unpack(">I", wal[8:12])[0]
    frames, off = [], 32
    while off + 24 + page_size <= len(wal):
        pgno, commit_size = struct.unpack(">II", wal[off:off + 8])
        frames.append(pgno)
        off += 24 + page_size
        if commit_size:
            return page_size, frames
    raise SystemExit("no committed transaction in the WAL")


def main():
    src = Path(sys.argv[1])
    page_size, frames = first_transaction((src / "custos.db-wal").read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        for f in ("custos.db", "custos.db-wal"):
            shutil.copy(src / f, Path(tmp) / f)
        db = sqlite3.connect(Path(tmp) / "custos.db")
        owner = {p: (n, t) for n, p, t in db.execute("SELECT name, pageno, pagetype FROM dbstat")}
    by = collections.defaultdict(list)
    for p in frames:
        name, kind = owner.get(p, ("(free or new)", "?"))
        by[name].append(kind)
    print(f"{len(frames)} frames ({len(set(frames))} distinct pages of {page_size} bytes), "
          f"{len(by)} B-trees")
    for name, kinds in sorted(by.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(kinds):3d}  {name:32s} {dict(collections.Counter(kinds))}")


if __name__ == "__main__":
    main()
