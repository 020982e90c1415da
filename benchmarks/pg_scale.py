"""The shared PostgreSQL + pgvector catalog beside the embedded SQLite + usearch one, in one run.

    .venv/bin/python benchmarks/pg_scale.py [--n 1000000] [--queries 200]

Both catalogs get the same n CLIP-like vectors (vectors.py) through `write_batch`, as an
indexing run writes them, then, through picfind's own code paths:
  1. index build: usearch hnsw (`IndexStore.sync`) vs pgvector hnsw (`PgCatalog.sync_index`);
  2. `Library.search_vector` p50/p95 and recall@10 against exact search, over text-like query
     vectors (the text encoder's time is the same for both and left out);
  3. an indexing run's write + index update adding 1,000 pictures, then removing them. On
     PostgreSQL the add runs twice, the vectors over one connection (`add_1000_one_connection_s`,
     the baseline) and over the side writers of pgwriters.py (`add_1000_s`); the removal's cost
     to the HNSW graph comes later, in VACUUM (`vacuum_after_remove_s`, what autovacuum pays).
PostgreSQL is a pgserver (16.2, pgvector 0.6.2) on a unix socket, sized as docs/scale.md tells an
admin (pgserver_scratch.sized_settings): maintenance_work_mem holds the HNSW graph (3 MB per 1,000
vectors, at least 1 GB) and shared_buffers is a quarter of the memory; --no-sized keeps the defaults.
The files are not on disk, so the query-time existence check is stubbed. The last line is JSON.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog_scale import fill, timed  # noqa: E402
from pgserver_scratch import scratch_server, sized_settings  # noqa: E402
from vectors import clip_like, queries, true_top  # noqa: E402

from picfind.catalogs.opening import open_catalog  # noqa: E402
from picfind.catalogs.postgres import catalog as pgcatalog  # noqa: E402
from picfind.catalogs.postgres import search as pgsearch
from picfind.catalogs.protocol import CatalogBackend
from picfind.catalogs.sqlite.vectors import IndexSettings  # noqa: E402
from picfind.library import Library  # noqa: E402

MODEL = "tiny-shapes"  # a name only: vectors come from vectors.py, queries are vectors


def measure(target: str, n: int, qs: np.ndarray, truth: np.ndarray, vacuum: bool,
            ef_search: list[int]) -> dict:
    row: dict = {}
    catalog: CatalogBackend = open_catalog(target)
    if isinstance(target, Path):
        IndexSettings(backend="hnsw").save(catalog)
    vectors = [clip_like(n)]  # made again and let go after the fill: at 3M it is 6 GB the build needs
    row["fill_s"] = round(timed(lambda: fill(catalog, MODEL, 0, vectors[0]))[1], 1)
    vectors.clear()
    row["build_s"] = round(timed(lambda: catalog.sync_index(MODEL))[1], 1)
    print(f"  filled in {row['fill_s']} s, index built in {row['build_s']} s", flush=True)
    start = n

    def remove(first: int) -> None:
        catalog.write_batch(MODEL, [], {}, [], [f"/bench/{i:08d}.jpg" for i in range(first, first + 1000)])
        catalog.prune_embeddings()
        catalog.sync_index(MODEL)
    if not isinstance(target, Path):  # the baseline: every vector over the catalog's own connection
        side_from, pgcatalog.SIDE_FROM = pgcatalog.SIDE_FROM, 10**9
        _, adding = timed(lambda: (fill(catalog, MODEL, start, clip_like(1000, draw_seed=8)),
                                   catalog.sync_index(MODEL)))
        row["add_1000_one_connection_s"], pgcatalog.SIDE_FROM = round(adding, 2), side_from
        remove(start)
        if vacuum:
            catalog._run("VACUUM embeddings")
        start += 1000
    _, adding = timed(lambda: (fill(catalog, MODEL, start, clip_like(1000, draw_seed=9)), catalog.sync_index(MODEL)))
    _, removing = timed(lambda: remove(start))
    row["add_1000_s"], row["remove_1000_s"] = round(adding, 2), round(removing, 2)
    if vacuum and not isinstance(target, Path):
        row["vacuum_after_remove_s"] = round(timed(lambda: catalog._run("VACUUM embeddings"))[1], 2)
    row["catalog_mb"] = round(catalog.size_bytes() / 1e6)
    catalog.close()
    with Library(target, model=MODEL) as lib:
        lib.search_vector(qs[0], 10)  # open the index
        for ef in ef_search if not isinstance(target, Path) else [None]:
            if ef is not None:  # the session's setting, as picfind makes it on connecting (pgschema)
                lib.catalog.db.execute(f"SET hnsw.ef_search = {int(ef)}")
            row.update(queried(lib, qs, truth, "" if ef is None or ef == pgsearch.EF_SEARCH else f"_ef{ef}"))
    return row


def queried(lib: Library, qs: np.ndarray, truth: np.ndarray, suffix: str) -> dict:
    times, found = [], []
    for q in qs:
        start = time.perf_counter()
        hits = lib.search_vector(q, 10)
        times.append(time.perf_counter() - start)
        found.append([int(h.content_hash, 16) for h in hits])
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth.tolist())])
    return {f"p50_ms{suffix}": round(float(np.percentile(times, 50)) * 1000, 2),
            f"p95_ms{suffix}": round(float(np.percentile(times, 95)) * 1000, 2),
            f"recall_at_10{suffix}": round(float(recall), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--vacuum", action=argparse.BooleanOptionalAction, default=True,
                    help="time PostgreSQL's VACUUM after the removal (minutes at 100k: pgvector repairs the graph)")
    ap.add_argument("--ef-search", default=str(pgsearch.EF_SEARCH),
                    help="PostgreSQL: query with each of these hnsw.ef_search values (comma-separated)")
    ap.add_argument("--sized", action=argparse.BooleanOptionalAction, default=True,
                    help="configure the server as docs/scale.md tells an admin to (maintenance_work_mem, "
                         "shared_buffers); --no-sized keeps pgserver's defaults")
    ap.add_argument("--catalogs", default="sqlite_usearch,postgresql", help="which to measure (comma-separated)")
    args = ap.parse_args()
    os.path.lexists = lambda p: True  # the files are not on disk (see above)
    matrix, qs = clip_like(args.n), queries(args.queries)
    truth = true_top(matrix, qs, 10)
    del matrix
    result: dict = {"n": args.n, "load": os.getloadavg()[0]}
    settings = sized_settings(args.n) if args.sized else {}
    result["server_settings"] = settings
    with scratch_server(settings) as (folder, server):
        for name, target in (("sqlite_usearch", folder / "catalog.db"), ("postgresql", server.get_uri("bench"))):
            if name not in args.catalogs.split(","):
                continue
            print(f"{name}: {args.n:,} vectors", flush=True)
            result[name] = measure(target, args.n, qs, truth, args.vacuum,
                                   [int(e) for e in args.ef_search.split(",")])
            print(f"  {result[name]}", flush=True)
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
