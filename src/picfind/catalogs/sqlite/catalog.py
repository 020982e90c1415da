"""The embedded catalog: one SQLite file (WAL) with roots, files and embeddings.

Its schema lives in `picfind.catalogs.sqlite.schema` alone, as numbered migrations. Embeddings are keyed
by (content hash, model), so copies, moves and renames reuse a vector, and vectors of two models
never mix. Paths are stored as the bytes the OS gave, so names that are not valid UTF-8 survive.
"""

from __future__ import annotations

import json
import operator
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import numpy as np

from picfind.catalogs.analyses import AnalysisStores
from picfind.catalogs.faces import FaceStore
from picfind.catalogs.root_files import RootFiles
from picfind.catalogs.sqlite.dialect import WHEN, owner_sql, register_functions, sqlite_condition
from picfind.catalogs.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, reown_sql, statements
from picfind.catalogs.sqlite.text import TextStore
from picfind.catalogs.sqlite.vector_rows import VectorRows, chunks, marks
from picfind.errors import explain
from picfind.filters import Filter
from picfind.records import (
    PLACE_COLUMNS,
    PLACE_READ,
    CatalogError,
    IndexedFile,
    Root,
    SkippedFile,
    fs,
    owner,
    place_fields,
    place_values,
    stats_of,
    under_paths,
)

_FIRST = operator.itemgetter(0)
_ROOT_EXISTS = "WHERE EXISTS (SELECT 1 FROM roots WHERE id = ?)"


