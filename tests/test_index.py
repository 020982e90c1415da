"""Vector indexes over a real SQLite catalog: parity with exact search, persistence, repair, deletes."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from picfind.catalogs.sqlite import hnsw, vector_base
from picfind.catalogs.sqlite import index_store as store_module
from picfind.catalogs.sqlite import vectors as index_module
from picfind.catalogs.sqlite.backend import EmbeddedCatalog
from picfind.catalogs.sqlite.catalog import Catalog
from picfind.catalogs.sqlite.index_store import IndexStore
from picfind.catalogs.sqlite.schema import MIGRATIONS
from picfind.catalogs.sqlite.vectors import ExactIndex, IndexSettings
from picfind.records import IndexedFile

MODEL = "m"
DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def add(catalog: Catalog, folder: Path, names: list[str], vectors: np.ndarray) -> None:
    root = catalog.add_root(str(folder), ["jpg"], [])
    files = [IndexedFile(str(folder / f"{n}.jpg"), root.id, 1, 0, n, 8, 8) for n in names]
    catalog.write_batch(MODEL, files, dict(zip(names, vectors)), [])


def delete(catalog: Catalog, folder: Path, names: list[str]) -> None:
    catalog.write_batch(MODEL, [], {}, [], gone=[str(folder / f"{n}.jpg") for n in names])
    catalog.prune_embeddings()


def ranked(catalog: Catalog, index, query: np.ndarray, k: int = 10) -> list[str]:
    found = index.top(query, k)
    hashes = catalog.hashes_for_ids([i for i, _ in found])
    return [hashes[i] for i, _ in found]


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Catalog, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = unit(rng.standard_normal((1500, DIM)))
    catalog = EmbeddedCatalog(tmp_path / "c.db")
    add(catalog, tmp_path, [f"h{i}" for i in range(len(vectors))], vectors)
    yield catalog, vectors
    catalog.close()


@pytest.mark.parametrize("backend", ["hnsw", "annoy"])
def test_approximate_backends_find_what_exact_search_finds(filled, backend: str) -> None:
    catalog, vectors = filled
    queries = unit(np.random.default_rng(1).standard_normal((20, DIM)))
    exact = IndexStore(catalog).open(MODEL, IndexSettings(backend="exact"))
    approx = IndexStore(catalog).open(MODEL, IndexSettings(backend=backend, dtype="f32", search_k=20_000))
    assert isinstance(exact, ExactIndex) and approx.name == backend and len(approx) == len(exact) == 1500
    recall = np.mean([len(set(ranked(catalog, exact, q)) & set(ranked(catalog, approx, q))) / 10 for q in queries])
    assert recall >= 0.95
    top = approx.top(queries[0], 1)[0]
    assert top[1] == pytest.approx(max(vectors @ queries[0]), abs=1e-5)  # scores are cosines


@pytest.mark.parametrize("backend", ["hnsw", "annoy"])
def test_the_index_is_stored_and_reopened_without_rebuilding(filled, backend: str, monkeypatch) -> None:
    catalog, _ = filled
    settings = IndexSettings(backend=backend)
    first = IndexStore(catalog).open(MODEL, settings)
    [stored] = IndexStore(catalog).files(MODEL, backend)
    assert stored.name == f"{catalog.id}.{MODEL}.{backend}.{first.position}{stored.suffix}"

    def no_rebuild(*a, **k):
        raise AssertionError("rebuilt an index that was up to date")
    monkeypatch.setattr(index_module.BACKENDS[backend], "build", no_rebuild)
    monkeypatch.setattr(store_module, "build_hnsw", no_rebuild)  # hnsw's build, chunk by chunk
    again = IndexStore(catalog).open(MODEL, settings)
    assert len(again) == 1500 and again.position == first.position


@pytest.mark.parametrize("backend", ["hnsw", "annoy", "exact"])
def test_an_index_behind_the_catalog_catches_up_and_deletes_never_return(filled, tmp_path, backend) -> None:
    catalog, vectors = filled
    settings = IndexSettings(backend=backend, dtype="f32")
    IndexStore(catalog).open(MODEL, settings)
    # What a crash between the catalog commit and the index save leaves: the catalog moved on.
    fresh = unit(np.random.default_rng(5).standard_normal((40, DIM)))
    add(catalog, tmp_path, [f"new{i}" for i in range(40)], fresh)
    delete(catalog, tmp_path, [f"h{i}" for i in range(100)])
    index = IndexStore(catalog).open(MODEL, settings)
    assert len(index) == 1500 + 40 - 100
    assert ranked(catalog, index, fresh[7], 1) == ["new7"]
    for i in range(0, 100, 9):  # a deleted picture's own vector does not find it
        assert f"h{i}" not in ranked(catalog, index, vectors[i], 20)
    [stored] = IndexStore(catalog).files(MODEL, backend)  # the old file is replaced, not kept beside
    if backend == "hnsw":  # a few changes wait beside the mapped file (its overlay), which is not rewritten
        assert index.overlaid == 140 and str(index.position) not in stored.name
    else:
        assert str(index.position) in stored.name


def test_a_mapped_file_is_mapped_once_per_process_and_searched_from_many_threads(filled, tmp_path) -> None:
    """usearch's view of a saved graph walks every node (1.4 s at 3M): a watcher's batches and a
    server's searches reuse one mapping while the file stays, each with its own overlay, and
    the searches of many threads on it (each through its own catalog) agree with one alone."""
    catalog, vectors = filled
    settings = IndexSettings(backend="hnsw", dtype="f32")
    IndexStore(catalog).open(MODEL, settings)  # built and saved
    first = IndexStore(catalog).open(MODEL, settings)
    fresh = unit(np.random.default_rng(6).standard_normal((3, DIM)))
    add(catalog, tmp_path, ["new0", "new1", "new2"], fresh)  # a batch: kept beside the file
    second = IndexStore(catalog).open(MODEL, settings)
    assert second.index is first.index and second.overlaid == 3 and first.overlaid == 0
    assert ranked(catalog, second, fresh[1], 1) == ["new1"]
    assert "new1" not in ranked(catalog, first, fresh[1], 20)  # each its own overlay

    queries = unit(np.random.default_rng(7).standard_normal((40, DIM)))
    alone = [ranked(catalog, second, q) for q in queries]
    short = IndexStore(catalog).open(MODEL, IndexSettings(backend="hnsw", dtype="f32", expansion_search=8))
    alone_short = [ranked(catalog, short, q) for q in queries]
    assert alone_short != alone  # a short search misses some: the threads below can tell them apart
    answers: list[list[list[str]]] = []

    def searcher(candidates: int) -> None:
        own = EmbeddedCatalog(catalog.path)  # a server thread's own catalog
        index = IndexStore(own).open(MODEL, IndexSettings(backend="hnsw", dtype="f32", expansion_search=candidates))
        assert index.index is first.index
        answers.append([ranked(own, index, q) for _ in range(5) for q in queries])
        own.close()
    threads = [threading.Thread(target=searcher, args=(8 if i % 2 else 0,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # each thread's answers are those its own settings give alone, however the threads interleave
    assert sorted(answers) == sorted([alone_short * 5] * 3 + [alone * 5] * 3)
    assert [ranked(catalog, second, q) for q in queries] == alone

    delete(catalog, tmp_path, ["h500"])
    IndexStore(catalog).files(MODEL, "hnsw")[0].unlink()
    IndexStore(catalog).open(MODEL, settings)  # rebuilt and saved: a new file, mapped anew
    third = IndexStore(catalog).open(MODEL, settings)
    assert third.index is not first.index and third.path != first.path and third.overlaid == 0
    # the replaced file is no longer held mapped (its disk space comes back with its last user)
    assert [key for key in hnsw._MAPPED if key[0] == str(first.path)] == []
    assert ranked(catalog, third, fresh[2], 1) == ["new2"] and "h500" not in ranked(catalog, third, vectors[500])


def test_a_mapped_graph_has_no_key_table_and_hides_removals_without_reading_the_file(
        filled, tmp_path, monkeypatch) -> None:
    """usearch builds a table of keys by reading every node's (most of a cold open: 0.19 of 0.25 s
    at 900k, and every page of the graph from a cold disk). A mapped graph has none; what was
    removed since the file was saved is hidden as the catalog's log says, with no whole read."""
    catalog, vectors = filled
    settings = IndexSettings(backend="hnsw", dtype="f32")
    IndexStore(catalog).open(MODEL, settings)  # built and saved
    mapped = IndexStore(catalog).open(MODEL, settings)
    key = mapped.index.search(vectors[0], 1).keys[0]
    assert not mapped.index.contains(key)  # the key is there, but no table was built to look it up

    def whole(*a, **k):
        raise AssertionError("read the mapped file whole")
    fresh = unit(np.random.default_rng(8).standard_normal((2, DIM)))
    add(catalog, tmp_path, ["new0", "new1"], fresh)
    delete(catalog, tmp_path, ["h0", "h1", "h2", "new1"])  # saved ones, and one only in the overlay
    monkeypatch.setattr(store_module.IndexStore, "_build", whole)
    monkeypatch.setattr(hnsw.HnswIndex, "_folded", whole)
    index = IndexStore(catalog).open(MODEL, IndexSettings(backend="hnsw", dtype="f32"))
    assert index.index is mapped.index and len(index) == 1500 - 3 + 1 and index.overlaid == 4
    assert ranked(catalog, index, fresh[0], 1) == ["new0"] and "new1" not in ranked(catalog, index, fresh[1])
    for i in range(3):
        assert f"h{i}" not in ranked(catalog, index, vectors[i])
    new0 = [i for i, _ in index.top(fresh[0], 1)]  # the same index told of a removal from its own overlay
    index.update(np.zeros(0, np.int64), np.zeros((0, DIM), np.float32), new0)
    assert len(index) == 1500 - 3 and index.overlaid == 3 and "new0" not in ranked(catalog, index, fresh[0])


