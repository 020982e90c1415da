"""Near-duplicate search speed and memory: `picfind dupes --near` on synthetic CLIP-like vectors.

    .venv/bin/python benchmarks/dupes.py [--sizes 10000,100000]

Each collection gets 2% planted near-copies (a vector plus small noise, as a resized or
re-encoded photo gives). picfind compares block by block; the baseline computes the whole
similarity matrix at once (skipped where it would not fit in memory). Prints time, peak memory
of the comparison (tracemalloc) and whether every planted pair was found; the last line is JSON.
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

from picfind.dupes import DEFAULT_THRESHOLD, groups_of, similar_pairs  # noqa: E402


def with_copies(n: int, share: float = 0.02) -> tuple[np.ndarray, list[tuple[int, int]]]:
    matrix = clip_like(n)
    rng = np.random.default_rng(3)
    copies = int(n * share)
    sources = rng.choice(n - copies, copies, replace=False)
    noisy = matrix[sources] + rng.standard_normal((copies, matrix.shape[1])).astype(np.float32) * 0.01
    matrix[n - copies:] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return matrix, [(int(s), n - copies + i) for i, s in enumerate(sources)]


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
    print(f"{'vectors':>8} {'picfind s':>9} {'peak MB':>8} {'groups':>7} {'found':>6} "
          f"{'whole-matrix s':>14} {'peak MB':>8}")
    for n in (int(s) for s in args.sizes.split(",")):
        matrix, planted = with_copies(n)
        (groups, seconds, peak) = timed(lambda m=matrix: groups_of(len(m), similar_pairs(m, args.threshold)))
        grouped = {frozenset(g) for g in groups}
        found = sum(any(a in g and b in g for g in grouped) for a, b in planted) / len(planted)
        row = {"n": n, "seconds": round(seconds, 2), "peak_mb": round(peak), "groups": len(groups),
               "planted_found": found, "matrix_mb": round(matrix.nbytes / 1e6)}
        need_gb = n * n * 4 / 1e9
        if need_gb <= args.baseline_max_gb:
            _, base_s, base_peak = timed(lambda m=matrix: whole_matrix(m, args.threshold))
            row.update(baseline_seconds=round(base_s, 2), baseline_peak_mb=round(base_peak))
            base = f"{base_s:>14.2f} {base_peak:>8.0f}"
        else:
            base = f"{'(needs ' + format(need_gb, '.0f') + ' GB)':>23}"
        print(f"{n:>8} {seconds:>9.2f} {peak:>8.0f} {len(groups):>7} {found:>6.0%} {base}", flush=True)
        rows.append(row)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
