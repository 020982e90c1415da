"""Vector index benchmark: exact search, Annoy and picfind's default (hnsw) side by side.

    .venv/bin/python benchmarks/ann.py --sizes 100000,1000000

For each size: the same CLIP-like vectors (see vectors.py) and the same text-like queries for
every backend, one query at a time on one thread. Each approximate backend is tuned to each
target recall (its search-time knob raised until recall@10 reaches the target) and reports
queries/s there, with build time, size on disk and resident memory. Then, on the largest hnsw
index: adding and removing 1,000 vectors, and (with --text-model) a whole text query, text
encoding included. The last line of output is a JSON array of rows.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # a single query is memory-bound: pin one thread
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from vectors import clip_like, queries, true_top  # noqa: E402

from picfind.catalogs.sqlite.vectors import AnnoyIndex, ExactIndex, HnswIndex, IndexSettings, VectorIndex  # noqa: E402

K = 10
# Each backend's search-time knob, from cheap to thorough.
HNSW_EXPANSION = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]
ANNOY_SEARCH_K = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def measure(index: VectorIndex, qs: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(recall@10, queries/s)."""
    index.top(qs[0], K)  # warm up
    found = []
    start = time.perf_counter()
    for q in qs:
        found.append([i for i, _ in index.top(q, K)])
    qps = len(qs) / (time.perf_counter() - start)
    recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)])
    return float(recall), qps


def stored_mb(index: VectorIndex, folder: Path) -> float:
    """Size on disk: save it, measure, delete."""
    index.save(folder / f"bench.{index.name}.0.{type(index).suffix}")
    files = list(folder.glob(f"bench.{index.name}.*"))
    size = sum(p.stat().st_size for p in files)
    for p in files:
        p.unlink()
    return size / 1e6


def tune(index: VectorIndex, values: list[int], target: float, qs, truth) -> tuple[int, float, float]:
    """The cheapest search-time setting that reaches the target (or the most thorough one tried)."""
    for value in values:
        if isinstance(index, HnswIndex):
            index.index.expansion_search = value
        else:
            index.search_k = value
        recall, qps = measure(index, qs, truth)
        if recall >= target:
            break
    return value, recall, qps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--targets", default="0.95,0.99")
    ap.add_argument("--backends", default="exact,hnsw,annoy")
    ap.add_argument("--dtypes", default="f16", help="hnsw storage types to compare: f32,f16,i8")
    ap.add_argument("--trees", type=int, default=50, help="Annoy trees")
    ap.add_argument("--text-model", help="a bundle folder (e.g. benchmarks/.cache/vit-b-32-random from "
                    "benchmarks/encode.py): also time whole text queries on the largest hnsw index")
    args = ap.parse_args()
    targets = [float(t) for t in args.targets.split(",")]
    backends = args.backends.split(",")
    qs = queries(args.queries)
    rows: list[dict] = []
    largest_hnsw: tuple[HnswIndex, np.ndarray] | None = None
    print(f"{'n':>9} {'backend':>10} {'target':>6} {'recall':>6} {'q/s':>8} {'ms/q':>7} "
          f"{'build s':>8} {'size MB':>8} {'RSS MB':>7}  knob", flush=True)

    def report(row: dict, knob: str) -> None:
        rows.append(row)
        print(f"{row['n']:>9} {row['backend'] + ('/' + row['dtype'] if 'dtype' in row else ''):>10} "
              f"{row['target_recall']:>6} {row['recall']:>6.3f} {row['qps']:>8.0f} {1000 / row['qps']:>7.2f} "
              f"{row['build_s']:>8.1f} {row['size_mb']:>8.0f} {row['rss_mb']:>7.0f}  {knob}", flush=True)

    for n in (int(s) for s in args.sizes.split(",")):
        matrix = clip_like(n)
        ids = np.arange(n, dtype=np.int64)
        truth = true_top(matrix, qs, K)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            if "exact" in backends:
                recall, qps = measure(ExactIndex(ids, matrix), qs, truth)
                for target in targets:
                    report({"n": n, "backend": "exact", "target_recall": target, "recall": recall,
                            "qps": round(qps, 1), "build_s": 0.0, "size_mb": round(matrix.nbytes / 1e6),
                            "rss_mb": round(matrix.nbytes / 1e6)}, "float32 matrix")
            built: list[tuple[VectorIndex, dict, str, list[int]]] = []
            if "hnsw" in backends:
                for dtype in args.dtypes.split(","):
                    before = rss_mb()
                    start = time.perf_counter()
                    index = HnswIndex.build(ids, matrix, 0, IndexSettings(dtype=dtype))
                    meta = {"build_s": round(time.perf_counter() - start, 1), "rss_mb": round(rss_mb() - before),
                            "size_mb": round(stored_mb(index, folder)), "dtype": dtype}
                    built.append((index, meta, "expansion_search", HNSW_EXPANSION))
            if "annoy" in backends:
                before = rss_mb()
                start = time.perf_counter()
                index = AnnoyIndex.build(ids, matrix, 0, IndexSettings(trees=args.trees))
                meta = {"build_s": round(time.perf_counter() - start, 1), "rss_mb": round(rss_mb() - before),
                        "size_mb": round(stored_mb(index, folder))}
                built.append((index, meta, "search_k", ANNOY_SEARCH_K))
            for index, meta, knob, values in built:
                for target in targets:
                    value, recall, qps = tune(index, values, target, qs, truth)
                    report({"n": n, "backend": index.name, "target_recall": target, "recall": round(recall, 4),
                            "qps": round(qps, 1), **meta, knob: value}, f"{knob}={value}")
                if isinstance(index, HnswIndex) and meta["dtype"] == args.dtypes.split(",")[0]:
                    largest_hnsw = (index, matrix)
            del built  # the other indexes of this size: free before the next size

    if largest_hnsw is not None:
        index, matrix = largest_hnsw
        n = len(index)
        extra = clip_like(1000, draw_seed=7)
        start = time.perf_counter()
        index.update(np.arange(n, n + 1000, dtype=np.int64), extra, [])
        added = time.perf_counter() - start
        start = time.perf_counter()
        index.update(np.zeros(0, np.int64), extra[:0], list(range(1000)))
        removed = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            path = Path(tmp) / "x.hnsw.0.usearch"
            index.save(path)
            saved = time.perf_counter() - start
            start = time.perf_counter()
            HnswIndex.load(path, IndexSettings(dtype=args.dtypes.split(",")[0]), writable=False)
            opened = time.perf_counter() - start
        print(f"hnsw at {n}: add 1,000 vectors {added:.2f} s, remove 1,000 {removed:.2f} s, "
              f"save {saved:.1f} s, open (mapped) {opened * 1000:.0f} ms")
        gone = [i for i, _ in index.top(matrix[5], 20)]
        assert not set(gone) & set(range(1000)), "a removed vector came back"
        if args.text_model:
            from picfind.models.bundle import Bundle
            from picfind.models.encoder import Encoder
            encoder = Encoder(Bundle.load(Path(args.text_model)), threads=1)
            texts = ["a dog asleep on a red sofa", "sunset over the sea", "two children on a beach",
                     "a bowl of ramen", "snow on a mountain road"] * 10
            encoder.encode_text(texts[0])
            start = time.perf_counter()
            for t in texts:
                index.top(encoder.encode_text(t), 20)
            ms = (time.perf_counter() - start) / len(texts) * 1000
            print(f"text query end to end at {n} vectors (encode + hnsw top 20): {ms:.1f} ms")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