def test_re_adding_a_deleted_picture_brings_it_back_once(filled, tmp_path) -> None:
    catalog, vectors = filled
    settings = IndexSettings(backend="hnsw", dtype="f32")
    IndexStore(catalog).open(MODEL, settings)
    delete(catalog, tmp_path, ["h3"])
    add(catalog, tmp_path, ["h3"], vectors[3:4])
    index = IndexStore(catalog).open(MODEL, settings)
    assert len(index) == 1500 and ranked(catalog, index, vectors[3], 2)[0] == "h3"


def test_a_damaged_index_file_is_rebuilt(filled) -> None:
    catalog, _ = filled
    settings = IndexSettings(backend="hnsw")
    IndexStore(catalog).open(MODEL, settings)
    [stored] = IndexStore(catalog).files(MODEL, "hnsw")
    stored.write_bytes(stored.read_bytes()[:1000])  # a torn write
    index = IndexStore(catalog).open(MODEL, settings)
    assert len(index) == 1500


def test_changing_the_storage_type_rebuilds(filled) -> None:
    catalog, _ = filled
    IndexStore(catalog).open(MODEL, IndexSettings(backend="hnsw", dtype="f16"))
    index = IndexStore(catalog).open(MODEL, IndexSettings(backend="hnsw", dtype="f32"))
    assert "f32" in str(index.index.dtype).lower()


