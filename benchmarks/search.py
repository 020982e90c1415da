"""Exact search speed: ms per query at 10k, 100k and 1M CLIP-like vectors, one thread.

picfind's search (matrix product + argpartition) runs beside the baseline of a full sort
(`argsort` of every score), on the same vectors and queries, in one run.

    .venv/bin/python benchmarks/search.py [--sizes 10000,100000,1000000] [--queries 50]

Vectors imitate CLIP's: 512-d unit vectors in clusters, and queries drawn off the image
distribution (CLIP's modality gap) rather than from it. The last line is JSON.
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
from picfind.search import VectorSet  # noqa: E402


def clip_like(n: int, dim: int = 512, clusters: int = 1000, seed: int = 0) -> np.ndarray:
    """Unit vectors around shared directions, built in chunks to keep memory at the result's size."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    common = rng.standard_normal(dim).astype(np.float32) * 0.6  # every image shares a direction
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        v = centres[rng.integers(0, clusters, m)] + common + rng.standard_normal((m, dim)).astype(np.float32) * 0.7
        out[start:start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def queries(n: int, dim: int = 512, seed: int = 1) -> np.ndarray:
    """Text-like queries: near some cluster but shifted off the image cone (modality gap)."""
    rng = np.random.default_rng(seed)
    base = clip_like(n, dim, seed=0)  # same centres as the images
    gap = rng.standard_normal(dim).astype(np.float32)
    q = base + 1.2 * gap / np.linalg.norm(gap) + rng.standard_normal((n, dim)).astype(np.float32) * 0.05
    return q / np.linalg.norm(q, axis=1, keepdims=True)


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
        vs = VectorSet([str(i) for i in range(n)], clip_like(n))
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