class Catalog(VectorRows, RootFiles, TextStore, FaceStore, AnalysisStores):
    """The embedded SQLite catalog's tables (`picfind.catalogs.sqlite.backend` adds its vector indexes and
    thumbnails; `picfind.catalogs.protocol.CatalogBackend` is what every catalog answers; `VectorRows` the
    vector rows' reads; `RootFiles` a root's files as a re-scan reads them; `TextStore` the text
    OCR read, SQLite only)."""

    _MARK = "?"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._reader: sqlite3.Connection | None = None  # `_seen_rows`'s
        if self.path.is_dir():
            raise CatalogError(f"{self.path} is a folder: --db wants a catalog file path")
        # A catalog on a read-only drive, or a file or folder nobody may write to: SQLite cannot
        # even read a WAL catalog there (it needs its -shm file), so open it immutable: searching
        # works, and writing says "read-only".
        self.read_only = self.path.exists() and not (os.access(self.path, os.W_OK)
                                                     and os.access(self.path.parent, os.W_OK))
        try:
            if self.read_only:
                self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1", uri=True,
                                          isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                # New catalogs only (a no-op for existing ones): with 4 KB pages one 512-d vector row
                # (2.1 KB) fills a page alone; 16 KB pages hold seven, halving the catalog's size.
                self.db.execute("PRAGMA page_size = 16384")
                _switch_to_wal(self.db)
                self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            register_functions(self.db)
            self._migrate()
        except sqlite3.DatabaseError as e:
            if "not a database" in str(e):
                raise CatalogError(f"cannot open catalog {self.path}: {e} (is it a picfind catalog?)") from e
            raise CatalogError(explain(e, self.path)) from e
        except OSError as e:
            raise CatalogError(f"cannot open catalog {self.path}: {e.strerror or e}") from e

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.db.close()

    def _migrate(self) -> None:
        if self._schema_version() == SCHEMA_VERSION:
            return
        if self.read_only:
            raise CatalogError(f"catalog {self.path} is read-only and needs an upgrade this picfind cannot write: "
                               "open it once where it is writable, or copy it and pass --db")
        # Read the version again holding the write lock: two processes creating one catalog at
        # once must not both run migration 1 ("table roots already exists"). One transaction:
        # the migrations are applied whole or not at all.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            version = self._schema_version()
            for number in range(version, SCHEMA_VERSION):
                for statement in statements(MIGRATIONS[number]):
                    self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version = {max(version, SCHEMA_VERSION)}")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _schema_version(self) -> int:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"catalog {self.path} has schema version {version}, newer than this picfind "
                f"understands ({SCHEMA_VERSION}): upgrade picfind, or use another --db")
        return version

    @property
    def id(self) -> str:
        """This catalog's random identity (migration 4): stored indexes and thumbnails carry it, so
        a catalog deleted and made again at the same path never reads the old one's files."""
        return self.setting("catalog_id", "")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # the face store's access (`picfind.catalogs.faces`)
    def _fq(self, query: str, params: Iterable = ()) -> list[tuple]:
        return self.db.execute(query, tuple(params)).fetchall()

    def _fx(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.transaction()

    def _seen_rows(self, query: str, params: list) -> list[tuple]:
        if self._reader is None:  # a connection of its own: reader threads ask (KnownContents locks)
            self._reader = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._reader.execute("PRAGMA query_only = ON")
        return self._reader.execute(query, params).fetchall()

    def _reclaim(self) -> None:
        self.db.execute("VACUUM")  # deleted faces' pages rewritten: no crop or vector lingers in the file
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # settings
    def setting(self, key: str, default: str) -> str:
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def indexed_model(self) -> str | None:
        """The model this catalog was last indexed with: as recorded, or for a catalog from before
        the record, the model most of its vectors come from; None for a new catalog."""
        recorded = self.setting("model", "")
        if recorded:
            return recorded
        row = self.db.execute("SELECT model FROM embeddings GROUP BY model ORDER BY count(*) DESC LIMIT 1").fetchone()
        return row[0] if row else None

    # roots
    def add_root(self, path: str, extensions: list[str], excludes: list[str]) -> Root:
        with self.transaction():
            new = self.db.execute("SELECT 1 FROM roots WHERE path = ?", (os.fsencode(path),)).fetchone() is None
            self.db.execute(
                "INSERT INTO roots(path, extensions, excludes, added_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET extensions = excluded.extensions, "
                "excludes = excluded.excludes",
                (os.fsencode(path), json.dumps(extensions), json.dumps(excludes), time.time()))
            if new:
                self.db.execute(reown_sql())  # a root inside another takes over its files, no re-hashing
        return next(r for r in self.roots() if r.path == path)

    def roots(self) -> list[Root]:
        rows = self.db.execute("SELECT id, path, extensions, excludes FROM roots ORDER BY path")
        return [Root(i, fs(p), json.loads(e), json.loads(x)) for i, p, e, x in rows]

    def remove_root(self, path: str) -> int:
        """Forget a root and its files; returns how many files were dropped (-1: not a root).
        Files also under another root go to it instead. Their vectors stay until `prune_embeddings`."""
        with self.transaction():
            row = self.db.execute("SELECT id FROM roots WHERE path = ?", (os.fsencode(path),)).fetchone()
            if row is None:
                return -1
            self.db.execute(reown_sql(leaving=row[0]))
            n = self.db.execute("SELECT count(*) FROM files WHERE root_id = ?", (row[0],)).fetchone()[0]
            self.db.execute("DELETE FROM files WHERE root_id = ?", (row[0],))
            self.db.execute("DELETE FROM roots WHERE id = ?", (row[0],))
        return n

    # files
    def _rows_of_root(self, columns: str, where: str, params: list, root_id: int,
                      under: list[str] | None) -> dict[bytes, tuple]:
        # (CAST: a path an old version stored as text, as its bytes)
        query = f"SELECT CAST(path AS BLOB), size, mtime_ns{columns} FROM files f WHERE ({where}) AND root_id = ?"
        rows = self.db.execute(query, [*params, root_id]).fetchall() if under is None else []
        for paths, more in under_paths(under or [], "?"):
            # `+root_id`: walk the path index for these paths, never the root's every file (SQLite
            # took the root index for an OR of many paths: 0.2 s a watch batch at 200k files)
            rows += self.db.execute(f"{query.replace('root_id', '+root_id')} AND ({paths})", [*params, root_id, *more])
        return dict(zip(map(_FIRST, rows), rows))  # made in C, not a Python step a row

    def mark_offline(self, root_id: int, places: dict[str, list[str]]) -> None:
        """The places of this root that could not be read in this run, each with the known files
        under it: those are kept, marked offline since the first run that missed the place. Places
        read again are forgotten, which brings their files back (nothing re-embedded)."""
        with self.transaction() as db:
            wanted = {os.fsencode(p) for p in places}
            for place_id, path in db.execute("SELECT id, path FROM offline_places WHERE root_id = ?",
                                             (root_id,)).fetchall():
                if path not in wanted:
                    db.execute("DELETE FROM offline_places WHERE id = ?", (place_id,))  # files: offline = NULL
            for place, files in places.items():
                db.execute("INSERT INTO offline_places(path, root_id, since) VALUES (?, ?, ?) "
                           "ON CONFLICT(path) DO NOTHING", (os.fsencode(place), root_id, time.time()))
                (place_id,) = db.execute("SELECT id FROM offline_places WHERE path = ?",
                                         (os.fsencode(place),)).fetchone()
                db.executemany("UPDATE files SET offline = ? WHERE path = ?",
                               [(place_id, os.fsencode(f)) for f in files])

    def offline_places(self) -> list[dict]:
        """Places that could not be read on the last run, with how many files are kept there."""
        rows = self.db.execute("SELECT p.path, p.since, count(f.id) FROM offline_places p JOIN files f "
                               "ON f.offline = p.id GROUP BY p.id ORDER BY p.path")
        return [{"path": fs(p), "since": since, "files": n} for p, since, n in rows]

    def write_batch(self, model: str, indexed: Iterable[IndexedFile],
                    vectors: dict[str, np.ndarray], skipped: Iterable[SkippedFile],
                    gone: Iterable[str] = ()) -> None:
        """One transaction: new vectors, files that now point at them, skipped and vanished files.
        A kill before COMMIT loses this batch only; the next run redoes it."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO embeddings(content_hash, model, vector) VALUES (?, ?, ?)",
                           [(h, model, np.asarray(v, np.float32).tobytes()) for h, v in vectors.items()])
            # `WHERE EXISTS`: a root removed (`picfind roots remove`) while this run read its files
            # takes them with it, instead of failing the run on the foreign key.
            db.executemany(
                "INSERT INTO files(path, root_id, size, mtime_ns, content_hash, status, reason, width, height, "
                f"taken_at, camera, meta_read, duration, {', '.join(PLACE_COLUMNS)}) SELECT ?, ?, ?, ?, ?, 'ok', "
                f"NULL, ?, ?, ?, ?, 1, ?, {marks(PLACE_COLUMNS)} {_ROOT_EXISTS} ON CONFLICT(path) DO UPDATE SET "
                "root_id = excluded.root_id, size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "content_hash = excluded.content_hash, status = 'ok', reason = NULL, detail = NULL, "
                "width = excluded.width, height = excluded.height, taken_at = excluded.taken_at, "
                "camera = excluded.camera, meta_read = 1, offline = NULL, duration = excluded.duration, "
                + ", ".join(f"{c} = excluded.{c}" for c in PLACE_COLUMNS),
                [(os.fsencode(f.path), f.root_id, f.size, f.mtime_ns, f.content_hash, f.width, f.height,
                  f.taken_at, f.camera, f.duration, *place_values(f), f.root_id) for f in indexed])
            db.executemany(
                "INSERT INTO files(path, root_id, size, mtime_ns, content_hash, status, reason, detail) "
                f"SELECT ?, ?, ?, ?, NULL, 'skipped', ?, ? {_ROOT_EXISTS} ON CONFLICT(path) DO UPDATE SET "
                "root_id = excluded.root_id, size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "content_hash = NULL, status = 'skipped', reason = excluded.reason, "
                "detail = excluded.detail, width = NULL, height = NULL, offline = NULL, duration = NULL",
                [(os.fsencode(f.path), f.root_id, f.size, f.mtime_ns, f.reason, f.detail, f.root_id) for f in skipped])
            db.executemany("DELETE FROM files WHERE path = ?", [(os.fsencode(p),) for p in gone])

    def prune_embeddings(self, candidates: Iterable[str] | None = None) -> list[str]:
        """Drop vectors no file points at any more (a deleted photo's vector is not kept);
        returns those contents, whose thumbnails can go too. `candidates`: only these contents
        can have lost their last file (an index run's departed files), so only their rows are
        read; None reads the whole table (a root removed)."""
        if candidates is not None:
            return self._prune_contents(sorted(set(candidates)))
        orphans = f"FROM embeddings WHERE {owner_sql('content_hash')} NOT IN " \
                  "(SELECT content_hash FROM files WHERE content_hash IS NOT NULL)"
        with self.transaction() as db:
            gone = [h for (h,) in db.execute(f"SELECT DISTINCT content_hash {orphans}")]
            gone += sorted({owner(h) for h in gone if owner(h) != h})  # a video's own thumbnail
            db.execute(f"DELETE {orphans}")
            self.prune_texts()
            self.prune_faces(db)
        return gone

    def _prune_contents(self, contents: list[str]) -> list[str]:
        """`prune_embeddings` for these contents only: their vectors, frames' vectors and texts
        (any model) when no file holds them."""
        gone: list[str] = []
        with self.transaction() as db:
            for chunk in chunks(contents, 400):
                orphans = [h for (h,) in db.execute(
                    f"WITH q(h) AS (VALUES {','.join(['(?)'] * len(chunk))}) SELECT h FROM q WHERE NOT EXISTS "
                    "(SELECT 1 FROM files f WHERE f.content_hash = q.h)", chunk)]
                for table, key in (("embeddings", "content_hash"), ("ocr_texts", "content_hash")):
                    keys = [k for h in orphans for (k,) in db.execute(
                        f"SELECT {key} FROM {table} WHERE {key} = ? UNION ALL SELECT {key} FROM {table} "
                        f"WHERE {key} > ? AND {key} < ?", (h, h + "@", h + "A"))]
                    for part in chunks(sorted(set(keys))):
                        if table == "embeddings":
                            gone += part
                        else:
                            db.execute(f"DELETE FROM ocr_fts WHERE rowid IN (SELECT id FROM ocr_texts "
                                       f"WHERE content_hash IN ({marks(part)}))", part)
                        db.execute(f"DELETE FROM {table} WHERE {key} IN ({marks(part)})", part)
            self.prune_faces(db, contents)
        gone = sorted(set(gone))
        return gone + sorted({owner(h) for h in gone if owner(h) != h})  # a video's own thumbnail

    def files_for_hashes(self, hashes: list[str], where: Filter | None = None,
                         gone: dict[str, list[str]] | None = None) -> dict[str, list[dict]]:
        """The indexed files holding each content that pass `where` and are still on disk (a file
        deleted since the last scan never shows; its path goes into `gone`), oldest entry first."""
        condition, params = sqlite_condition(where or Filter())
        out: dict[str, list[dict]] = {h: [] for h in hashes}
        for chunk in chunks(hashes):
            rows = self.db.execute(
                f"SELECT f.id, f.content_hash, f.path, f.size, f.mtime_ns, f.width, f.height, {WHEN}, f.camera, "
                f"f.duration, {PLACE_READ} FROM files f WHERE f.status = 'ok' AND f.offline IS NULL "
                f"AND f.content_hash IN ({marks(chunk)}) AND {condition} ORDER BY f.id", [*chunk, *params])
            for file_id, h, p, size, mtime_ns, w, hgt, taken, camera, duration, *place in rows:
                if os.path.lexists(p):
                    out[h].append({"id": file_id, "path": fs(p), "size": size, "mtime": mtime_ns / 1e9,
                                   "width": w, "height": hgt, "taken": taken, "camera": camera,
                                   "duration": duration, **place_fields(*place)})
                elif gone is not None:
                    gone.setdefault(h, []).append(fs(p))
        return out

    def repeated_contents(self) -> list[str]:
        """Content hashes held by more than one indexed file."""
        return [h for (h,) in self.db.execute(
            "SELECT content_hash FROM files WHERE status = 'ok' GROUP BY content_hash HAVING count(*) > 1")]

    def count_matching(self, where: Filter) -> int:
        """How many distinct contents have a file that passes `where`."""
        condition, params = sqlite_condition(where)
        return self.db.execute(f"SELECT count(DISTINCT f.content_hash) FROM files f WHERE f.status = 'ok' "
                               f"AND f.offline IS NULL AND {condition}", params).fetchone()[0]

    def file_by_id(self, file_id: int) -> dict | None:
        if not 0 <= file_id < 2**63:  # SQLite's integers; a larger id from a URL is simply not there
            return None
        row = self.db.execute("SELECT path, content_hash, size, mtime_ns, duration FROM files WHERE id = ? "
                              "AND status = 'ok' AND offline IS NULL", (file_id,)).fetchone()  # offline: not served
        return {"path": fs(row[0]), "content_hash": row[1], "size": row[2], "mtime_ns": row[3],
                "duration": row[4]} if row else None

    # status
    def stats(self, model: str) -> dict:
        """From the counts the triggers keep (`tallies`): a few rows at any size. The first and
        last rows of the files and vectors are read too, root page to leaf: a damaged table says
        so here (the whole-table counts it replaced read every page), not at the next search."""
        for probe in _END_ROWS:
            self.db.execute(probe).fetchone()
        t = dict(self.db.execute("SELECT key, n FROM tallies WHERE n <> 0"))
        return stats_of(t, model, self.offline_places())

    def skipped_files(self) -> list[dict]:
        rows = self.db.execute("SELECT path, reason, detail FROM files WHERE status = 'skipped' ORDER BY path")
        return [{"path": fs(p), "reason": r, "detail": d} for p, r, d in rows]

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())


# The first and last row of each big table, read through the table itself (min/max would read an index).
_END_ROWS = tuple(f"SELECT * FROM {table} ORDER BY {order} LIMIT 1" for table, order in (
    ("files", "id"), ("files", "id DESC"),
    ("embeddings", "content_hash, model"), ("embeddings", "content_hash DESC, model DESC")))


def _switch_to_wal(db: sqlite3.Connection, seconds: float = 30.0) -> None:
    """`PRAGMA journal_mode = WAL`, waiting for other processes. Switching needs an exclusive lock,
    and when two processes create one catalog at once SQLite may answer "database is locked" at
    once, without its busy timeout (both hold a shared lock, and waiting could deadlock)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