def test_the_exact_index_is_stored_mapped_and_follows_the_catalog(filled, tmp_path) -> None:
    catalog, vectors = filled
    settings = IndexSettings(backend="exact")
    first = IndexStore(catalog).open(MODEL, settings)
    again = IndexStore(catalog).open(MODEL, settings)
    assert isinstance(again.matrix, np.memmap) and again.position == first.position
    assert ranked(catalog, again, vectors[9], 1) == ["h9"]
    delete(catalog, tmp_path, ["h9"])
    after = IndexStore(catalog).open(MODEL, settings)
    assert len(after) == 1499 and "h9" not in ranked(catalog, after, vectors[9], 5)
    assert len(IndexStore(catalog).files(MODEL, "exact")) == 1


def test_auto_is_exact_for_small_catalogs_and_hnsw_for_large(filled, monkeypatch) -> None:
    catalog, _ = filled
    assert IndexStore(catalog).open(MODEL).name == "exact"
    monkeypatch.setattr(vector_base, "AUTO_EXACT_MAX", 1000)
    assert IndexStore(catalog).open(MODEL).name == "hnsw"


def test_settings_are_remembered_in_the_catalog(filled) -> None:
    catalog, _ = filled
    IndexSettings(backend="annoy", trees=10).save(catalog)
    assert IndexSettings.of(catalog) == IndexSettings(backend="annoy", trees=10)


