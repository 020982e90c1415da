"""A cold `picfind search` on an existing catalog: fresh processes, the text side forked beside the
index's opening (what picfind does from `FORK_FROM` vectors) against it on threads in the one
process (what it does below), alternating, so both see the same machine.

    .venv/bin/python benchmarks/cold_search.py --db DB --model MODEL [--runs 5] [--drop-caches]

Each run is a whole process's wall time, start to exit, with a query not asked before in that
run. `--drop-caches` adds one run of each from a dropped page cache (root only). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
WORDS = ["a dog asleep on a red sofa", "snow on a mountain road", "two children at the beach", "a bowl of ramen",
         "a red car in the rain", "an old church at night", "birthday cake with candles", "a cat on a windowsill"]
RUN = ("import sys, picfind.library.searching as s; s.FORK_FROM = {fork_from}; from picfind.cli.main import run; "
       "sys.argv = ['picfind', *sys.argv[1:]]; run()")


def once(db: str, model: str, query: str, forked: bool, drop: bool = False) -> float:
    if drop:
        subprocess.run("sync; echo 3 > /proc/sys/vm/drop_caches", shell=True, check=True)
    code = RUN.format(fork_from=0 if forked else 10**15)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, "search", query, "--db", db, "--model", model, "-n", "20"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)})
    took = time.perf_counter() - t
    if out.returncode:
        raise SystemExit(f"search failed: {out.stderr[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--drop-caches", action="store_true")
    args = ap.parse_args()
    times: dict[str, list[float]] = {"forked": [], "threads": []}
    once(args.db, args.model, "a first search maps the files into the page cache", True)
    for i in range(args.runs):
        for forked in (i % 2 == 0, i % 2 == 1):  # who goes first alternates
            took = once(args.db, args.model, f"{WORDS[i % len(WORDS)]} {i}", forked)
            times["forked" if forked else "threads"].append(round(took, 3))
    row: dict = {k: {"runs": v, "median": round(statistics.median(v), 3)} for k, v in times.items()}
    if args.drop_caches:
        for name, forked in (("forked", True), ("threads", False)):
            row[name]["dropped_cache"] = round(once(args.db, args.model, f"from the disk {name}", forked, True), 3)
    for name, figures in row.items():
        print(f"{name:8} median {figures['median']:.3f} s  runs {figures['runs']}"
              + (f"  dropped page cache {figures['dropped_cache']:.3f} s" if "dropped_cache" in figures else ""))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
