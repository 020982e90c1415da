"""The PostgreSQL catalog's own parts on a real server: leases between indexers, and filtered
search over the HNSW index (over-fetching, as pgvector 0.6 has no iterative scans)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from picfind import pgsearch
from picfind.filters import Filter
from picfind.pgcatalog import PgCatalog
from picfind.records import IndexedFile
from picfind.search import search

MODEL = "m"


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_a_lease_keeps_others_off_until_its_holder_writes_or_goes(pg_url: str, tmp_path: Path) -> None:
    a, b = PgCatalog(pg_url), PgCatalog(pg_url)
    try:
        assert a.claim(MODEL, ["x", "y"]) == {"x", "y"}
        assert b.claim(MODEL, ["x", "y", "z"]) == {"z"}  # a holds x and y, and is alive
        assert a.claim(MODEL, ["x"]) == {"x"}  # its own lease: renewed
        root = a.add_root(str(tmp_path), ["jpg"], [])
        a.write_batch(MODEL, [IndexedFile(str(tmp_path / "x.jpg"), root.id, 1, 0, "x", 8, 8)],
                      {"x": unit(np.ones((1, 4)))[0]}, [])
        a.close()  # a is gone: y is free once the server has ended a's session; x is done, never again
        deadline = time.monotonic() + 10
        while not (got := b.claim(MODEL, ["x", "y"])) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == {"y"}
        assert b.claim("other-model", ["x"]) == {"x"}  # leases are per model
    finally:
        b.close()


def test_a_broad_filter_over_the_hnsw_index_fetches_more_and_keeps_only_what_passes(
        pg_url: str, tmp_path: Path, monkeypatch) -> None:
    catalog = PgCatalog(pg_url)
    vectors = unit(np.random.default_rng(3).standard_normal((1200, 32)))
    for half, folder in enumerate((tmp_path / "a", tmp_path / "b")):
        root = catalog.add_root(str(folder), ["jpg"], [])
        names = [f"{folder.name}{i}" for i in range(600)]
        files = [IndexedFile(str(folder / f"{n}.jpg"), root.id, 1, 0, n, 8, 8) for n in names]
        catalog.write_batch(MODEL, files, dict(zip(names, vectors[half * 600:(half + 1) * 600])), [])
    catalog.sync_index(MODEL)
    assert catalog.index_status(MODEL)["in_use"] == "hnsw"
    monkeypatch.setattr(os.path, "lexists", lambda p: True)  # the files are not on disk
    where = Filter.of(folders=[str(tmp_path / "b")])
    query = vectors[5]  # in folder a: the unfiltered best hit is filtered out
    exact = search(catalog, MODEL, query, 10, where=where)  # 600 pass: searched exactly
    monkeypatch.setattr(pgsearch, "SUBSET_EXACT_MAX", 0)  # now: over-fetch from the HNSW index
    fetched = search(catalog, MODEL, query, 10, where=where)
    assert len(fetched) == 10 and all("/b/" in h.path for h in fetched)
    assert len({h.path for h in fetched} & {h.path for h in exact}) >= 9
    unfiltered = search(catalog, MODEL, query, 10)
    assert unfiltered[0].content_hash == "a5" and unfiltered[0].score > 0.999
    catalog.close()
