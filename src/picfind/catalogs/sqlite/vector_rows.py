"""The SQLite catalog's vector rows, read for search and the vector indexes: every vector with
its id (a snapshot at a log position), the vector log since a position, and the ids and vectors of
the contents a filter lets through.

`Catalog` inherits these methods (it provides `db`); `chunks` and `marks` bind long lists of
parameters for it too.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Iterator

import numpy as np

from picfind.catalogs.known import KnownContents
from picfind.catalogs.sqlite.dialect import frames_sql, owner_sql, sqlite_condition
from picfind.filters import Filter
from picfind.records import frame_span

_FIRST = operator.itemgetter(0)


class VectorRows:
    """Catalog methods for the vector rows (mixed into `Catalog`, which provides `db`)."""

    db: sqlite3.Connection
    _seen_rows: Callable[[str, list], list[tuple]]  # `Catalog`'s: a read on a connection any thread may use

    def vectors(self, model: str) -> tuple[int, np.ndarray, np.ndarray]:
        """A consistent snapshot: the vector log position, then the id and unit vector of every
        content embedded with this model."""
        self.db.execute("BEGIN")  # one read transaction: the position matches the rows
        try:
            position = self.log_position()
            rows = self.db.execute(
                "SELECT (SELECT max(l.seq) FROM vector_log l WHERE l.model = e.model "
                "AND l.content_hash = e.content_hash AND l.op = 'add'), e.vector "
                "FROM embeddings e WHERE e.model = ?", (model,)).fetchall()
        finally:
            self.db.execute("COMMIT")
        return position, *_id_matrix(rows)

    def has_vectors(self, model: str, hashes: list[str], db: sqlite3.Connection | None = None) -> set[str]:
        """Those of these contents that have vectors for this model (a video: its frames'), read
        by key: the rows asked for, never the model's whole table. `db`: another connection to
        the same file (a reader thread's)."""
        found: set[str] = set()
        has, params = self._has_vector("q.h", model)
        for chunk in chunks(hashes, 400):
            found.update(h for (h,) in (db or self.db).execute(
                f"WITH q(h) AS (VALUES {','.join(['(?)'] * len(chunk))}) SELECT h FROM q WHERE {has}",
                [*chunk, *params]))
        return found

    def _has_vector(self, content: str, model: str) -> tuple[str, list]:
        """SQL true when `content` has a vector for the model (a video: its frames'): two key lookups."""
        return (f"(EXISTS (SELECT 1 FROM embeddings e WHERE e.content_hash = {content} AND e.model = ?) OR "
                f"EXISTS (SELECT 1 FROM embeddings e WHERE {frames_sql('e.content_hash', content)} AND e.model = ?))",
                [model, model])

    def embedded_hashes(self, model: str) -> set[str]:
        """Contents with vectors: pictures, and videos with their frames' vectors."""
        return set(map(_FIRST, self.db.execute(f"SELECT {owner_sql('content_hash')} FROM embeddings WHERE model = ?",
                                                (model,))))

    def known_contents(self, model: str) -> KnownContents:
        """Which contents have vectors, asked per content (`has_vectors`) on a connection of its
        own: reader threads ask it, and a SQLite connection belongs to its thread."""
        reader = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        reader.execute("PRAGMA query_only = ON")
        return KnownContents(lambda hashes: self.has_vectors(model, hashes, reader),
                             lambda: self.embedded_hashes(model))

    def vectors_after(self, model: str, after: int, upto: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to `limit` vectors as they were at log position `upto` (each content's latest add
        by then, if it still has its vector), ids above `after`, in id order: an index is built
        from these chunks, and resumes after the last id it saved."""
        return _id_matrix(self.db.execute(
            "SELECT l.seq, e.vector FROM vector_log l JOIN embeddings e ON e.content_hash = l.content_hash "
            "AND e.model = l.model WHERE l.seq > ? AND l.seq <= ? AND l.op = 'add' AND +l.model = ? "
            "AND NOT EXISTS (SELECT 1 FROM vector_log n WHERE n.model = l.model AND n.content_hash = l.content_hash "
            "AND n.seq > l.seq AND n.seq <= ?) ORDER BY l.seq LIMIT ?", (after, upto, model, upto, limit)).fetchall())

    def vector_blocks(self, model: str, size: int, after: int = 0,
                      upto: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The vectors as they were at log position `upto` (default: now), ids above `after`, a
        chunk of the log at a time (`vectors_after`): near-duplicates and the hnsw build walk these."""
        upto = self.log_position() if upto is None else upto
        while True:
            ids, matrix = self.vectors_after(model, after, upto, size)
            if not len(ids):
                return
            yield ids, matrix
            after = int(ids[-1])

    def count_vectors(self, model: str) -> int:
        """Kept by triggers (migration 9): one row read, whatever the library's size."""
        row = self.db.execute("SELECT n FROM vector_counts WHERE model = ?", (model,)).fetchone()
        return row[0] if row else 0

    def log_position(self) -> int:
        return self.db.execute("SELECT coalesce(max(seq), 0) FROM vector_log").fetchone()[0]

    def vector_changes(self, model: str, since: int) -> list[tuple[int, str, str]]:
        """(seq, content hash, 'add' or 'del') after `since`, oldest first."""
        # `+model`: walk the log from `since` (few rows), not every row of the model.
        return self.db.execute("SELECT seq, content_hash, op FROM vector_log WHERE seq > ? AND +model = ? "
                               "ORDER BY seq", (since, model)).fetchall()

    def vector_id(self, model: str, content_hash: str, before: int) -> int | None:
        """The id a content had just before log position `before` (None if it had none)."""
        return self.db.execute("SELECT max(seq) FROM vector_log WHERE model = ? AND content_hash = ? "
                               "AND op = 'add' AND seq < ?", (model, content_hash, before)).fetchone()[0]

    def vectors_for_ids(self, model: str, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The live vectors among these ids (ids of removed vectors are left out)."""
        rows = []
        for chunk in chunks(ids):
            rows += self._vectors_with_ids(marks(chunk), [model, *chunk])
        return _id_matrix(rows)

    def _vectors_with_ids(self, ids_sql: str, params: list) -> list[tuple[int, bytes]]:
        """(id, vector) of one model's live vectors whose id is among `ids_sql` (a list of ? or
        a sub-query; `params` start with the model). `+l.model` keeps SQLite from walking the
        model's whole log by its index (33 ms a search at 100k) instead of probing each id (0.7 ms)."""
        return self.db.execute(
            f"SELECT l.seq, e.vector FROM vector_log l JOIN embeddings e ON e.model = l.model AND "
            f"e.content_hash = l.content_hash WHERE +l.model = ? AND l.seq IN ({ids_sql})", params).fetchall()

    def hashes_for_ids(self, ids: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in chunks(ids):
            out.update(self.db.execute(f"SELECT seq, content_hash FROM vector_log WHERE seq IN ({marks(chunk)})",
                                       chunk).fetchall())
        return out

    def _matching_ids_sql(self, model: str, where: Filter) -> tuple[str, list]:
        """The vector ids of the contents passing `where`, as SQL and its parameters. The passing
        contents first, then each one's log rows probed by the log's index: its own key, and its
        frames' ("<hash>@<start>-<end>", between "<hash>@" and "<hash>A"). (One join with an OR
        of the two made SQLite scan every file for each of the model's log rows: minutes at 200k.)"""
        condition, params = sqlite_condition(where)
        return (f"WITH q(h) AS (SELECT DISTINCT f.content_hash FROM files f WHERE f.status = 'ok' "
                f"AND f.offline IS NULL AND {condition}) "
                "SELECT max(l.seq) FROM q CROSS JOIN vector_log l ON l.model = ? AND l.op = 'add' "
                "AND l.content_hash = q.h GROUP BY l.content_hash UNION ALL "
                "SELECT max(l.seq) FROM q CROSS JOIN vector_log l ON l.model = ? AND l.op = 'add' "
                f"AND {frames_sql('l.content_hash', 'q.h')} GROUP BY l.content_hash",
                [*params, model, model])

    def ids_matching(self, model: str, where: Filter) -> np.ndarray:
        """Vector ids of the contents that have a file passing `where` (ids possibly stale: harmless)."""
        return np.array([i for (i,) in self.db.execute(*self._matching_ids_sql(model, where))], dtype=np.int64)

    def vectors_matching(self, model: str, where: Filter) -> tuple[np.ndarray, np.ndarray]:
        query, params = self._matching_ids_sql(model, where)
        return _id_matrix(self._vectors_with_ids(query, [model, *params]))

    def vector_of(self, model: str, content_hash: str) -> np.ndarray | None:
        row = self.db.execute("SELECT vector FROM embeddings WHERE model = ? AND content_hash = ?",
                              (model, content_hash)).fetchone()
        return np.frombuffer(row[0], dtype=np.float32) if row else None

    def vectors_of(self, model: str, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for chunk in chunks(keys):
            rows = self.db.execute(f"SELECT content_hash, vector FROM embeddings WHERE model = ? "
                                   f"AND content_hash IN ({marks(chunk)})", [model, *chunk])
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return found

    def frame_keys(self, model: str, content_hash: str) -> list[str]:
        """A video's kept frames (`records.frame_key`), in time order; from any thread (a Ray
        run's driver answers its workers on one of its own)."""
        rows = self._seen_rows("SELECT content_hash FROM embeddings WHERE model = ? AND content_hash > ? "
                               "AND content_hash < ?", [model, content_hash + "@", content_hash + "A"])
        return sorted((k for (k,) in rows), key=lambda k: frame_span(k) or (0.0, 0.0))


def chunks(items: list, size: int = 500) -> Iterator[list]:
    """SQLite caps the number of ? parameters in one statement. (numpy integers become ints:
    sqlite3 would bind them as blobs that match nothing.)"""
    for start in range(0, len(items), size):
        yield [int(i) if isinstance(i, np.integer) else i for i in items[start:start + size]]


def marks(chunk: list | tuple) -> str:
    return ",".join("?" * len(chunk))


def _id_matrix(rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([i for i, _ in rows], dtype=np.int64)
    if not rows:
        return ids, np.zeros((0, 0), np.float32)
    return ids, np.frombuffer(b"".join(v for _, v in rows), dtype=np.float32).reshape(len(rows), -1)
