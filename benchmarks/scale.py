"""Millions of pictures on one machine: what each operation costs as the library grows (issue 30).

    nice .venv/bin/python benchmarks/scale.py --sizes 1000000,3000000 [--dtypes i8,f16] [--dir DIR]
    nice .venv/bin/python benchmarks/scale.py --sizes 10000000 --dtypes i8 --empty-files --index-from DIR

At 10M on a 2-core, 56 GB machine: `--empty-files` makes the files with no data (10M files of 4
bytes take 40 GB of blocks), and `--index-from` takes the hnsw file `scale_index.py` built from the
same vectors in the same order instead of building it again (1.8 h): the catalog's log is
numbered from 0 as that file's keys are, and the file is linked in under the catalog's name.

Per size n: a folder of n tiny files (a re-scan stats real files; search finds them on disk) and a
catalog filled directly with their rows and n CLIP-like 512-d vectors (vectors.py), as
benchmarks/rescan.py does (no model run). Then, through picfind's own code:
  build      the hnsw index as `picfind index` syncs it, per vector type, in a child process:
             seconds and the child's peak memory (its resident set);
  disk       catalog and index bytes per picture (no thumbnails: synthetic rows have none);
  query      200 text-like query vectors through the catalog's searcher (graph + float32
             rescoring, top 10): p50 / p99, recall@10 against exact search over every vector;
  cold       `picfind search` in a fresh process (its whole wall time: start, model, index map);
  watch      a batch of 10 new real pictures through the watcher's apply (the scoped index run),
             beside what the old path read per batch (every embedded hash) and the encoder's share;
  status     `Library.status()`;
  rescan     `picfind index` over the unchanged folder, beside os.walk + stat of it (the floor);
  dupes      `dupes --near` (`Library.dupes(near=True)`) in a child process: seconds, peak memory;
  delete     a tenth of the pictures removed, then the index run that folds it into the index
             file, while another thread keeps searching (queries answered, slowest answer).
The last line of each size is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from encode import random_bundle  # noqa: E402
from vectors import clip_like, queries  # noqa: E402

from picfind.catalogs.sqlite.backend import EmbeddedCatalog  # noqa: E402
from picfind.catalogs.sqlite.index_store import IndexStore  # noqa: E402
from picfind.catalogs.sqlite.vectors import IndexSettings  # noqa: E402
from picfind.indexing.crawl import DEFAULT_EXCLUDES  # noqa: E402
from picfind.library import Library  # noqa: E402
from picfind.records import IndexedFile  # noqa: E402

CHUNK = 100_000
PER_FOLDER = 1000
K = 10


def path_of(root: Path, i: int) -> Path:
    return root / f"{i // PER_FOLDER:05d}" / f"IMG_{i:08d}.jpg"


def fill(catalog: EmbeddedCatalog, model: str, root: Path, n: int, qs: np.ndarray, empty: bool = False) -> np.ndarray:
    """The files, their rows and vectors, chunk by chunk; returns the exact top K rows per query.
    `empty`: files with no data (their rows say size 0)."""
    r = catalog.add_root(str(root), ["jpg"], list(DEFAULT_EXCLUDES))  # as `picfind index` adds it
    best = np.full((len(qs), K), -np.inf, np.float32)
    best_rows = np.zeros((len(qs), K), np.int64)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        vecs = clip_like(m, draw_seed=100 + start // CHUNK)
        files = []
        for i in range(start, start + m):
            p = path_of(root, i)
            if i % PER_FOLDER == 0:
                p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"" if empty else i.to_bytes(4, "little"))
            st = p.stat()
            files.append(IndexedFile(str(p), r.id, st.st_size, st.st_mtime_ns, f"{i:032x}", 640, 480))
        for s in range(0, m, 20_000):
            part = files[s:s + 20_000]
            catalog.write_batch(model, part, {f.content_hash: vecs[s + j] for j, f in enumerate(part)}, [])
        scores = np.concatenate([best, qs @ vecs.T], axis=1)
        rows = np.concatenate([best_rows, np.arange(start, start + m)[None, :].repeat(len(qs), 0)], axis=1)
        top = np.argsort(-scores, axis=1)[:, :K]
        best, best_rows = np.take_along_axis(scores, top, 1), np.take_along_axis(rows, top, 1)
        print(f"  filled {start + m:,}", flush=True)
    return best_rows


def child(args: list[str]) -> dict:
    """Run `--child ...` of this script; its JSON line, with its peak resident memory."""
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_child(what: str, db: str, model: str, extra: str) -> None:
    start = time.perf_counter()
    out: dict = {}
    if what == "build":
        catalog = EmbeddedCatalog(Path(db))
        IndexSettings(backend="hnsw", dtype=extra).save(catalog)
        catalog.sync_index(model)
        out["index_bytes"] = sum(p.stat().st_size for p in IndexStore(catalog).files(model, "hnsw"))
    elif what == "dupes":
        with Library(db, model=model) as lib:
            out["groups"] = len(lib.dupes(near=True))
    out["seconds"] = round(time.perf_counter() - start, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


def query_figures(db: Path, model: str, qs: np.ndarray, truth: np.ndarray) -> dict:
    catalog = EmbeddedCatalog(db)
    searcher = catalog.searcher(model, None)
    times, recall = [], []
    for q, want in zip(qs, truth):
        t = time.perf_counter()
        found, _ = searcher.top(q, K)
        times.append(time.perf_counter() - t)
        recall.append(len({int(h, 16) for h, _ in found[:K]} & set(want.tolist())) / K)
    catalog.close()
    ms = np.array(times) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "recall10": round(float(np.mean(recall)), 3)}


def timed(fn) -> tuple[object, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def picfind(*args: str) -> tuple[str, float]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "picfind", *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    if out.returncode:
        raise SystemExit(f"picfind {args} failed: {out.stderr[-2000:]}")
    return out.stdout, time.perf_counter() - t


def new_pictures(folder: Path, count: int, seed: int = 7) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        p = folder / f"new_{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(p, quality=85)
        paths.append(str(p))
    return paths


def measure(n: int, dtypes: list[str], base: Path, bundle: Path, model: str, skip: set[str],
            empty: bool = False, index_from: Path | None = None) -> dict:
    row: dict = {"n": n}
    root, db = base / "photos", base / "catalog.db"
    qs = queries(200)
    catalog = EmbeddedCatalog(db)
    truth, row["fill_s"] = timed(lambda: fill(catalog, model, root, n, qs, empty))
    catalog.close()
    row["catalog_bytes_per_picture"] = round(sum(p.stat().st_size for p in base.glob("catalog.db*")) / n)
    if index_from:
        row["i8"] = {**adopt(db, model, n, index_from), **query_figures(db, model, qs, truth)}
        print(f"  i8: {row['i8']}", flush=True)
        return per_change(row, base, bundle, model, n, qs, skip)
    for dtype in dtypes:  # the last one stays for the rest
        built = child(["build", str(db), model, dtype])
        figures = query_figures(db, model, qs, truth)
        row[dtype] = {"build_s": built["seconds"], "build_peak_rss_mb": built["peak_rss_mb"],
                      "index_bytes_per_picture": round(built["index_bytes"] / n), **figures}
        print(f"  {dtype}: {row[dtype]}", flush=True)
    return per_change(row, base, bundle, model, n, qs, skip)


def adopt(db: Path, model: str, n: int, folder: Path) -> dict:
    """The hnsw file `scale_index.py` built in `folder` from these vectors, in this order, as the
    catalog's own: its keys are 0..n-1, so the log is numbered from 0 (a vector's id in an index is
    its log seq); the file is linked in under the name the catalog gives its index at that
    position. Waits for that build to reach n (it may still be running)."""
    while not (folder / "build.json").is_file() or json.loads((folder / "build.json").read_text())["n"] < n:
        print(f"  waiting for {folder}/build.json to reach {n:,}", flush=True)
        time.sleep(60)
    built = json.loads((folder / "build.json").read_text())
    catalog = EmbeddedCatalog(db)
    with catalog.db:
        catalog.db.execute("UPDATE vector_log SET seq = seq - 1")
        catalog.db.execute("UPDATE sqlite_sequence SET seq = seq - 1 WHERE name = 'vector_log'")
    IndexSettings(backend="hnsw", dtype="i8").save(catalog)
    catalog.set_setting(f"index_vectors.{model}", "i8")
    store = IndexStore(catalog)
    store.folder.mkdir(parents=True, exist_ok=True)
    target = store.folder / f"{catalog.id}.{model}.hnsw.{catalog.log_position()}.usearch"
    os.link(folder / "index.usearch", target)
    index = catalog.vector_index(model)
    assert len(index) == n and catalog.log_position() == n - 1, (len(index), catalog.log_position())
    catalog.close()
    return {"adopted": str(folder), "build_s": built["build_s"], "build_peak_rss_mb": built["build_peak_rss_mb"],
            "index_bytes_per_picture": round(target.stat().st_size / n)}


def per_change(row: dict, base: Path, bundle: Path, model: str, n: int, qs: np.ndarray, skip: set[str],
               tag: str = "", offset: int = 0) -> dict:
    """Everything after the build: cold search, status, a watch batch, a re-scan, a mass deletion,
    dupes. `tag`, `offset`: a second pass over a kept folder (`--reuse`) uses new names."""
    root, db = base / "photos", base / "catalog.db"
    out, row["cold_search_s"] = picfind("search", "a dog asleep on a red sofa", "--db", str(db), "--model",
                                        str(bundle), "-n", "20")
    _, row["cold_search_again_s"] = picfind("search", "snow on a mountain road", "--db", str(db), "--model",
                                            str(bundle), "-n", "20")
    with Library(db, model=str(bundle)) as lib:
        _, row["status_s"] = timed(lib.status)
        (root_id,) = lib.catalog.db.execute("SELECT id FROM roots").fetchone()
        for i, folder in enumerate((f"{tag}warm", f"{tag}new")):  # the first loads the model: a watcher has
            seed = 1000 + i + 10 * (zlib.crc32(tag.encode()) % 10**6)  # pictures never seen before
            new = new_pictures(root / folder, 10, seed=seed)
            report, took = timed(lambda new=new: lib._index_roots(lib.catalog.roots(), [], scope={root_id: new}))
            assert report.embedded == 10, report
        row["watch_batch_10_s"] = took
        size = lib.bundle.preprocessing.size  # the encoder's share: 10 pictures through it
        pixels = np.zeros((10, 3, size, size), np.float32)
        row["watch_batch_encode_s"] = round(timed(lambda: lib.encoder.encode_images(pixels))[1], 3)
        _, row["old_per_batch_read_s"] = timed(lambda: (lib.catalog.embedded_hashes(lib.model),
                                                        lib.catalog.db.execute("SELECT count(*) FROM embeddings")
                                                        .fetchone()))
    _, row["status_cli_s"] = picfind("status", "--db", str(db), "--model", str(bundle))

    t = time.perf_counter()
    for folder, _, names in os.walk(root):
        for name in names:
            os.stat(os.path.join(folder, name))
    row["walk_stat_s"] = time.perf_counter() - t
    out, row["rescan_s"] = picfind("index", "--db", str(db), "--model", str(bundle), "--json")
    report = json.loads(out)
    assert report["read"] == 0 and report["removed"] == 0, report
    row["rescan_files"] = report["unchanged"]
    print(f"  {row}", flush=True)

    if "delete" not in skip:
        row.update(mass_delete(db, root, model, n, qs, offset))
        print(f"  {row}", flush=True)
    if "dupes" not in skip:
        d = child(["dupes", str(db), str(bundle), ""])
        row["dupes_near_s"], row["dupes_near_peak_rss_mb"], row["dupes_groups"] = \
            d["seconds"], d["peak_rss_mb"], d["groups"]
        print(f"  dupes --near: {d}", flush=True)

    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def mass_delete(db: Path, root: Path, model: str, n: int, qs: np.ndarray, offset: int = 0) -> dict:
    """A tenth removed (what `picfind index` writes and prunes), then the index run's sync, which
    folds it into a new file while a searcher in another thread keeps answering from the old one."""
    catalog = EmbeddedCatalog(db)
    gone = list(range(offset, n, 10))
    t = time.perf_counter()
    for s in range(0, len(gone), 20_000):
        catalog.write_batch(model, [], {}, [], gone=[str(path_of(root, i)) for i in gone[s:s + 20_000]])
        catalog.prune_embeddings([f"{i:032x}" for i in gone[s:s + 20_000]])
    removed_s = time.perf_counter() - t
    done, ready = threading.Event(), threading.Event()
    latencies: list[float] = []

    def search() -> None:  # another process's view: its own connection, the mapped file as it was
        reader = EmbeddedCatalog(db)
        searcher = reader.searcher(model, None)
        ready.set()
        while not done.is_set():
            q = qs[len(latencies) % len(qs)]
            t = time.perf_counter()
            searcher.top(q, K)
            latencies.append(time.perf_counter() - t)
        reader.close()
    thread = threading.Thread(target=search)
    thread.start()
    ready.wait()
    _, fold_s = timed(lambda: catalog.sync_index(model))
    done.set()
    thread.join()
    index = catalog.vector_index(model)
    catalog.close()
    return {"delete_tenth_write_s": removed_s, "delete_tenth_fold_s": fold_s, "searches_during_fold": len(latencies),
            "slowest_search_during_fold_ms": round(max(latencies, default=0) * 1000, 1),
            "index_after_delete": len(index)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000")
    ap.add_argument("--dtypes", default="f16,i8", help="hnsw vector types to build; the last is kept for the rest")
    ap.add_argument("--dir", help="where to build (default: a temporary folder)")
    ap.add_argument("--skip", default="", help="comma-separated: dupes, delete")
    ap.add_argument("--keep", action="store_true", help="keep the folder (for a later --reuse)")
    ap.add_argument("--reuse", help="a folder kept from a run (its catalog after that run's deletion): "
                                    "measure the per-change steps again (no fill, no build), and dupes unless skipped")
    ap.add_argument("--empty-files", action="store_true", help="files with no data (10M files of 4 bytes take 40 GB)")
    ap.add_argument("--index-from", type=Path, help="a folder where scale_index.py built the index from the same "
                                                    "vectors: linked in instead of building it (i8 only)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return run_child(*args.child)
    bundle = random_bundle("vit-b-32").path
    model = json.loads((bundle / "manifest.json").read_text())["name"]
    if args.reuse:
        base, n = Path(args.reuse), int(args.sizes)
        if EmbeddedCatalog(base / "catalog.db").stats("")["files_seen"] < n:  # the first run's deletion ran:
            for i in range(0, n, 10):  # the tenth it removed from the catalog goes from the disk too
                path_of(base / "photos", i).unlink(missing_ok=True)
        row = per_change({"n": n, "reused": True}, base, bundle, model, n, queries(200), set(args.skip.split(",")),
                         f"again-{time.strftime('%m%d%H%M%S')}-", 5)  # new pictures each pass
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        return
    for n in (int(s) for s in args.sizes.split(",")):
        base = Path(tempfile.mkdtemp(prefix=f"scale-{n}-", dir=args.dir))
        try:
            print(f"n = {n:,} in {base}", flush=True)
            row = measure(n, args.dtypes.split(","), base, bundle, model, set(args.skip.split(",")),
                          args.empty_files, args.index_from)
            print(json.dumps(row), flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
