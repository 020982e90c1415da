"""`status` on a PostgreSQL catalog: the counts its triggers keep, against counting whole tables.

    .venv/bin/python benchmarks/pg_tallies.py [--n 300000]

Two databases on one scratch server (pgserver_scratch, sized as pg_scale.py sizes it) get the same
n files and CLIP-like vectors through `write_batch` (catalog_scale.fill, 20,000 a batch), one as
picfind makes it, one with the tallies' triggers dropped (the write cost they add, side by side),
then `stats()` is timed on the first and, on the second, the whole-table counts `status` ran
before (`COUNTED`: the baseline, as the code before migration m008 ran them). The last line is JSON.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog_scale import fill, timed  # noqa: E402
from pgserver_scratch import scratch_server, sized_settings  # noqa: E402
from vectors import clip_like  # noqa: E402

from picfind.catalogs.postgres.catalog import PgCatalog  # noqa: E402

MODEL = "tiny-shapes"  # a name only
COUNTED = [  # what `stats()` ran before the tallies
    "SELECT reason, count(*) FROM files WHERE status = 'skipped' GROUP BY reason ORDER BY count(*) DESC",
    "SELECT count(*), count(DISTINCT content_hash) FROM files WHERE status = 'ok'",
    "SELECT count(DISTINCT owner) FROM embeddings e WHERE model = %(m)s AND EXISTS "
    "(SELECT 1 FROM files f WHERE f.content_hash = e.owner AND f.status = 'ok')",
    "SELECT count(*) FROM files WHERE status = 'ok' AND lat IS NOT NULL",
    "SELECT count(*) FROM embeddings e WHERE model = %(m)s AND e.owner <> e.content_hash AND "
    "EXISTS (SELECT 1 FROM files f WHERE f.content_hash = e.owner AND f.status = 'ok')",
    "SELECT count(*) FROM files",
    "SELECT count(*) FROM files WHERE status = 'ok' AND taken_at < '1826'",
    "SELECT count(DISTINCT CASE WHEN duration IS NULL THEN content_hash END), "
    "count(DISTINCT CASE WHEN duration IS NOT NULL THEN content_hash END) FROM files WHERE status = 'ok'",
]
TRIGGERS = {"files": ["inserted", "updated", "deleted"], "embeddings": ["inserted", "deleted"]}


def median_s(fn, runs: int) -> float:
    fn()  # the first read brings the pages into the server's cache
    return round(statistics.median(timed(fn)[1] for _ in range(runs)), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    result: dict = {"n": args.n, "load": os.getloadavg()[0]}
    with scratch_server(sized_settings(args.n)) as (_, server):
        server.psql("CREATE DATABASE plain;")
        for name in ("plain", "bench"):  # without the triggers first: the server's cache is as cold for both
            catalog = PgCatalog(server.get_uri(name))
            if name == "plain":
                for table, events in TRIGGERS.items():
                    for event in events:
                        kind = "vectors" if table == "embeddings" else table
                        catalog._run(f"DROP TRIGGER tallies_{kind}_{event} ON {table}")
            _, result[f"fill_{name}_s"] = timed(lambda c=catalog: fill(c, MODEL, 0, clip_like(args.n)))
            catalog._run("VACUUM ANALYZE")
            if name == "plain":
                result["whole_table_counts_s"] = median_s(
                    lambda c=catalog: [c._run(q, {"m": MODEL}) for q in COUNTED], args.runs)
            else:
                result["stats_s"] = median_s(lambda c=catalog: c.stats(MODEL), args.runs)
                assert catalog.stats(MODEL)["embedded_with_model"] == args.n
            print(f"  {name}: {result}", flush=True)
            catalog.close()
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
