"""The PostgreSQL catalog's own parts on a real server: leases between indexers, and filtered
search over the HNSW index (over-fetching, as pgvector 0.6 has no iterative scans)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from picfind.catalogs.postgres import catalog as pgcatalog
from picfind.catalogs.postgres import search as pgsearch
from picfind.catalogs.postgres import writers as pgwriters
from picfind.catalogs.postgres.catalog import PgCatalog
from picfind.filters import Filter
from picfind.records import IndexedFile
from picfind.search.dupes import groups_of, neighbour_pairs
from picfind.search.ranking import search

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
    # by how much comes from the counts the triggers keep: every vector counted would be seconds at millions
    monkeypatch.setattr(catalog, "count_vectors", lambda model: pytest.fail("a filtered search counted the vectors"))
    assert pgsearch.PgSearcher(catalog, MODEL, where).spread == 2.0
    fetched = search(catalog, MODEL, query, 10, where=where)
    assert len(fetched) == 10 and all("/b/" in h.path for h in fetched)
    assert len({h.path for h in fetched} & {h.path for h in exact}) >= 9
    unfiltered = search(catalog, MODEL, query, 10)
    assert unfiltered[0].content_hash == "a5" and unfiltered[0].score > 0.999
    catalog.close()


def test_a_large_batch_goes_over_side_connections_and_a_live_claim_keeps_its_vector_from_prune(
        pg_url: str, tmp_path: Path, monkeypatch) -> None:
    a, b = PgCatalog(pg_url), PgCatalog(pg_url)
    try:
        monkeypatch.setattr(pgcatalog, "SIDE_FROM", 8)
        names = [f"s{i}" for i in range(40)]
        vectors = dict(zip(names, unit(np.random.default_rng(5).standard_normal((40, 16)))))
        assert a.claim(MODEL, names) == set(names)
        root = a.add_root(str(tmp_path), ["jpg"], [])
        a.write_batch(MODEL, [IndexedFile(str(tmp_path / f"{n}.jpg"), root.id, 1, 0, n, 8, 8) for n in names],
                      vectors, [])
        assert len(a.writers.connections) == pgwriters.WRITERS
        assert all(np.allclose(b.vector_of(MODEL, n), v, atol=1e-6) for n, v in vectors.items())
        assert b.claim(MODEL, names) == set()  # all written and done
        # The gap the side writers open: vectors committed, their files not yet. Another
        # client's prune must leave them while the claim's holder is alive.
        assert a.claim(MODEL, ["gap"]) == {"gap"}
        a.writers.insert(MODEL, ["gap"], {"gap": vectors["s0"]})
        assert b.prune_embeddings() == []
        a.close()  # the holder is gone: an orphan now
        deadline = time.monotonic() + 10
        while not (gone := b.prune_embeddings()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone == ["gap"]
    finally:
        b.close()


def test_near_duplicates_walk_the_hnsw_index_and_find_the_exact_groups(pg_url: str, tmp_path: Path) -> None:
    from .test_dupes import planted

    matrix, expected = planted()  # 3,000 vectors, 20 planted groups of 4
    catalog = PgCatalog(pg_url)
    root = catalog.add_root(str(tmp_path), ["jpg"], [])
    names = [f"p{i}" for i in range(len(matrix))]
    catalog.write_batch(MODEL, [IndexedFile(str(tmp_path / f"{n}.jpg"), root.id, 1, 0, n, 8, 8) for n in names],
                        dict(zip(names, matrix)), [])
    catalog.sync_index(MODEL)
    _, ids, _ = catalog.vectors(MODEL)
    row_of = {int(i): names.index(h) for i, h in catalog.hashes_for_ids(ids.tolist()).items()}

    def index_scans() -> int:
        catalog._run("SELECT pg_stat_force_next_flush()")
        return catalog._one("SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes "
                            "WHERE indexrelname LIKE 'embeddings_hnsw_%%'")[0]
    before = index_scans()
    pairs = neighbour_pairs(catalog.nearest(MODEL), catalog.vector_blocks(MODEL, 700),
                            lambda wanted: catalog.vectors_for_ids(MODEL, wanted), 0.95)
    assert index_scans() - before >= len(matrix)  # one HNSW scan per vector, no n² comparison
    at = {int(i): r for r, i in enumerate(ids)}
    rows = [(at[i], at[j], s) for i, j, s in pairs]
    found = {frozenset(row_of[int(ids[r])] for r in g) for g in groups_of(len(ids), rows)}
    assert found == expected
    catalog.close()


def test_a_dropped_connection_is_one_plain_line(pg_url: str) -> None:
    """Issue 23: libpq's message holds newlines and tabs; the line shown had them as literal \\n\\t."""
    import signal

    import pytest

    from picfind.errors import terminal
    from picfind.records import CatalogError

    cat = PgCatalog(pg_url)
    try:
        pid = cat._one("SELECT pg_backend_pid()")[0]
        os.kill(pid, signal.SIGKILL)  # the server process dies: libpq says so in three lines
        time.sleep(0.5)
        with pytest.raises(CatalogError) as lost:
            cat.stats(MODEL)
        message = str(lost.value)
        assert message.isprintable() and terminal(message) == message and "\\n" not in terminal(message)
        assert "server closed the connection" in message and "run the command again" in message
    finally:
        cat.close()
        _until_the_server_is_back(pg_url)


def _until_the_server_is_back(url: str) -> None:
    """A killed server process makes PostgreSQL restart every session: wait for it (the server is
    shared by the test session)."""
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(url, connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
