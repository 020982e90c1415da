"""`status` reads the counts its triggers keep (`catalogs/sqlite/tallies.py`,
`catalogs/postgres/tallies.py`): after every kind of change an index run, a watcher or a prune
makes, they equal what counting the whole tables says, and reading them costs the same few steps
whatever the catalog's size."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from picfind.catalogs.postgres.catalog import PgCatalog
from picfind.catalogs.postgres.schema import MIGRATIONS as PG_MIGRATIONS
from picfind.catalogs.sqlite.catalog import Catalog
from picfind.catalogs.sqlite.schema import MIGRATIONS, TALLIES_MIGRATION
from picfind.records import FIRST_PHOTO_YEAR, IndexedFile, SkippedFile, frame_key

# a vector's content (a video's frames belong to the video): SQLite computes it, PostgreSQL stores it
OWNERS = {Catalog: "CASE WHEN instr(e.content_hash, '@') > 0 "
                   "THEN substr(e.content_hash, 1, instr(e.content_hash, '@') - 1) ELSE e.content_hash END",
          PgCatalog: "e.owner"}


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog | PgCatalog]:
    cat = Catalog(tmp_path / "c.db") if request.param == "sqlite" else PgCatalog(request.getfixturevalue("pg_url"))
    yield cat
    cat.close()


def counted(cat: Catalog | PgCatalog, model: str) -> dict:
    """What `status` showed when it counted whole tables (the code before the tallies)."""
    owner = OWNERS[type(cat)]
    held = f"EXISTS (SELECT 1 FROM files f WHERE f.content_hash = {owner} AND f.status = 'ok')"
    frame = f"e.content_hash <> {owner}"
    mark = "%s" if isinstance(cat, PgCatalog) else "?"

    def q(query: str, params: tuple = ()):
        return cat.db.execute(query.replace("?", mark), params)
    ok, contents = q("SELECT count(*), count(DISTINCT content_hash) FROM files WHERE status = 'ok'").fetchone()
    pictures, videos = q("SELECT count(DISTINCT CASE WHEN duration IS NULL THEN content_hash END), "
                         "count(DISTINCT CASE WHEN duration IS NOT NULL THEN content_hash END) "
                         "FROM files WHERE status = 'ok'").fetchone()
    return {
        "files_seen": q("SELECT count(*) FROM files").fetchone()[0],
        "images_indexed": ok, "unique_contents": contents, "pictures": pictures, "videos": videos,
        "embedded_with_model": q(f"SELECT count(DISTINCT {owner}) FROM embeddings e WHERE model = ? AND {held}",
                                 (model,)).fetchone()[0],
        "moments": q(f"SELECT count(*) FROM embeddings e WHERE model = ? AND {frame} AND {held}",
                     (model,)).fetchone()[0],
        "with_position": q("SELECT count(*) FROM files WHERE status = 'ok' AND lat IS NOT NULL").fetchone()[0],
        f"dates_before_{FIRST_PHOTO_YEAR}": q("SELECT count(*) FROM files WHERE status = 'ok' AND taken_at < ?",
                                              (f"{FIRST_PHOTO_YEAR:04d}",)).fetchone()[0],
        "skipped_by_reason": dict(q("SELECT reason, count(*) FROM files WHERE status = 'skipped' GROUP BY reason")),
    }


def shown(cat: Catalog | PgCatalog, model: str) -> dict:
    stats = cat.stats(model)
    return {k: stats[k] for k in counted(cat, model)}


def test_the_kept_counts_follow_every_change_a_run_makes(catalog: Catalog | PgCatalog, tmp_path: Path) -> None:
    rnd = random.Random(5)
    cat = catalog
    root = cat.add_root(str(tmp_path), ["jpg", "mp4"], [])
    other = cat.add_root(str(tmp_path / "other"), ["jpg"], [])
    v = np.ones(4, np.float32)
    paths: dict[str, str] = {}  # path -> the content it holds now

    def picture(path: str, h: str, **kw) -> IndexedFile:
        """A file of content h (a video's content keeps its duration: one content, one kind)."""
        kw = {"duration": 9.0, **kw} if h.endswith("v") else kw
        return IndexedFile(path, other.id if "/other/" in path else root.id, 1, 0, h, 8, 8, **kw)

    def step(i: int) -> None:
        action = rnd.choice(["new", "copy", "video", "skip", "rename", "change", "delete", "prune", "other model"])
        known = sorted(paths)
        path = str(tmp_path / rnd.choice(["", "other/"]) / f"{i}.jpg")
        if action == "new":
            h = f"{i:08x}"
            kw = rnd.choice([{}, {"lat": 48.8, "lon": 2.3}, {"taken_at": "0999-01-01 00:00:00"}])
            cat.write_batch("m", [picture(path, h, **kw)], {h: v}, [])
            paths[path] = h
        elif action == "copy" and known:
            h = paths[rnd.choice(known)]
            cat.write_batch("m", [picture(path, h)], {}, [])
            paths[path] = h
        elif action == "video":
            h, frames = f"{i:08x}v", [frame_key(f"{i:08x}v", s, s + 2) for s in range(rnd.randint(1, 4))]
            cat.write_batch("m", [picture(path.replace(".jpg", ".mp4"), h, duration=9.0)],
                            {k: v for k in frames}, [])
            paths[path.replace(".jpg", ".mp4")] = h
        elif action == "skip":
            target = rnd.choice(known) if known and rnd.random() < 0.5 else path  # an indexed file turns bad
            cat.write_batch("m", [], {}, [SkippedFile(target, root.id, 1, 0, rnd.choice(["damaged", "too small"]))])
            paths.pop(target, None)
        elif action == "rename" and known:
            old = rnd.choice(known)
            cat.write_batch("m", [picture(path, paths[old])], {}, [], gone=[old])
            paths[path] = paths.pop(old)
        elif action == "change" and known:
            target, h = rnd.choice(known), f"{i:08x}c"
            cat.write_batch("m", [picture(target, h)], {h: v}, [])
            paths[target] = h
        elif action == "delete" and known:
            gone = rnd.sample(known, min(len(known), rnd.randint(1, 3)))
            cat.write_batch("m", [], {}, [], gone=gone)
            for p in gone:
                paths.pop(p)
        elif action == "prune":
            cat.prune_embeddings(rnd.choice([None, list(set(paths.values()))]))
        elif action == "other model" and known:
            h = paths[rnd.choice(known)]
            cat.write_batch("n", [], {h if not h.endswith("v") else frame_key(h, 0, 2): v}, [])

    for i in range(300):
        step(i)
        for model in ("m", "n"):
            assert shown(cat, model) == counted(cat, model), f"after step {i}"
    assert shown(cat, "m")["videos"] > 0 and shown(cat, "m")["moments"] > 0 and shown(cat, "n")["embedded_with_model"]

    assert cat.remove_root(str(tmp_path)) > 0  # its files go with it (those under other/ stay, in its root)
    assert shown(cat, "m") == counted(cat, "m")


def test_a_catalog_from_before_gets_its_counts_when_it_opens(tmp_path: Path) -> None:
    """The migration counts what is there once; from then on the triggers keep it."""
    db = tmp_path / "old.db"
    before = MIGRATIONS.index(TALLIES_MIGRATION)  # the schema before the tallies (later steps too)
    con = sqlite3.connect(db)
    con.executescript("".join(MIGRATIONS[:before]) + f"PRAGMA user_version = {before};")
    con.execute("INSERT INTO roots(id, path, extensions, excludes, added_at) VALUES (1, X'2f78', '[]', '[]', 0)")
    v = np.ones(4, np.float32).tobytes()
    con.executemany("INSERT INTO embeddings(content_hash, model, vector) VALUES (?, 'm', ?)",
                    [("a", v), ("b", v), ("c@0-1000", v), ("c@1000-2000", v), ("gone", v)])
    con.executemany("INSERT INTO files(path, root_id, size, mtime_ns, content_hash, status, reason, duration, lat) "
                    "VALUES (?, 1, 1, 0, ?, ?, ?, ?, ?)",
                    [(b"/x/a", "a", "ok", None, None, 1.0), (b"/x/a2", "a", "ok", None, None, None),
                     (b"/x/b", "b", "ok", None, None, None), (b"/x/c", "c", "ok", None, 4.0, None),
                     (b"/x/bad", None, "skipped", "damaged", None, None)])
    con.commit()
    con.close()
    cat = Catalog(db)
    assert shown(cat, "m") == counted(cat, "m")
    assert (cat.stats("m")["unique_contents"], cat.stats("m")["moments"]) == (3, 2)


def test_a_postgresql_catalog_from_before_gets_its_counts_when_it_opens(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as con:  # the schema before the tallies, as connect() made it
        con.execute("CREATE TABLE picfind_schema (version integer PRIMARY KEY, name text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())")
        before = next(i for i, (name, _) in enumerate(PG_MIGRATIONS) if name == "m008_tallies")  # later steps too
        for number, (name, script) in enumerate(PG_MIGRATIONS[:before], 1):
            con.execute(script)
            con.execute("INSERT INTO picfind_schema(version, name) VALUES (%s, %s)", (number, name))
        con.execute("INSERT INTO roots(id, path, extensions, excludes, added_at) VALUES (1, '/x', '[]', '[]', 0)")
        cur = con.cursor()
        cur.executemany("INSERT INTO embeddings(content_hash, model, vector) VALUES (%s, 'm', '[1,1,1,1]')",
                        [("a",), ("b",), ("c@0-1000",), ("c@1000-2000",), ("gone",)])
        cur.executemany("INSERT INTO files(path, root_id, size, mtime_ns, mtime_local, ext, content_hash, status, "
                        "reason, duration, lat) VALUES (%s, 1, 1, 0, '2020-01-01 00:00:00', 'jpg', %s, %s, %s, %s, %s)",
                        [(b"/x/a", "a", "ok", None, None, 1.0), (b"/x/a2", "a", "ok", None, None, None),
                         (b"/x/b", "b", "ok", None, None, None), (b"/x/c", "c", "ok", None, 4.0, None),
                         (b"/x/bad", None, "skipped", "damaged", None, None)])
    cat = PgCatalog(pg_url)
    assert shown(cat, "m") == counted(cat, "m")
    assert (cat.stats("m")["unique_contents"], cat.stats("m")["moments"]) == (3, 2)
    cat.close()


def test_status_on_postgresql_reads_no_file_or_vector_row(pg_url: str) -> None:
    """What made `status` take seconds on a shared server: counting every file and vector."""
    cat = PgCatalog(pg_url)
    root = cat.add_root("/x", ["jpg"], [])
    cat.write_batch("m", [IndexedFile(f"/x/{i}.jpg", root.id, 1, 0, f"{i:08x}", 8, 8) for i in range(200)],
                    {f"{i:08x}": np.ones(4, np.float32) for i in range(200)}, [])
    rows_read = ("SELECT sum(seq_tup_read + coalesce(idx_tup_fetch, 0)) FROM pg_stat_xact_user_tables "
                 "WHERE relname IN ('files', 'embeddings')")
    with cat.db.transaction():  # the backend's counts are not flushed within a transaction
        (before,) = cat.db.execute(rows_read).fetchone()
        stats = cat.stats("m")
        (after,) = cat.db.execute(rows_read).fetchone()
    assert (stats["unique_contents"], stats["embedded_with_model"], after - before) == (200, 200, 0)
    cat.close()


def test_two_clients_writing_one_content_at_once_count_it_once(pg_url: str) -> None:
    """Neither sees the other's rows before they commit: two copies of one new picture, and one
    video's frames written in two slices (as the side writers do), each counted once."""
    a, b = PgCatalog(pg_url), PgCatalog(pg_url)
    root = a.add_root("/x", ["jpg", "mp4"], [])
    v = np.ones(4, np.float32)
    a.write_batch("m", [IndexedFile("/x/v.mp4", root.id, 1, 0, "v", 8, 8, duration=9.0)], {}, [])
    with a.db.transaction():  # a's batch, not committed while b writes its own
        a.write_batch("m", [IndexedFile("/x/1.jpg", root.id, 1, 0, "h", 8, 8)],
                      {"h": v, frame_key("v", 0, 1): v, frame_key("v", 1, 2): v}, [])
        b.write_batch("n", [IndexedFile("/x/2.jpg", root.id, 1, 0, "h", 8, 8)],
                      {"h": v, frame_key("v", 2, 3): v}, [])
    for model in ("m", "n"):
        assert shown(b, model) == counted(b, model)
    b.write_batch("m", [], {}, [])  # what a's open batch kept b from folding is folded now
    for model in ("m", "n"):
        assert shown(b, model) == counted(b, model)
    assert (shown(b, "m")["unique_contents"], shown(b, "m")["moments"], shown(b, "n")["embedded_with_model"]) \
        == (2, 2, 2)
    a.close()
    b.close()
