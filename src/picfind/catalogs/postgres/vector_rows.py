"""The PostgreSQL catalog's vector rows, read for search, duplicates and the examples of a query:
every vector with its id, one content's vector, a video's kept frames.

`PgCatalog` inherits these methods (it provides `_run` and `_one`), as the SQLite catalog does
`picfind.catalogs.sqlite.vector_rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from picfind.catalogs.known import KnownContents
from picfind.records import frame_span


class PgVectorRows:
    """Catalog methods for the vector rows (mixed into `PgCatalog`)."""

    _run: Callable[..., list[tuple]]
    _one: Callable[..., tuple | None]

    def embedded_hashes(self, model: str) -> set[str]:
        """Contents with vectors: pictures, and videos with their frames' vectors."""
        return {h for (h,) in self._run("SELECT DISTINCT owner FROM embeddings WHERE model = %s", (model,))}

    def has_vectors(self, model: str, hashes: list[str]) -> set[str]:
        """Those of these contents that have vectors (through `embeddings_owner`: the rows asked for)."""
        return {h for (h,) in self._run("SELECT DISTINCT owner FROM embeddings WHERE owner = ANY(%s) AND model = %s",
                                        (list(hashes), model))}

    def _has_vector(self, content: str, model: str) -> tuple[str, list]:
        return f"EXISTS (SELECT 1 FROM embeddings e WHERE e.owner = {content} AND e.model = %s)", [model]

    def known_contents(self, model: str) -> KnownContents:
        """Which contents have vectors, asked per content (psycopg's connection is thread-safe)."""
        return KnownContents(lambda hashes: self.has_vectors(model, hashes), lambda: self.embedded_hashes(model))

    def vectors(self, model: str) -> tuple[int, np.ndarray, np.ndarray]:
        return 0, *_id_matrix(self._run("SELECT id, vector FROM embeddings WHERE model = %s ORDER BY id", (model,)))

    def vector_blocks(self, model: str, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Keyset pages over the primary key: each page one short index range scan."""
        after = 0
        while True:
            ids, matrix = _id_matrix(self._run("SELECT id, vector FROM embeddings WHERE model = %s AND id > %s "
                                               "ORDER BY id LIMIT %s", (model, after, size)))
            if not len(ids):
                return
            yield ids, matrix
            after = int(ids[-1])

    def vectors_for_ids(self, model: str, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        return _id_matrix(self._run("SELECT id, vector FROM embeddings WHERE model = %s AND id = ANY(%s)",
                                    (model, [int(i) for i in ids])))

    def count_vectors(self, model: str) -> int:
        return self._one("SELECT count(*) FROM embeddings WHERE model = %s", (model,))[0]

    def hashes_for_ids(self, ids: list[int]) -> dict[int, str]:
        rows = self._run("SELECT id, content_hash FROM embeddings WHERE id = ANY(%s)", ([int(i) for i in ids],))
        return dict(rows)

    def vector_of(self, model: str, content_hash: str) -> np.ndarray | None:
        row = self._one("SELECT vector FROM embeddings WHERE model = %s AND content_hash = %s", (model, content_hash))
        return row[0].to_numpy().astype(np.float32) if row else None

    def vectors_of(self, model: str, keys: list[str]) -> dict[str, np.ndarray]:
        rows = self._run("SELECT content_hash, vector FROM embeddings WHERE model = %s AND content_hash = ANY(%s)",
                         (model, list(keys)))
        return {k: v.to_numpy().astype(np.float32) for k, v in rows}

    def frame_keys(self, model: str, content_hash: str) -> list[str]:
        """A video's kept frames (`records.frame_key`), in time order."""
        rows = self._run("SELECT content_hash FROM embeddings WHERE model = %s AND owner = %s "
                         "AND content_hash <> owner", (model, content_hash))
        return sorted((k for (k,) in rows), key=lambda k: frame_span(k) or (0.0, 0.0))


def _id_matrix(rows: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([i for i, _ in rows], dtype=np.int64)
    matrix = np.stack([v.to_numpy() for _, v in rows]).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
    return ids, matrix
