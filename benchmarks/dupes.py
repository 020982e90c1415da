"""Near-duplicate search speed and memory: `picfind dupes --near` on synthetic CLIP-like vectors.

    .venv/bin/python benchmarks/dupes.py [--sizes 10000,100000]

Each collection gets 2% planted near-copies (a vector plus small noise, as a resized or
re-encoded photo gives). picfind compares block by block (catalogs searched exactly), or asks
the hnsw index for each vector's neighbours (catalogs past 100k, where the index exists; its
build time is shown apart, since the catalog already has it); the baseline computes the whole
similarity matrix at once (skipped where it would not fit in memory). Prints time, peak memory
of the comparison (tracemalloc) and the share of planted pairs found; the last line is JSON.

    .venv/bin/python benchmarks/dupes.py --videos 40,80 [--frames 600]

    .venv/bin/python benchmarks/dupes.py --loose 2000

A loose threshold: picfind (each picture's 16 nearest, threshold 0.5, its lowest) against the
earlier design (every pair above the threshold kept, as `threshold=-1` asked), in time, peak
memory (tracemalloc) and pairs kept; then the default threshold on the same vectors.

Videos instead: each is a sequence of kept frames (a slow random walk on the sphere, 20 to
`--frames` frames), all opening on the same frame (a black first second: every pair of videos
is a candidate, the worst case), 10% of them re-encoded copies (each frame plus small noise).
Times `search.dupes.video_pairs`, the frame-sequence comparison of every candidate pair, against
the earlier design (an LCS with a Python loop over every cell, no bounds) on the same pairs.
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
from picfind.search import dupes  # noqa: E402
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


def naive_in_order(near: np.ndarray) -> int:
    """The earlier LCS: a Python step per cell."""
    best = np.zeros(near.shape[1] + 1, np.int64)
    for row in near:
        diagonal = best[:-1] + row
        for j in range(near.shape[1]):
            best[j + 1] = max(best[j + 1], best[j], diagonal[j])
    return int(best[-1])


def video_set(videos: int, max_frames: int, dim: int = 512) -> tuple[np.ndarray, dict[int, str], int]:
    """Kept frames of `videos` videos as catalog rows (keys "<video>@<start>-<end>"), 10% copies."""
    rng = np.random.default_rng(7)
    opening = rng.standard_normal(dim).astype(np.float32)
    seqs = []
    for _ in range(videos - videos // 10):
        n = int(rng.integers(20, max_frames + 1))
        steps = rng.standard_normal((n, dim)).astype(np.float32) * 0.35
        walk = rng.standard_normal(dim).astype(np.float32) * 3 + np.cumsum(steps, axis=0)
        walk[0] = opening
        seqs.append(walk)
    for v in range(videos // 10):  # re-encoded copies
        src = seqs[v]
        seqs.append(src + rng.standard_normal(src.shape).astype(np.float32) * 0.01 * np.linalg.norm(src[0]))
    rows, keys = [], {}
    for v, seq in enumerate(seqs):
        for k, vec in enumerate(seq):
            keys[len(rows)] = f"video{v:04d}@{k * 2000}-{k * 2000 + 2000}"
            rows.append(vec / np.linalg.norm(vec))
    return np.stack(rows).astype(np.float32), keys, videos // 10


def videos_main(counts: list[int], max_frames: int, threshold: float) -> None:
    rows = []
    print(f"{'videos':>6} {'frames':>7} {'candidate pairs':>15} {'picfind s':>9} {'earlier s':>9} {'groups':>6} "
          f"{'copies found':>12}")
    for count in counts:
        matrix, keys, copies = video_set(count, max_frames)
        ids = np.arange(len(matrix), dtype=np.int64)
        pairs = similar_pairs(matrix, threshold)
        start = time.perf_counter()
        found = dupes.video_pairs(ids, keys, pairs, matrix, threshold)
        seconds = time.perf_counter() - start
        fast_in_order = dupes._in_order
        dupes._in_order = naive_in_order
        try:
            naive_share = dupes.VIDEO_SHARE
            start = time.perf_counter()
            # the earlier design: every candidate pair through the per-cell LCS, no bounds first
            videos = {}
            for r, key in keys.items():
                videos.setdefault(key.split("@")[0], []).append(r)
            candidates = {(keys[i].split("@")[0], keys[j].split("@")[0]) for i, j, _ in pairs
                          if keys[i].split("@")[0] != keys[j].split("@")[0]}
            earlier = sum(naive_in_order(matrix[videos[a]] @ matrix[videos[b]].T >= threshold)
                          >= naive_share * max(len(videos[a]), len(videos[b])) for a, b in sorted(candidates))
            earlier_s = time.perf_counter() - start
        finally:
            dupes._in_order = fast_in_order
        video_found = [p for p in found if "@" in keys[p[0]] and "@" in keys[p[1]]]
        assert len(video_found) == earlier, (len(video_found), earlier)  # the same pairs, exactly
        row = {"videos": count, "frames": len(matrix), "candidate_pairs": len(candidates), "seconds": round(seconds, 3),
               "earlier_seconds": round(earlier_s, 2), "video_pairs": len(video_found), "planted": copies}
        rows.append(row)
        print(f"{count:>6} {len(matrix):>7} {len(candidates):>15} {seconds:>9.3f} {earlier_s:>9.2f} "
              f"{len(video_found):>6} {len(video_found):>5}/{copies}", flush=True)
    print(json.dumps(rows))


def unbounded_pairs(matrix: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """The earlier blockwise pass: every pair above the threshold, however many."""
    n, pairs = len(matrix), []
    block = max(1, dupes.BLOCK_SCORES // n)
    for start in range(0, n, block):
        scores = matrix[start:start + block] @ matrix.T
        rows, cols = np.nonzero(scores >= threshold)
        keep = cols > rows + start
        rows, cols = rows[keep], cols[keep]
        pairs += zip((rows + start).tolist(), cols.tolist(), scores[rows, cols].tolist())
    return pairs


def loose_main(n: int) -> None:
    matrix, _ = with_copies(n)
    rows = []
    for label, fn in (("picfind, threshold 0.5", lambda: similar_pairs(matrix, 0.5)),
                      ("earlier, threshold -1", lambda: unbounded_pairs(matrix, -1.0)),
                      (f"picfind, threshold {DEFAULT_THRESHOLD}", lambda: similar_pairs(matrix, DEFAULT_THRESHOLD)),
                      (f"earlier, threshold {DEFAULT_THRESHOLD}", lambda: unbounded_pairs(matrix, DEFAULT_THRESHOLD))):
        pairs, seconds, peak = timed(fn)
        rows.append({"design": label, "n": n, "pairs": len(pairs), "seconds": round(seconds, 2),
                     "peak_mb": round(peak)})
        print(f"{label:<28} {len(pairs):>12,} pairs {seconds:>7.2f} s {peak:>8.0f} MB", flush=True)
        del pairs
    print(json.dumps(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--baseline-max-gb", type=float, default=4.0, help="skip the baseline above this matrix size")
    ap.add_argument("--videos", default="", help="video counts: compare frame sequences instead (see above)")
    ap.add_argument("--frames", type=int, default=600, help="the most kept frames of one video")
    ap.add_argument("--loose", type=int, default=0, help="vectors: a loose threshold against every pair (see above)")
    args = ap.parse_args()
    if args.loose:
        loose_main(args.loose)
        return
    if args.videos:
        videos_main([int(c) for c in args.videos.split(",")], args.frames, args.threshold)
        return
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
        via_index, index_s, _ = timed(lambda m=matrix, ix=index, i=ids: groups_of(len(m), neighbour_pairs(
            ix.nearest, [(i[s:s + 10_000], m[s:s + 10_000]) for s in range(0, len(i), 10_000)],
            lambda wanted, i=i, m=m: (np.asarray(wanted, np.int64), m[wanted]), args.threshold)))
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
