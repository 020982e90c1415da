"""Exact search speed: ms per query at 10k, 100k and 1M CLIP-like vectors, one thread.

picfind's search (matrix product + argpartition) runs beside the baseline of a full sort
(`argsort` of every score), on the same vectors and queries, in one run.

    .venv/bin/python benchmarks/search.py [--sizes 10000,100000,1000000] [--queries 50]

Vectors imitate CLIP's (see vectors.py), queries sit off the image distribution (CLIP's
modality gap). The last line is JSON.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # a single query is memory-bound: pin one thread
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from vectors import clip_like, queries  # noqa: E402

from picfind.catalogs.sqlite.vectors import ExactIndex  # noqa: E402


def full_sort(matrix: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """The baseline: score everything, sort everything."""
    return np.argsort(-(matrix @ q))[:k]


def time_queries(fn, qs: np.ndarray) -> float:
    fn(qs[0])  # warm up
    start = time.perf_counter()
    for q in qs:
        fn(q)
    return (time.perf_counter() - start) / len(qs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("-k", type=int, default=20)
    args = ap.parse_args()
    qs = queries(args.queries)
    rows = []
    print(f"{'vectors':>10} {'picfind ms':>11} {'full sort ms':>13} {'float32 MB':>11}")
    for n in (int(s) for s in args.sizes.split(",")):
        vs = ExactIndex(np.arange(n), clip_like(n))
        ours = time_queries(lambda q, vs=vs, k=args.k: vs.top(q, k), qs)
        base = time_queries(lambda q, vs=vs, k=args.k: full_sort(vs.matrix, q, k), qs)
        assert [i for i, _ in vs.top(qs[0], args.k)] == list(full_sort(vs.matrix, qs[0], args.k))
        size_mb = vs.matrix.nbytes / 1e6
        rows.append({"n": n, "picfind_ms": round(ours, 2), "full_sort_ms": round(base, 2), "size_mb": round(size_mb)})
        print(f"{n:>10} {ours:>11.2f} {base:>13.2f} {size_mb:>11.0f}", flush=True)
        del vs
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
