"""The shared catalog: PostgreSQL with pgvector (`--db postgresql://user@host/db`).

Same contract as the embedded catalog (`picfind.catalogs.protocol.CatalogBackend`), for a team or an
archive: every client that reaches the server and sees the files at the same paths sees one
library. What differs, and why:

* Vectors are pgvector columns; one HNSW index per model (`picfind.catalogs.postgres.vectors`) is made after the
  first bulk load and kept up to date by PostgreSQL. `hnsw.ef_search` is 400: recall@10 0.97 on
  1M CLIP-like vectors at 6.5 ms p50, the server sized (100 gave 0.86; benchmarks/pg_scale.py).
* A filter is compiled into the same SQL as the vector query. pgvector before 0.8 has no
  iterative index scans, so, as in the embedded catalog, a small filtered selection is searched
  exactly and a large one over-fetches in proportion to what the filter throws away.
* Several indexers at once: before embedding, a client claims (content, model) with a lease row
  (`INSERT ... ON CONFLICT DO NOTHING`, in effect); contents another live client holds are left
  to it. A lease is free once its holder's server connection is gone (a killed client) or it
  expired; it is marked done in the transaction that writes the batch.
* Writes go in one transaction per batch (executemany, pipelined): a client killed mid-run or a
  dropped connection loses at most the batch in flight. A large batch's vectors go first, over
  several connections at once (`writers.py`): their HNSW insertion is the server's CPU work.
* Thumbnails are rows keyed by content hash, so every client sees the same ones.
* The text read from pictures (`index --ocr`) is searched through a GIN index of its trigrams,
  with no contrib extension needed (`picfind.catalogs.postgres.text`).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import platformdirs
import psycopg
from psycopg import sql

from picfind.catalogs.analyses import AnalysisStores
from picfind.catalogs.faces import FaceStore
from picfind.catalogs.lock import Waiting
from picfind.catalogs.postgres import tallies
from picfind.catalogs.postgres.roots import PgRoots
from picfind.catalogs.postgres.schema import connect, redact
from picfind.catalogs.postgres.search import WHEN, PgSearcher, pg_condition
from picfind.catalogs.postgres.text import PgTextStore
from picfind.catalogs.postgres.thumbs import PgThumbnails
from picfind.catalogs.postgres.vector_rows import PgVectorRows
from picfind.catalogs.postgres.vectors import PgVectorIndex
from picfind.catalogs.postgres.writers import INSERT, SIDE_FROM, VectorWriters
from picfind.catalogs.root_files import RootFiles
from picfind.filters import Filter
from picfind.records import (
    PLACE_COLUMNS,
    PLACE_READ,
    CatalogError,
    IndexedFile,
    SkippedFile,
    fs,
    owner,
    place_fields,
    place_values,
    stats_of,
    under_paths,
    when_text,
)

LEASE_SECONDS = 600  # a claim held longer by a live client (hung?) may be taken over


_ROOT_EXISTS = "WHERE EXISTS (SELECT 1 FROM roots WHERE id = %s)"


def _ext(path: str) -> str:
    return PurePath(path).suffix.lower().lstrip(".")


def _local_time(mtime_ns: int) -> str:
    return when_text(datetime.datetime(*time.localtime(mtime_ns / 1e9)[:6]))


class PgCatalog(PgRoots, PgVectorRows, RootFiles, PgVectorIndex, PgTextStore, FaceStore, AnalysisStores):
    """The PostgreSQL catalog's tables (`PgRoots` its settings and roots, `PgVectorRows` reads the
    vector rows, `PgVectorIndex` keeps their HNSW index, `PgTextStore` the text OCR read,
    `FaceStore` the faces and people, `RootFiles` a root's files as a re-scan reads them)."""

    _MARK = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = redact(url)
        self.read_only = False  # a user without write rights gets PostgreSQL's own one-line error
        self.db = connect(url, self.location)
        self.thumbnails = PgThumbnails(self)
        self.writers = VectorWriters(lambda: connect(url, self.location))
        self._dims: dict[str, int] = {}
        self._indexed: set[str] = set()

    def close(self) -> None:
        self.writers.close()
        self.db.close()

    # every statement goes through these, so a dropped connection is one line, not a traceback
    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.TransactionRollback:
            raise  # a deadlock or serialization failure: the caller may retry
        except psycopg.OperationalError as e:
            what = "lost" if self.db.closed or self.db.broken else "error from"
            raise CatalogError(f"{what} the PostgreSQL catalog {self.location}: {redact(' '.join(str(e).split()))} "
                               "(run the command again: finished batches are kept)") from None

    def _retrying(self, fn):
        """`fn()`, again when PostgreSQL broke a deadlock by rolling it back (concurrent indexers)."""
        for attempt in range(5):
            try:
                return fn()
            except psycopg.errors.TransactionRollback:
                if attempt == 4:
                    raise CatalogError(f"the PostgreSQL catalog {self.location} kept refusing a write "
                                       "(deadlocks): run the command again") from None
                time.sleep(0.05 * (attempt + 1))

    def _run(self, query, params=()) -> list[tuple]:
        with self._guard():
            cur = self.db.execute(query, params)
            return cur.fetchall() if cur.description else []

    def _one(self, query, params=()) -> tuple | None:
        rows = self._run(query, params)
        return rows[0] if rows else None

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor]:
        with self._guard(), self.db.transaction(), self.db.cursor() as cur:
            yield cur

    # the face store's access (`picfind.catalogs.faces`)
    def _fq(self, query: str, params: Iterable = ()) -> list[tuple]:
        return self._run(self._sql(query), tuple(params))

    def _fx(self) -> AbstractContextManager[psycopg.Cursor]:
        return self._transaction()

    def _sql(self, query: str) -> str:
        return query.replace("?", "%s")

    def _seen_rows(self, query: str, params: list) -> list[tuple]:
        return self._fq(query, params)  # psycopg's connection is thread-safe

    def _vector_in(self, vector: np.ndarray) -> np.ndarray:
        return np.asarray(vector, np.float32)

    def _vector_out(self, stored: Any) -> np.ndarray:
        return np.asarray(stored.to_numpy() if hasattr(stored, "to_numpy") else stored, np.float32)

    def _reclaim(self) -> None:
        for table in ("faces", "faces_read", "people"):
            self._run(f"VACUUM FULL {table}")  # the deleted rows' space rewritten: no crop or vector lingers

    # indexing
    def own_files(self) -> list[str]:
        return []  # everything is in the database

    def journal_folder(self) -> Path:
        """This machine's own, per catalog (a shared catalog's runs on other machines keep theirs)."""
        key = hashlib.blake2b(self.location.encode(), digest_size=8).hexdigest()
        return Path(platformdirs.user_state_dir("picfind")) / "decoding" / key

    def one_run(self, waiting: Waiting | None = None) -> AbstractContextManager:
        return nullcontext()  # several runs at once share the work through `claim`

    def _rows_of_root(self, columns: str, where: str, params: list, root_id: int,
                      under: list[str] | None) -> dict[bytes, tuple]:
        query = f"SELECT path, size, mtime_ns{columns} FROM files f WHERE ({where}) AND root_id = %s"
        rows = self._run(query, [*params, root_id]) if under is None else []
        for paths, more in under_paths(under or [], "%s"):
            rows += self._run(f"{query} AND ({paths})", [*params, root_id, *more])
        return {bytes(row[0]): (bytes(row[0]), *row[1:]) for row in rows}

    def mark_offline(self, root_id: int, places: dict[str, list[str]]) -> None:
        """The places of this root that could not be read in this run, each with the known files
        under it: kept, marked offline since the first run that missed the place. Places read
        again are forgotten, which brings their files back (nothing re-embedded)."""
        with self._transaction() as cur:
            wanted = [os.fsencode(p) for p in places]
            cur.execute("DELETE FROM offline_places WHERE root_id = %s AND NOT path = ANY(%s)", (root_id, wanted))
            for place, files in sorted(places.items()):
                (place_id,) = cur.execute(
                    "INSERT INTO offline_places(path, root_id, since) VALUES (%s, %s, %s) ON CONFLICT (path) "
                    "DO UPDATE SET path = excluded.path RETURNING id", (os.fsencode(place), root_id, time.time())
                ).fetchone()
                cur.execute("UPDATE files SET offline = %s WHERE path = ANY(%s)",
                            (place_id, sorted(os.fsencode(f) for f in files)))

    def offline_places(self) -> list[dict]:
        """Places that could not be read on the last run, with how many files are kept there."""
        rows = self._run("SELECT p.path, p.since, count(f.id) FROM offline_places p JOIN files f ON f.offline = p.id "
                         "GROUP BY p.id ORDER BY p.path")
        return [{"path": fs(bytes(p)), "since": since, "files": n} for p, since, n in rows]

    def claims(self) -> PgClaims:
        return PgClaims(self.url, self)

    def claim(self, model: str, hashes: list[str]) -> set[str]:
        """Lease the contents no live client holds (see `PgClaims`) to this connection."""
        # A done claim is never taken again; a concurrent writer's UPDATE to done makes this
        # statement wait for it, then skip the row (READ COMMITTED re-checks the condition).
        rows = self._retrying(lambda: self._run(
            "INSERT INTO claims AS c (content_hash, model, holder_pid, expires) "
            "SELECT h, %(model)s, pg_backend_pid(), now() + make_interval(secs => %(lease)s) "
            "FROM unnest(%(hashes)s::text[]) AS h WHERE NOT EXISTS "
            "(SELECT 1 FROM embeddings e WHERE e.owner = h AND e.model = %(model)s) "
            "ON CONFLICT (content_hash, model) DO UPDATE SET holder_pid = excluded.holder_pid, "
            "expires = excluded.expires WHERE NOT c.done AND (c.holder_pid = excluded.holder_pid "
            "OR c.expires < now() OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.holder_pid)) "
            "RETURNING content_hash", {"model": model, "hashes": sorted(hashes), "lease": LEASE_SECONDS}))
        return {h for (h,) in rows}

    def write_batch(self, model: str, indexed: Iterable[IndexedFile], vectors: dict[str, np.ndarray],
                    skipped: Iterable[SkippedFile], gone: Iterable[str] = ()) -> None:
        """One transaction: new vectors (their claims marked done), thumbnails, files, skipped and
        vanished files. A kill or a lost connection before COMMIT loses this batch only."""
        thumbs = self.thumbnails.take()
        # Rows in one order (by key) in every client: concurrent batches then wait, never deadlock.
        indexed, skipped = sorted(indexed, key=lambda f: f.path), sorted(skipped, key=lambda f: f.path)
        gone, hashes = sorted(gone), sorted(vectors)

        def write() -> None:
            side = len(hashes) >= SIDE_FROM
            if side:
                with self._guard():
                    self.writers.insert(model, hashes, vectors)
            with self._transaction() as cur:
                if hashes:
                    if not side:
                        cur.executemany(INSERT, [(h, model, np.asarray(vectors[h], np.float32)) for h in hashes])
                    cur.execute("UPDATE claims SET done = true WHERE model = %s AND content_hash = ANY(%s)",
                                (model, sorted({owner(h) for h in hashes})))
                if thumbs:
                    cur.executemany("INSERT INTO thumbnails(content_hash, jpeg) VALUES (%s, %s) "
                                    "ON CONFLICT DO NOTHING", sorted(thumbs.items()))
                self._write_files(cur, indexed, skipped, gone)
        try:
            self._retrying(write)
        except BaseException:
            with self.thumbnails.lock:  # not written: keep them for the next batch
                self.thumbnails.pending.update(thumbs)
            raise
        self._run(tallies.FOLD)

    @staticmethod
    def _write_files(cur: psycopg.Cursor, indexed: list[IndexedFile], skipped: list[SkippedFile],
                     gone: list[str]) -> None:
        if indexed:
            cur.executemany(
                "INSERT INTO files(path, root_id, size, mtime_ns, mtime_local, ext, content_hash, status, width, "
                f"height, taken_at, camera, meta_read, duration, {', '.join(PLACE_COLUMNS)}) SELECT %s, %s, %s, %s, "
                f"%s, %s, %s, 'ok', %s, %s, %s, %s, true, %s, {', '.join(['%s'] * len(PLACE_COLUMNS))} "
                f"{_ROOT_EXISTS} ON CONFLICT (path) DO UPDATE SET root_id = excluded.root_id, size = excluded.size, "
                "mtime_ns = excluded.mtime_ns, mtime_local = excluded.mtime_local, ext = excluded.ext, "
                "content_hash = excluded.content_hash, status = 'ok', reason = NULL, detail = NULL, "
                "width = excluded.width, height = excluded.height, taken_at = excluded.taken_at, "
                "camera = excluded.camera, meta_read = true, offline = NULL, duration = excluded.duration, "
                + ", ".join(f"{c} = excluded.{c}" for c in PLACE_COLUMNS),
                [(os.fsencode(f.path), f.root_id, f.size, f.mtime_ns, _local_time(f.mtime_ns), _ext(f.path),
                  f.content_hash, f.width, f.height, f.taken_at, f.camera, f.duration, *place_values(f), f.root_id)
                 for f in indexed])
        if skipped:
            cur.executemany(
                "INSERT INTO files(path, root_id, size, mtime_ns, mtime_local, ext, content_hash, status, reason, "
                "detail) SELECT %s, %s, %s, %s, %s, %s, NULL, 'skipped', %s, %s "
                f"{_ROOT_EXISTS} ON CONFLICT (path) DO UPDATE SET "
                "root_id = excluded.root_id, size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "mtime_local = excluded.mtime_local, content_hash = NULL, status = 'skipped', "
                "reason = excluded.reason, detail = excluded.detail, width = NULL, height = NULL, offline = NULL, "
                "duration = NULL",
                [(os.fsencode(f.path), f.root_id, f.size, f.mtime_ns, _local_time(f.mtime_ns), _ext(f.path),
                  f.reason, f.detail, f.root_id) for f in skipped])
        if gone:
            cur.execute("DELETE FROM files WHERE path = ANY(%s)", ([os.fsencode(p) for p in gone],))

    def prune_embeddings(self, candidates: Iterable[str] | None = None) -> list[str]:
        """`candidates`: only these contents can have lost their last file (see the SQLite catalog's)."""
        scope = [] if candidates is None else sorted(set(candidates))
        if candidates is not None and not scope:
            return []
        among = "" if candidates is None else " AND {t} = ANY(%(scope)s)"
        params = None if candidates is None else {"scope": scope}
        orphan = "NOT EXISTS (SELECT 1 FROM files f WHERE f.content_hash = {t})"
        # A vector whose claim a live client still holds is being written with its files (pgwriters).
        held = ("NOT EXISTS (SELECT 1 FROM claims c WHERE c.content_hash = e.owner AND c.model = e.model "
                "AND NOT c.done AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.holder_pid))")
        with self._transaction() as cur:
            gone = [h for (h,) in cur.execute(
                f"DELETE FROM embeddings e WHERE {orphan.format(t='e.owner')} AND {held}{among.format(t='e.owner')} "
                "RETURNING content_hash", params).fetchall()]
            gone += [owner(h) for h in gone if owner(h) != h]  # a video's own thumbnail
            cur.execute(f"DELETE FROM claims c WHERE c.done AND {orphan.format(t='c.content_hash')}"
                        f"{among.format(t='c.content_hash')}", params)
            self.prune_faces(cur, None if candidates is None else scope)
            if candidates is None:
                self.prune_texts(cur)
            else:  # the texts of these contents and of their frames, by key
                cur.execute(f"DELETE FROM ocr_texts t WHERE t.content_hash = ANY(%s) AND "
                            f"{orphan.format(t='split_part(t.content_hash, %s, 1)')}", (sorted({*gone, *scope}), "@"))
        self._run(tallies.FOLD)
        return sorted(set(gone))

    # reading
    def searcher(self, model: str, where: Filter | None) -> PgSearcher:
        return PgSearcher(self, model, where)

    def count_matching(self, where: Filter) -> int:
        condition, params = pg_condition(where)
        return self._one(sql.SQL("SELECT count(DISTINCT f.content_hash) FROM files f WHERE f.status = 'ok' "
                                 "AND f.offline IS NULL AND {}").format(condition), params)[0]

    def files_for_hashes(self, hashes: list[str], where: Filter | None = None,
                         gone: dict[str, list[str]] | None = None) -> dict[str, list[dict]]:
        """The indexed files holding each content that pass `where` and are still on disk (the
        others' paths into `gone`)."""
        condition, params = pg_condition(where or Filter())
        out: dict[str, list[dict]] = {h: [] for h in hashes}
        rows = self._run(sql.SQL(
            "SELECT f.id, f.content_hash, f.path, f.size, f.mtime_ns, f.width, f.height, " + WHEN + ", f.camera, "
            "f.duration, " + PLACE_READ + " FROM files f WHERE f.status = 'ok' AND f.offline IS NULL "
            "AND f.content_hash = ANY(%s) AND {} ORDER BY f.id").format(condition),
            [list(hashes), *params])
        for file_id, h, p, size, mtime_ns, w, hgt, taken, camera, duration, *place in rows:
            if os.path.lexists(bytes(p)):
                out[h].append({"id": file_id, "path": fs(bytes(p)), "size": size, "mtime": mtime_ns / 1e9,
                               "width": w, "height": hgt, "taken": taken, "camera": camera,
                               "duration": duration, **place_fields(*place)})
            elif gone is not None:
                gone.setdefault(h, []).append(fs(bytes(p)))
        return out

    def repeated_contents(self) -> list[str]:
        return [h for (h,) in self._run("SELECT content_hash FROM files WHERE status = 'ok' "
                                        "GROUP BY content_hash HAVING count(*) > 1")]

    def file_by_id(self, file_id: int) -> dict | None:
        if not 0 <= file_id < 2**63:
            return None
        row = self._one("SELECT path, content_hash, size, mtime_ns, duration FROM files WHERE id = %s "
                        "AND status = 'ok' AND offline IS NULL", (file_id,))
        return {"path": fs(bytes(row[0])), "content_hash": row[1], "size": row[2], "mtime_ns": row[3],
                "duration": row[4]} if row else None

    # status
    def stats(self, model: str) -> dict:
        """From the counts the triggers keep (`picfind.catalogs.postgres.tallies`): a few rows at any size."""
        return stats_of(dict(self._run(tallies.READ)), model, self.offline_places())

    def vectors_about(self, model: str) -> int:
        """About how many vectors the model has (its contents plus their video moments, from the
        tallies): a filtered search's over-fetch ratio without counting the embeddings (seconds at
        millions). It leaves out vectors no indexed file holds any more, until they are pruned."""
        t = dict(self._run(tallies.READ))
        return t.get(f"embedded:{model}", 0) + t.get(f"moments:{model}", 0)

    def skipped_files(self) -> list[dict]:
        rows = self._run("SELECT path, reason, detail FROM files WHERE status = 'skipped' ORDER BY path")
        return [{"path": fs(bytes(p)), "reason": r, "detail": d} for p, r, d in rows]

    def size_bytes(self) -> int:
        return self._one("SELECT pg_database_size(current_database())")[0]


class PgClaims:
    """The leases of a PostgreSQL catalog (`PgCatalog.claim`), held by the connection that took
    them. In the process that opened the catalog, its connection; pickled to a Ray worker, the
    worker's own, opened on its first claim: a worker that dies frees its leases with it."""

    def __init__(self, url: str, catalog: PgCatalog | None = None) -> None:
        self.url, self.catalog = url, catalog

    def __getstate__(self) -> dict:
        return {"url": self.url, "catalog": None}  # a connection does not travel

    def claim(self, model: str, hashes: list[str]) -> set[str]:
        if self.catalog is None:
            self.catalog = PgCatalog(self.url)
        return self.catalog.claim(model, hashes)
