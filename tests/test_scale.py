"""A change's cost follows the change, not the library: a watcher's batch of 10 new pictures in a
catalog of 200,000 reads the rows it needs, counted in SQLite's own virtual machine steps on every
connection the process opens (a read of every file or vector row takes at least one step a row)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from picfind import Library

from .conftest import write_shapes

MODEL = "tiny-shapes"
ROWS = 200_000
STEP = 10  # the progress handler runs every STEP virtual machine instructions


def _fill(lib: Library, root: Path, n: int) -> None:
    """n files (not on disk: a watcher's batch never walks them) with their vectors, written as an
    index run would have (`benchmarks/scale.py` fills its catalogs the same way)."""
    (root_id,) = lib.catalog.db.execute("SELECT id FROM roots").fetchone()
    rng = np.random.default_rng(0)
    with lib.catalog.transaction() as db:
        for start in range(0, n, 20_000):
            part = range(start, min(start + 20_000, n))
            vecs = rng.standard_normal((len(part), 64)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            db.executemany("INSERT INTO embeddings(content_hash, model, vector) VALUES (?, ?, ?)",
                           [(f"{i:064x}", MODEL, v.tobytes()) for i, v in zip(part, vecs)])
            db.executemany("INSERT INTO files(path, root_id, size, mtime_ns, content_hash, status, meta_read) "
                           "VALUES (?, ?, 1, 1, ?, 'ok', 1)",
                           [(str(root / "old" / f"{i:07d}.jpg").encode(), root_id, f"{i:064x}") for i in part])


class Steps:
    """SQLite virtual machine steps on the catalog's connection and every one opened meanwhile."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *existing: sqlite3.Connection) -> None:
        self.count = 0
        connect = sqlite3.connect

        def counting(*args, **kwargs) -> sqlite3.Connection:
            con = connect(*args, **kwargs)
            self.watch(con)
            return con
        monkeypatch.setattr(sqlite3, "connect", counting)
        for con in existing:
            self.watch(con)

    def watch(self, con: sqlite3.Connection) -> None:
        con.set_progress_handler(self._step, STEP)

    def _step(self) -> int:
        self.count += STEP
        return 0


@pytest.mark.slow
def test_a_watch_batch_of_ten_reads_what_it_needs_not_the_library(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    write_shapes(root / "first", 2)
    db = tmp_path / "catalog.db"
    with Library(db, model=MODEL) as lib:
        lib.index([str(root)], ann="exact")
        _fill(lib, root, ROWS)
        lib.catalog.sync_index(MODEL)  # the index as the last run left it
        (root_id,) = lib.catalog.db.execute("SELECT id FROM roots").fetchone()
        write_shapes(root / "new", 10, seed=11)
        new = sorted(str(p) for p in (root / "new").iterdir())

        def batch(paths: list[str]):  # what `picfind watch` does with a burst of events (library.watch's apply)
            return lib._index_roots(lib.catalog.roots(), [], scope={root_id: paths})

        steps = Steps(monkeypatch, lib.catalog.db)
        report = batch(new)
        assert report.embedded == 10 and report.read == 10
        added = steps.count
        assert added < ROWS, f"a batch of 10 new pictures took {added} SQLite steps in a {ROWS}-row catalog"

        # a copy of a known picture: found known by its hash, nothing embedded
        (root / "new" / "copy.png").write_bytes(Path(new[0]).read_bytes())
        steps.count = 0
        report = batch([str(root / "new" / "copy.png")])
        assert report.embedded == 0 and report.reused == 1
        assert steps.count < ROWS

        # a deletion: the departed content's vector is pruned, and only its rows are read
        Path(new[1]).unlink()
        steps.count = 0
        report = batch([new[1]])
        assert report.removed == 1
        assert steps.count < ROWS, f"a deletion took {steps.count} SQLite steps"
        assert lib.catalog.count_vectors(MODEL) == ROWS + 2 + 9
        assert lib.catalog.db.execute("SELECT count(*) FROM embeddings").fetchone()[0] == ROWS + 2 + 9
        kept = lib.catalog.files_for_hashes([h for (h,) in lib.catalog.db.execute(
            "SELECT content_hash FROM files WHERE path = ?", (new[2].encode(),))])
        (h, [found]), = kept.items()
        hits = lib.search_vector(lib.catalog.vector_of(MODEL, h), n=1)  # the index caught up
        assert [hit.path for hit in hits] == [new[2]] == [found["path"]]

        # status reads the counts the triggers keep, not the tables (tests/test_tallies.py)
        steps.count = 0
        status = lib.status()
        assert status["pictures"] == status["embedded_with_model"] == ROWS + 2 + 9
        assert steps.count < 20_000, f"status took {steps.count} SQLite steps"


def test_vector_counts_follow_inserts_and_deletes(tmp_path: Path) -> None:
    """count_vectors reads the counter the triggers keep (migration 9), and it matches count(*)."""
    from picfind.catalogs.sqlite.catalog import Catalog

    cat = Catalog(tmp_path / "c.db")
    v = np.ones(4, np.float32).tobytes()
    with cat.transaction() as db:
        db.executemany("INSERT OR IGNORE INTO embeddings(content_hash, model, vector) VALUES (?, ?, ?)",
                       [("a", "m", v), ("b", "m", v), ("a", "m", v), ("a", "n", v), ("a@0-1", "m", v)])
        db.execute("DELETE FROM embeddings WHERE content_hash = 'b'")
    assert cat.count_vectors("m") == 2 and cat.count_vectors("n") == 1 and cat.count_vectors("x") == 0
    assert cat.has_vectors("m", ["a", "b", "c"]) == {"a"}
    assert cat.has_vectors("n", ["a", "a@0-1"]) == {"a"}


def _catalog_with(tmp_path: Path, n: int, dim: int = 16):
    from picfind.catalogs.sqlite.backend import EmbeddedCatalog
    from picfind.records import IndexedFile

    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    catalog = EmbeddedCatalog(tmp_path / "c.db")
    root = catalog.add_root(str(tmp_path), ["jpg"], [])
    names = [f"h{i}" for i in range(n)]
    catalog.write_batch("m", [IndexedFile(str(tmp_path / f"{h}.jpg"), root.id, 1, 0, h, 8, 8) for h in names],
                        dict(zip(names, vectors)), [])
    return catalog, vectors


def test_an_hnsw_build_reads_chunks_and_resumes_where_it_was_stopped(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from picfind.catalogs.sqlite import hnsw, hnsw_build
    from picfind.catalogs.sqlite.index_store import IndexStore
    from picfind.catalogs.sqlite.vectors import IndexSettings

    catalog, vectors = _catalog_with(tmp_path, 3000)
    monkeypatch.setattr(hnsw_build, "CHUNK", 500)
    monkeypatch.setattr(hnsw_build, "CHECKPOINT", 1000)
    monkeypatch.setattr(hnsw, "CHUNK", 500)
    monkeypatch.setattr(type(catalog), "vectors", lambda *a: pytest.fail("read every vector at once"))
    settings = IndexSettings(backend="hnsw", dtype="f32")
    seen: list[int] = []

    def stop_at_2500(done: int, total: int) -> None:
        seen.append(done)
        if done == 2500:  # after the checkpoint at 2,000
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        IndexStore(catalog).open("m", settings, progress=stop_at_2500)
    [(partial, _, last)] = hnsw_build.partials(catalog, IndexStore(catalog).folder, "m", "f32")
    assert last == 2000 and not IndexStore(catalog).files("m", "hnsw")
    seen.clear()
    index = IndexStore(catalog).open("m", settings, progress=lambda done, total: seen.append(done))
    assert seen == [2500, 3000]  # resumed after the 2,000 it had saved
    assert len(index) == 3000 and not partial.exists()
    for i in (0, 1999, 2000, 2999):
        assert catalog.hashes_for_ids([index.top(vectors[i], 1)[0][0]]).popitem()[1] == f"h{i}"


def test_few_changes_wait_beside_the_mapped_file_and_many_are_folded_in(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from picfind.catalogs.sqlite import index_store
    from picfind.catalogs.sqlite.index_store import IndexStore
    from picfind.catalogs.sqlite.vectors import IndexSettings
    from picfind.records import IndexedFile

    catalog, vectors = _catalog_with(tmp_path, 2000)
    catalog.choose_index("hnsw")
    catalog.sync_index("m")
    [stored] = IndexStore(catalog).files("m", "hnsw")
    root = catalog.roots()[0]
    new = np.eye(16, dtype=np.float32)[:3]
    catalog.write_batch("m", [IndexedFile(str(tmp_path / f"n{i}.jpg"), root.id, 1, 0, f"n{i}", 8, 8)
                              for i in range(3)], {f"n{i}": v for i, v in enumerate(new)}, [],
                        gone=[str(tmp_path / "h5.jpg")])
    catalog.prune_embeddings(["h5"])
    catalog.sync_index("m")  # what an index run does after a batch
    index = catalog.vector_index("m")
    assert IndexStore(catalog).files("m", "hnsw") == [stored]  # not rewritten for 3 pictures
    assert index.path == stored and index.overlaid == 4 and len(index) == 2002
    assert "h5" not in catalog.hashes_for_ids([i for i, _ in index.top(vectors[5], 5)]).values()
    hits, _ = catalog.searcher("m", None).top(new[1], 1)
    assert hits[0][0] == "n1" and hits[0][1] == pytest.approx(1.0)
    ids = np.array(sorted(index.extra_ids.tolist()) + [int(next(iter(index.hidden))) + 1])
    keys, _ = catalog.nearest("m")(ids, np.stack([*new, vectors[6]]), 2)  # near-duplicates see the overlay
    assert keys[:, 0].tolist() == ids.tolist() and int(next(iter(index.hidden))) not in keys
    monkeypatch.setattr(index_store, "OVERLAY_MAX", 3)  # past it: folded into a new file
    catalog.sync_index("m")
    [folded] = IndexStore(catalog).files("m", "hnsw")
    assert folded != stored and not catalog.vector_index("m").overlaid and len(catalog.vector_index("m")) == 2002
    assert IndexSettings.of(catalog).vectors(2002) == "f16"
    assert catalog.index_status("m")["vectors"] == "f16"
