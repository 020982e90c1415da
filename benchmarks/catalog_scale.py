"""A real SQLite catalog at scale, through picfind's own code paths.

    .venv/bin/python benchmarks/catalog_scale.py [--n 1000000]

Fills a catalog with n CLIP-like vectors (see vectors.py), then times, through `IndexStore` and
`Library` exactly as `picfind index` and `picfind search` run them:
  1. building and saving the hnsw index (what the first `picfind index` past 100k does);
  2. an indexing run that adds 1,000 pictures, then one that deletes 1,000 (catch-up + save);
  3. opening the stored index in a fresh process-like state (memory-mapped);
  4. whole text queries: ViT-B/32 text encoder (random weights, same cost) + hnsw + catalog
     lookups, against exact search on the same catalog as the baseline.
The files are not on disk, so the query-time existence check is stubbed (20 stat calls, about
0.1 ms). The last line is JSON.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from encode import random_bundle  # noqa: E402
from vectors import clip_like  # noqa: E402

from picfind.catalogs.sqlite import catalog as catalog_module  # noqa: E402
from picfind.catalogs.sqlite.catalog import Catalog  # noqa: E402
from picfind.catalogs.sqlite.index_store import IndexStore  # noqa: E402
from picfind.catalogs.sqlite.vectors import IndexSettings  # noqa: E402
from picfind.library import Library  # noqa: E402
from picfind.records import IndexedFile  # noqa: E402

QUERIES = ["a dog asleep on a red sofa", "sunset over the sea", "two children on a beach", "a bowl of ramen",
           "snow on a mountain road", "a birthday cake with candles", "a black cat on a windowsill",
           "an old church in a village", "a plate of sushi", "fireworks over a city"]


def fill(catalog: Catalog, model: str, start: int, vectors: np.ndarray) -> None:
    root = catalog.add_root("/bench", ["jpg"], [])
    for s in range(0, len(vectors), 20_000):
        chunk = range(start + s, start + min(s + 20_000, len(vectors)))
        files = [IndexedFile(f"/bench/{i:08d}.jpg", root.id, 1000, 0, f"{i:032x}", 640, 480) for i in chunk]
        catalog.write_batch(model, files, {f.content_hash: vectors[i - start] for f, i in zip(files, chunk)}, [])


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    args = ap.parse_args()
    bundle = random_bundle("vit-b-32").path
    model = json.loads((bundle / "manifest.json").read_text())["name"]
    catalog_module.os.path.lexists = lambda p: True  # the files are not on disk (see above)
    row: dict = {"n": args.n}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "catalog.db"
        catalog = Catalog(db)
        _, row["fill_s"] = timed(lambda: fill(catalog, model, 0, clip_like(args.n)))
        row["fill_s"] = round(row["fill_s"], 1)
        print(f"catalog of {args.n:,} vectors written in {row['fill_s']:.0f} s "
              f"({db.stat().st_size / 1e9:.1f} GB)", flush=True)
        IndexSettings(backend="hnsw").save(catalog)
        store = IndexStore(catalog)
        _, row["build_s"] = timed(lambda: store.sync(model))
        row["build_s"] = round(row["build_s"], 1)
        [stored] = store.files(model, "hnsw")
        row["index_mb"] = round(stored.stat().st_size / 1e6)
        print(f"hnsw built and saved: {row['build_s']:.0f} s, {row['index_mb']} MB", flush=True)

        fill(catalog, model, args.n, clip_like(1000, draw_seed=9))
        row["add_1000_s"] = round(timed(lambda: store.sync(model))[1], 2)
        catalog.write_batch(model, [], {}, [], gone=[f"/bench/{i:08d}.jpg" for i in range(1000)])
        catalog.prune_embeddings()
        row["remove_1000_s"] = round(timed(lambda: store.sync(model))[1], 2)
        print(f"index run adding 1,000: {row['add_1000_s']:.1f} s; removing 1,000: {row['remove_1000_s']:.1f} s",
              flush=True)
        catalog.close()

        for backend in ("hnsw", "exact"):
            with Library(db, model=str(bundle), threads=2) as lib:
                IndexSettings(backend=backend).save(lib.catalog)
                _, opened = timed(lambda lib=lib: lib.catalog.vector_index(lib.model))
                lib.search(QUERIES[0])  # load the text encoder
                _, total = timed(lambda lib=lib: [lib.search(q, n=20) for q in QUERIES])
                _, encode = timed(lambda lib=lib: [lib.embed_text(q) for q in QUERIES])
                gone = {f"/bench/{i:08d}.jpg" for i in range(1000)}
                vector = clip_like(1, draw_seed=123)[0]
                assert not gone & {h.path for h in lib.search_vector(vector, 200)}, "a deleted picture came back"
            row[f"{backend}_open_s"] = round(opened, 2)
            row[f"{backend}_query_ms"] = round(total / len(QUERIES) * 1000, 1)
            row["text_encode_ms"] = round(encode / len(QUERIES) * 1000, 1)
            print(f"{backend}: open {opened:.2f} s; whole text query {row[f'{backend}_query_ms']} ms "
                  f"(text encoding {row['text_encode_ms']} ms of it)", flush=True)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