def test_migration_2_gives_existing_vectors_ids(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (?, '[]', '[]', 0)", (b"/p",))
    for h in ("a", "b"):
        con.execute("INSERT INTO files(path, root_id, size, mtime_ns, content_hash, status) "
                    "VALUES (?, 1, 1, 0, ?, 'ok')", (f"/p/{h}".encode(), h))
        con.execute("INSERT INTO embeddings VALUES (?, ?, ?)", (h, MODEL, np.ones(4, np.float32).tobytes()))
    con.commit()
    con.close()
    catalog = Catalog(db)
    position, ids, matrix = catalog.vectors(MODEL)
    assert position == 2 and sorted(ids) == [1, 2] and matrix.shape == (2, 4)
    assert set(catalog.hashes_for_ids(list(ids)).values()) == {"a", "b"}


def test_sync_keeps_only_the_backend_in_use(filled) -> None:
    catalog, _ = filled
    store = IndexStore(catalog)
    IndexSettings(backend="annoy").save(catalog)
    store.sync(MODEL)
    assert store.files(MODEL, "annoy") and not store.files(MODEL, "hnsw")
    IndexSettings(backend="hnsw").save(catalog)
    store.sync(MODEL)
    assert store.files(MODEL, "hnsw") and not store.files(MODEL, "annoy")
    assert not list(store.folder.glob("*.npz"))  # annoy's id file went with it
    IndexSettings(backend="exact").save(catalog)
    store.sync(MODEL)
    assert sorted(p.suffix for p in store.folder.iterdir()) == [".npy", ".npz"]  # the matrix and its ids


def test_a_broad_filter_over_an_approximate_index_fetches_more_and_keeps_only_what_passes(tmp_path, monkeypatch):
    from picfind.catalogs.sqlite import backend as embedded
    from picfind.filters import Filter
    from picfind.search.ranking import search

    catalog = EmbeddedCatalog(tmp_path / "c.db")
    rng = np.random.default_rng(3)
    vectors = unit(rng.standard_normal((1200, DIM)))
    for half, folder in enumerate((tmp_path / "a", tmp_path / "b")):
        folder.mkdir()
        add(catalog, folder, [f"{folder.name}{i}" for i in range(600)], vectors[half * 600:(half + 1) * 600])
    monkeypatch.setattr(os.path, "lexists", lambda p: True)  # the files are not on disk
    IndexSettings(backend="hnsw", dtype="f32").save(catalog)
    where = Filter.of(folders=[str(tmp_path / "b")])
    query = vectors[5]  # in folder a: the unfiltered best hit is filtered out
    subset = search(catalog, MODEL, query, 10, where=where)  # 600 pass: searched exactly
    monkeypatch.setattr(embedded, "SUBSET_EXACT_MAX", 0)  # now: over-fetch from the index
    fetched = search(catalog, MODEL, query, 10, where=where)
    assert len(fetched) == 10 and all("/b/" in h.path for h in fetched)
    assert len({h.path for h in fetched} & {h.path for h in subset}) >= 9
    catalog.close()


def test_a_new_catalog_stores_a_clip_vector_in_little_more_than_its_size(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    vectors = unit(np.random.default_rng(0).standard_normal((3000, 512)))
    add(catalog, tmp_path, [f"{i:032x}" for i in range(3000)], vectors)
    catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    per_vector = (tmp_path / "c.db").stat().st_size / 3000
    assert per_vector < 3200  # 2,048 bytes of float32 + hash, path and log rows (with 4 KB pages: 5,000)
    catalog.close()


def test_the_exact_index_catches_up_from_the_log_without_reading_every_vector(filled, tmp_path, monkeypatch) -> None:
    catalog, vectors = filled
    settings = IndexSettings(backend="exact")
    IndexStore(catalog).open(MODEL, settings)
    fresh = unit(np.random.default_rng(6).standard_normal((30, DIM)))
    add(catalog, tmp_path, [f"new{i}" for i in range(30)], fresh)
    delete(catalog, tmp_path, [f"h{i}" for i in range(0, 300, 3)])
    delete(catalog, tmp_path, ["new4"])
    add(catalog, tmp_path, ["h3"], vectors[3:4])  # deleted above, back again
    rebuilt = ExactIndex(*catalog.vectors(MODEL)[1:])

    def no_full_read(*a, **k):
        raise AssertionError("read every vector to catch up")
    monkeypatch.setattr(Catalog, "vectors", no_full_read)
    index = IndexStore(catalog).open(MODEL, settings)
    assert len(index) == len(rebuilt) == 1500 + 30 - 100 - 1 + 1
    order = np.argsort(index.ids)
    assert np.array_equal(index.ids[order], np.sort(rebuilt.ids))
    assert np.array_equal(index.matrix[order], rebuilt.matrix[np.argsort(rebuilt.ids)])
    again = IndexStore(catalog).open(MODEL, settings)  # the caught-up file was saved, mapped next time
    assert isinstance(again.matrix, np.memmap) and again.position == index.position
    assert ranked(catalog, again, vectors[3], 1) == ["h3"] and ranked(catalog, again, fresh[9], 1) == ["new9"]


def test_removals_mark_rows_of_the_stored_exact_matrix_without_rewriting_it(filled, tmp_path) -> None:
    catalog, vectors = filled
    settings = IndexSettings(backend="exact")
    IndexStore(catalog).open(MODEL, settings)
    [before] = IndexStore(catalog).files(MODEL, "exact")
    inode = before.stat().st_ino
    delete(catalog, tmp_path, [f"h{i}" for i in range(0, 1500, 2)])  # half, as a removed root would
    index = IndexStore(catalog).open(MODEL, settings)
    [after] = IndexStore(catalog).files(MODEL, "exact")
    assert after != before and after.stat().st_ino == inode  # the same matrix, linked under the new name
    assert len(index) == 750 and len(index.matrix) == 1500
    assert "h4" not in ranked(catalog, index, vectors[4], 20) and ranked(catalog, index, vectors[5], 1) == ["h5"]
    assert all(int(h[1:]) % 2 for h in ranked(catalog, index, vectors[4], 750))
    assert len(index.top(vectors[4], 5000)) == 750
    reopened = IndexStore(catalog).open(MODEL, settings)
    assert len(reopened) == 750 and ranked(catalog, reopened, vectors[7], 1) == ["h7"]
    add(catalog, tmp_path, ["h4"], vectors[4:5])  # an addition rewrites it without the marked rows
    index = IndexStore(catalog).open(MODEL, settings)
    assert len(index) == len(index.matrix) == 751 and ranked(catalog, index, vectors[4], 1) == ["h4"]


def test_a_save_never_deletes_an_index_another_process_saved_later(filled, tmp_path) -> None:
    catalog, _ = filled
    settings = IndexSettings(backend="exact")  # (hnsw keeps a change this small beside its file, unsaved)
    slow = IndexStore(catalog).open(MODEL, settings)  # a process that will save late
    add(catalog, tmp_path, ["late"], unit(np.ones((1, DIM))))
    other = Catalog(catalog.path)  # a second process, quicker
    newer = IndexStore(other).open(MODEL, settings)
    assert newer.position > slow.position
    IndexStore(catalog)._save(MODEL, slow)  # the slow one finishes now
    stored = IndexStore(catalog).files(MODEL, "exact")
    assert [index_module.position_of(p) for p in stored] == [newer.position, slow.position]
    assert IndexStore(catalog).open(MODEL, settings).position == newer.position
    other.close()


def test_an_index_ahead_of_its_catalog_is_never_used(tmp_path) -> None:
    """A catalog restored from a backup (same id) finds an index saved after the backup."""
    import shutil

    db = tmp_path / "c.db"
    vectors = unit(np.random.default_rng(6).standard_normal((300, DIM)))
    catalog = Catalog(db)
    add(catalog, tmp_path, [f"h{i}" for i in range(200)], vectors[:200])
    catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(db, tmp_path / "backup.db")
    add(catalog, tmp_path, [f"h{i}" for i in range(200, 300)], vectors[200:])
    assert len(IndexStore(catalog).open(MODEL, IndexSettings(backend="exact"))) == 300
    catalog.close()
    shutil.copy(tmp_path / "backup.db", db)
    Path(f"{db}-wal").unlink(missing_ok=True)
    catalog = Catalog(db)
    index = IndexStore(catalog).open(MODEL, IndexSettings(backend="exact"))
    assert len(index) == 200 and ranked(catalog, index, vectors[150], 1) == ["h150"]
    catalog.close()


def test_approximate_candidates_are_rescored_to_exact_cosines(filled, monkeypatch) -> None:
    from picfind.search.ranking import search

    catalog, vectors = filled
    monkeypatch.setattr(os.path, "lexists", lambda p: True)  # the files are not on disk
    by_hash = {f"h{i}": v for i, v in enumerate(vectors)}
    for backend, dtype in (("hnsw", "f16"), ("hnsw", "i8"), ("annoy", "f16")):  # annoy: angular distances
        IndexSettings(backend=backend, dtype=dtype).save(catalog)
        for query in unit(np.random.default_rng(2).standard_normal((5, DIM))):
            hits = search(catalog, MODEL, query, 20)
            exact = [float(by_hash[h.content_hash].astype(np.float64) @ query) for h in hits]
            assert [h.score for h in hits] == pytest.approx(exact, abs=1e-6)
            assert exact == sorted(exact, reverse=True)
            cut = exact[10] - 1e-9  # below the 11th, whatever order the sums ran in
            strict = search(catalog, MODEL, query, 20, min_score=cut)
            assert all(h.score >= cut - 1e-6 for h in strict) and len(strict) >= 11  # shown to 6 places


def test_pages_sorted_by_date_partition_one_ordering(tmp_path, monkeypatch) -> None:
    from picfind.search.ranking import search

    catalog = EmbeddedCatalog(tmp_path / "c.db")
    rng = np.random.default_rng(4)
    vectors = unit(rng.standard_normal((300, DIM)))
    root = catalog.add_root(str(tmp_path), ["jpg"], [])
    files = [IndexedFile(str(tmp_path / f"{i}.jpg"), root.id, 1, 0, f"h{i}", 8, 8,
                         taken_at=f"20{10 + i % 13}-01-01 00:00:00") for i in range(300)]
    catalog.write_batch(MODEL, files, {f"h{i}": v for i, v in enumerate(vectors)}, [])
    monkeypatch.setattr(os.path, "lexists", lambda p: True)
    for backend in ("exact", "hnsw"):
        IndexSettings(backend=backend).save(catalog)
        for sort in ("date", "score"):
            whole = search(catalog, MODEL, vectors[0], 60, sort=sort, pool=60)
            pages = [h for offset in range(0, 60, 7)
                     for h in search(catalog, MODEL, vectors[0], 7, sort=sort, offset=offset, pool=60)]
            assert [h.path for h in pages[:60]] == [h.path for h in whole]
            assert len({h.path for h in pages}) == len(pages)
    catalog.close()


def test_migration_4_gives_an_id_and_files_to_the_innermost_root(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript("".join(MIGRATIONS[:3]) + "PRAGMA user_version = 3;")
    for path in (b"/p", b"/p/inner", b"/p/in"):
        con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (?, '[]', '[]', 0)", (path,))
    for name, root in ((b"/p/a.jpg", 2), (b"/p/inner/b.jpg", 1), (b"/p/inner\xff/c.jpg", 2), (b"/p/in/d.jpg", 1)):
        con.execute("INSERT INTO files(path, root_id, size, mtime_ns, status) VALUES (?, ?, 1, 0, 'skipped')",
                    (name, root))
    con.commit()
    con.close()
    catalog = Catalog(db)
    assert len(catalog.id) == 32
    owners = dict(catalog.db.execute("SELECT f.path, r.path FROM files f JOIN roots r ON r.id = f.root_id"))
    assert owners == {b"/p/a.jpg": b"/p", b"/p/inner/b.jpg": b"/p/inner", b"/p/inner\xff/c.jpg": b"/p",
                      b"/p/in/d.jpg": b"/p/in"}
    assert Catalog(db).id == catalog.id  # kept, not made again on each open
    catalog.close()


def test_rescoring_reads_each_candidates_vector_by_its_id_not_the_whole_log(tmp_path: Path) -> None:
    # an approximate index's candidates are rescored from their float32 vectors on every search;
    # SQLite once answered that by walking the model's whole vector log (33 ms at 100k)
    catalog = Catalog(tmp_path / "c.db")
    names = [f"p{i}" for i in range(200)]
    add(catalog, tmp_path, names, unit(np.random.default_rng(3).normal(size=(200, 8))))
    statements: list[str] = []
    catalog.db.set_trace_callback(statements.append)
    ids, matrix = catalog.vectors_for_ids(MODEL, [5, 17, 99])
    catalog.db.set_trace_callback(None)
    assert sorted(ids.tolist()) == [5, 17, 99] and matrix.shape == (3, 8)
    (read,) = [s for s in statements if "e.vector" in s]
    plan = " ".join(row[3] for row in catalog.db.execute(f"EXPLAIN QUERY PLAN {read}"))
    assert "INTEGER PRIMARY KEY" in plan and "vector_log_content" not in plan, plan
