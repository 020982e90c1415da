"""The hnsw vector index alone at ten million: what `picfind index` builds for a catalog that size,
without the catalog and the folder around it (issue 30).

    nice .venv/bin/python benchmarks/scale_index.py --n 10000000 --dir DIR [--minutes M] [--resume]

`scale.py` measures every step of a library but needs its folder of tiny files and its catalog
(about 7 GB a million); at 10M that is more disk than a 2-core test machine has. This builds the
same index (`IndexSettings.concrete(n)`: int8, 8 links, the candidates picfind searches with at n)
from the same CLIP-like vectors (`vectors.py`), a chunk at a time as `hnsw_build` does; past
`--minutes` it stops at a chunk's end and is measured at the size it reached. Then, in fresh
processes: opening the saved file (usearch's view, as `hnsw._mapped` opens it, with a warm and a
dropped page cache), and 200 text-like queries: p50 / p99, recall@10 against exact search over
every vector, with the int8 scores alone and rescored as picfind does (its catalog's float32
vectors, made again here from the same seeds). Baseline in the same run: exact search (the
recall's truth) and the open with usearch's table of keys (what picfind built before). The last
line is JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from vectors import clip_like, queries  # noqa: E402

from picfind.catalogs.sqlite.hnsw import OVERSAMPLE, HnswIndex, _usearch  # noqa: E402
from picfind.catalogs.sqlite.vectors import IndexSettings  # noqa: E402

CHUNK = 100_000
K = 10


def build(n: int, folder: Path, qs: np.ndarray, minutes: float, resume: bool) -> dict:
    """The index, a chunk at a time, and the exact top K of every query over what was added;
    past `minutes` it stops at the next chunk (and is measured at the size it reached). `resume`
    goes on from the index an earlier run stopped with (its graph read whole, its truth's scores
    made again from the vectors' seeds), adding its time to the earlier run's."""
    settings = IndexSettings(backend="hnsw", dtype="i8").concrete(n)
    earlier = json.loads((folder / "build.json").read_text()) if resume else {"n": 0, "build_s": 0}
    if resume:
        index = HnswIndex(_usearch().restore(str(folder / "index.usearch"), view=False), 0)
        best_ids = np.load(folder / "truth.npy")
        best = _scores(best_ids, qs)
        print(f"  resuming at {len(index):,} (built in {earlier['build_s']} s before)", flush=True)
    else:
        index = HnswIndex(HnswIndex.new(512, settings), 0)
        best = np.full((len(qs), K), -np.inf, np.float32)
        best_ids = np.zeros((len(qs), K), np.int64)
    start_time = time.perf_counter() - earlier["build_s"]
    for start in range(earlier["n"], n, CHUNK):
        m = min(CHUNK, n - start)
        vecs = clip_like(m, draw_seed=100 + start // CHUNK)
        ids = np.arange(start, start + m, dtype=np.int64)
        index.add(ids, vecs)
        scores = np.concatenate([best, qs @ vecs.T], axis=1)
        all_ids = np.concatenate([best_ids, np.broadcast_to(ids, (len(qs), m))], axis=1)
        top = np.argsort(-scores, axis=1)[:, :K]
        best, best_ids = np.take_along_axis(scores, top, 1), np.take_along_axis(all_ids, top, 1)
        took = time.perf_counter() - start_time
        if (start + m) % 1_000_000 == 0 or start + m == n or took > minutes * 60:
            print(f"  {start + m:,} added in {took:.0f} s ({(start + m) / took:,.0f} a second), "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB", flush=True)
        if took > minutes * 60:
            n = start + m
            break
    built = time.perf_counter() - start_time
    index.save(folder / "index.usearch")
    np.save(folder / "truth.npy", best_ids)
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, earlier.get("build_peak_rss_mb", 0))
    row = {"n": n, "connectivity": settings.connectivity,
           "build_s": round(built), "build_peak_rss_mb": round(peak),
           "index_bytes_per_picture": round((folder / "index.usearch").stat().st_size / n)}
    (folder / "build.json").write_text(json.dumps(row))
    return row


def _scores(ids: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Each query's score against the vectors of these ids, made again chunk by chunk from their seeds."""
    out = np.zeros(ids.shape, np.float32)
    for chunk in sorted({int(i) // CHUNK for i in ids.ravel()}):
        vecs = clip_like(CHUNK, draw_seed=100 + chunk)
        inside = ids // CHUNK == chunk
        rows = np.nonzero(inside)
        out[rows] = np.einsum("ij,ij->i", vecs[ids[rows] - chunk * CHUNK], qs[rows[0]])
    return out


def child(folder: Path, what: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", what, "--dir", str(folder)],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"child {what} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_child(folder: Path, what: str) -> dict:
    Index = _usearch()
    path = str(folder / "index.usearch")
    if what.startswith("open"):
        if what.endswith("cold"):
            subprocess.run("sync; echo 3 > /proc/sys/vm/drop_caches", shell=True, check=False)
        t = time.perf_counter()
        Index.restore(path, view=True, enable_key_lookups=what.startswith("open-keys"))
        return {"seconds": round(time.perf_counter() - t, 3)}
    truth = np.load(folder / "truth.npy")
    graph = Index.restore(path, view=True, enable_key_lookups=False)
    n = len(graph)
    graph.expansion_search = IndexSettings(backend="hnsw", dtype="i8").concrete(n).expansion_search
    qs = queries(len(truth))
    times, found = [], []
    for q in qs:
        t = time.perf_counter()
        found.append(graph.search(q, K * OVERSAMPLE["i8"], threads=1).keys.astype(np.int64))
        times.append(time.perf_counter() - t)
    # picfind rescores the candidates from the catalog's float32 vectors: made again here, chunk by chunk
    exact = [np.zeros(len(keys), np.float32) for keys in found]
    for chunk in sorted({int(k) // CHUNK for keys in found for k in keys}):
        vecs = clip_like(min(CHUNK, n - chunk * CHUNK), draw_seed=100 + chunk)
        for q, keys, scores in zip(qs, found, exact):
            inside = keys // CHUNK == chunk
            scores[inside] = vecs[keys[inside] - chunk * CHUNK] @ q
    plain = [len(set(keys[:K].tolist()) & set(want.tolist())) / K for keys, want in zip(found, truth)]
    rescored = [len(set(keys[np.argsort(-scores)[:K]].tolist()) & set(want.tolist())) / K
                for keys, scores, want in zip(found, exact, truth)]
    ms = np.array(times[5:]) * 1000  # the first few fault the graph's top levels in
    return {"searched_with": graph.expansion_search,
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "recall10_int8": round(float(np.mean(plain)), 3), "recall10": round(float(np.mean(rescored)), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--dir", required=True, help="where the index goes (about 6 GB at 10M)")
    ap.add_argument("--minutes", type=float, default=float("inf"),
                    help="stop adding after this long (and measure the size reached)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--reuse", action="store_true", help="measure an index built by an earlier run in --dir")
    ap.add_argument("--resume", action="store_true", help="go on adding to the index an earlier run stopped with")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    folder = Path(args.dir)
    if args.child:
        print(json.dumps(run_child(folder, args.child)))
        return
    folder.mkdir(parents=True, exist_ok=True)
    row = {} if args.reuse else build(args.n, folder, queries(args.queries), args.minutes, args.resume)
    for what in ("open", "open-keys", "open", "open-keys", "open-cold", "open-keys-cold"):
        row.setdefault(what.replace("-", "_") + "_s", []).append(child(folder, what)["seconds"])
    row.update(child(folder, "search"))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
