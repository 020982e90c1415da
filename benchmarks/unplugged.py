"""A search while most of the library is on a drive that is not connected (issue 30).

    nice .venv/bin/python benchmarks/unplugged.py --n 200000 [--home 0.01] [--queries 20]

A catalog filled directly with n CLIP-like vectors (vectors.py, no model run; the exact index,
so that no build is timed): a share `--home`
of their files on disk under home/, the rest under usb/, an empty folder (a mount point with
nothing mounted). Then text-like queries through `picfind.search.ranking.search` (top 20), as
`Library.search_vector` calls it: seconds per search, the candidates it asked the index for, and
what it says about the missing ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from vectors import clip_like, queries  # noqa: E402

from picfind.catalogs.sqlite.backend import EmbeddedCatalog  # noqa: E402
from picfind.catalogs.sqlite.vectors import IndexSettings  # noqa: E402
from picfind.records import IndexedFile  # noqa: E402
from picfind.search.ranking import search  # noqa: E402

MODEL = "clip-like"


def fill(db: Path, base: Path, n: int, home: float) -> None:
    """n rows and vectors; every 1/home-th file on disk under home/, the others under usb/."""
    catalog = EmbeddedCatalog(db)
    IndexSettings(backend="exact").save(catalog)  # no hnsw build: the search's own cost is measured
    root = catalog.add_root(str(base), ["jpg"], [])
    every = max(1, round(1 / home))
    (base / "home").mkdir(parents=True)
    (base / "usb").mkdir()
    for start in range(0, n, 50_000):
        m = min(50_000, n - start)
        vecs = clip_like(m, draw_seed=100 + start)
        files = []
        for i in range(start, start + m):
            path = base / ("home" if i % every == 0 else "usb") / f"IMG_{i:08d}.jpg"
            if i % every == 0:
                path.write_bytes(i.to_bytes(4, "little"))
            files.append(IndexedFile(str(path), root.id, 4, 0, f"{i:032x}", 640, 480))
        catalog.write_batch(MODEL, files, {f.content_hash: vecs[j] for j, f in enumerate(files)}, [])
    catalog.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--home", type=float, default=0.01, help="the share of the files that are on disk")
    ap.add_argument("--queries", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, base = Path(tmp) / "c.db", Path(tmp) / "Pictures"
        fill(db, base, args.n, args.home)
        asked: list[int] = []
        catalog = EmbeddedCatalog(db)
        searcher = catalog.searcher

        def counting(model: str, where: object = None) -> object:
            found = searcher(model, where)
            top = found.top
            found.top = lambda query, k: (asked.append(k), top(query, k))[1]
            return found
        catalog.searcher = counting  # type: ignore[method-assign]
        catalog.open_index(MODEL)
        times, shown, note = [], [], None
        for q in queries(args.queries):
            start = time.perf_counter()
            hits = search(catalog, MODEL, np.asarray(q, np.float32), 20)
            times.append(time.perf_counter() - start)
            shown.append(len(hits))
            note = getattr(hits, "note", lambda: None)()
        catalog.close()
        print(json.dumps({"n": args.n, "on_disk": round(args.n * args.home), "searches": args.queries,
                          "p50_s": round(float(np.median(times)), 3), "max_s": round(max(times), 3),
                          "candidates_asked_per_search": round(sum(asked) / args.queries),
                          "results_shown_min": min(shown), "note": note}))


if __name__ == "__main__":
    main()
