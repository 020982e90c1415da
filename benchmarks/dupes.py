"""Near-duplicate search speed and memory: `picfind dupes --near` on synthetic CLIP-like vectors.

    .venv/bin/python benchmarks/dupes.py [--sizes 10000,100000]

Each collection gets 2% planted near-copies (a vector plus small noise, as a resized or
re-encoded photo gives). picfind compares block by block (catalogs searched exactly), or asks
the hnsw index for each vector's neighbours (catalogs past 100k, where the index exists; its
build time is shown apart, since the catalog already has it); the baseline computes the whole
similarity matrix at once (skipped where it would not fit in memory). Prints time, peak memory
of the comparison (tracemalloc) and the share of planted pairs found; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from vectors import clip_like  # noqa: E402

from picfind.catalogs.sqlite.vectors import HnswIndex, IndexSettings  # noqa: E402
from picfind.search.dupes import DEFAULT_THRESHOLD, groups_of, neighbour_pairs, similar_pairs  # noqa: E402


def with_copies(n: int, share: float = 0.02) -> tuple[np.ndarray, list[tuple[int, int]]]:
    matrix = clip_like(n)
    rng = np.random.default_rng(3)
    copies = int(n * share)
    sources = rng.choice(n - copies, copies, replace=False)
    noisy = matrix[sources] + rng.standard_normal((copies, matrix.shape[1])).astype(np.float32) * 0.01
    matrix[n - copies:] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return matrix, [(int(s), n - copies + i) for i, s in enumerate(sources)]


def found_share(groups: list[list[int]], planted: list[tuple[int, int]]) -> float:
    group_of = {row: k for k, g in enumerate(groups) for row in g}
    return sum(a in group_of and group_of.get(b) == group_of[a] for a, b in planted) / len(planted)


def timed(fn):
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak / 1e6


def whole_matrix(matrix: np.ndarray, threshold: float) -> int:
    scores = matrix @ matrix.T
    return int(np.count_nonzero(np.triu(scores >= threshold, 1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--baseline-max-gb", type=float, default=4.0, help="skip the baseline above this matrix size")
    args = ap.parse_args()
    rows = []
    print(f"{'vectors':>8} {'blockwise s':>11} {'peak MB':>8} {'found':>6} {'hnsw s':>7} {'found':>6} "
          f"{'(build s)':>9} {'whole-matrix s':>14} {'peak MB':>8}")
    for n in (int(s) for s in args.sizes.split(",")):
        matrix, planted = with_copies(n)
        groups, seconds, peak = timed(lambda m=matrix: groups_of(len(m), similar_pairs(m, args.threshold)))
        ids = np.arange(n, dtype=np.int64)
        start = time.perf_counter()
        index = HnswIndex.build(ids, matrix, 0, IndexSettings())
        build = time.perf_counter() - start
        via_index, index_s, _ = timed(lambda m=matrix, ix=index, i=ids: groups_of(
            len(m), neighbour_pairs(ix.nearest, i, m, args.threshold)))
        row = {"n": n, "seconds": round(seconds, 2), "peak_mb": round(peak), "groups": len(groups),
               "planted_found": found_share(groups, planted), "hnsw_seconds": round(index_s, 2),
               "hnsw_planted_found": found_share(via_index, planted), "hnsw_build_seconds": round(build, 1),
               "matrix_mb": round(matrix.nbytes / 1e6)}
        need_gb = n * n * 4 / 1e9
        if need_gb <= args.baseline_max_gb:
            _, base_s, base_peak = timed(lambda m=matrix: whole_matrix(m, args.threshold))
            row.update(baseline_seconds=round(base_s, 2), baseline_peak_mb=round(base_peak))
            base = f"{base_s:>14.2f} {base_peak:>8.0f}"
        else:
            base = f"{'(needs ' + format(need_gb, '.0f') + ' GB)':>23}"
        print(f"{n:>8} {seconds:>11.2f} {peak:>8.0f} {row['planted_found']:>6.0%} {index_s:>7.2f} "
              f"{row['hnsw_planted_found']:>6.0%} {build:>9.1f} {base}", flush=True)
        rows.append(row)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
