"""Vector indexes: how the vectors nearest a query are found.

* `exact`: every vector in one float32 matrix, scored by one matrix product. Exact, and quick
  while the catalog is small (about 6 ms at 100k vectors on 2 cores). Stored as a .npy file
  and rebuilt from the catalog when it changes.
* `hnsw`: a graph index (usearch's HNSW), vectors stored in float16 by default: about a
  millisecond at 1M vectors, vectors added and removed in place.
* `annoy`: Spotify's Annoy, the classic choice (memery used it): a forest of random-projection
  trees that cannot change once built, so it is rebuilt whenever the catalog changes.

`auto` keeps exact search up to `AUTO_EXACT_MAX` vectors and uses hnsw above.

Every index keys vectors by the catalog's vector id (see migration 2) and is stored beside the
catalog as `<catalog id>.<model>.<backend>.<position>.<ext>`, where position is the point of the
catalog's vector log it reflects; the catalog's random id (migration 4) keeps a catalog made
again at the same path from reading the old one's index. An index whose size, after catching
up, is not the catalog's vector count is rebuilt. Opening an index that is behind the catalog (a crash after a catalog
commit, a root removed since) catches up from the log, or rebuilds; the new file replaces the
old with one rename, so a crash mid-save leaves the old file, which the next open repairs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from picfind.catalogs.protocol import BuildProgress
from picfind.catalogs.sqlite.hnsw import HnswIndex
from picfind.catalogs.sqlite.vector_base import (
    AUTO_EXACT_MAX,
    IndexSettings,
    VectorIndex,
    ids_path,
    position_of,
    remove_index_files,
)

__all__ = ["AUTO_EXACT_MAX", "BACKENDS", "AnnoyIndex", "ExactIndex", "HnswIndex", "IndexSettings", "VectorIndex",
           "ids_path", "position_of", "remove_index_files"]


class ExactIndex(VectorIndex):
    name = "exact"
    suffix = "npy"
    GONE = -1  # the id of a removed vector's row, left in the matrix until vectors are next added

    def __init__(self, ids: np.ndarray, matrix: np.ndarray, position: int = 0) -> None:
        super().__init__(position)
        self.ids = ids
        self.matrix = matrix if isinstance(matrix, np.memmap) else np.ascontiguousarray(matrix, dtype=np.float32)

    def __len__(self) -> int:
        return int(np.count_nonzero(self.ids != self.GONE))

    @classmethod
    def build(cls, ids: np.ndarray, matrix: np.ndarray, position: int, settings: IndexSettings | None = None,
              progress: BuildProgress | None = None) -> ExactIndex:
        return cls(ids, matrix, position)

    def update(self, ids: np.ndarray, matrix: np.ndarray, removed: list[int]) -> None:
        """Catch up from the vector log: the first search after the catalog changed (a root removed,
        an interrupted run) reads only the changed vectors from SQLite, not all of them (6.7 s at
        1M). Removed vectors only have their rows marked, so the stored matrix is kept as it is
        (`save` links it under the new name); added ones rewrite it without the marked rows."""
        self.ids = np.where(np.isin(self.ids, np.asarray(removed, dtype=np.int64)), self.GONE, self.ids)
        if not len(ids):
            return
        live = self.ids != self.GONE
        kept = [self.matrix[live]] if live.any() else []
        self.matrix = np.ascontiguousarray(np.concatenate([*kept, np.asarray(matrix, dtype=np.float32)]))
        self.ids = np.concatenate([self.ids[live], np.asarray(ids, dtype=np.int64)])

    def top(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        """`within`: only these ids (a filter)."""
        rows = None if within is None else np.flatnonzero(np.isin(self.ids, within))
        matrix = self.matrix if rows is None else self.matrix[rows]
        ids = self.ids if rows is None else self.ids[rows]
        k = min(k, len(self) if rows is None else len(rows))
        if not len(matrix) or k <= 0:
            return []
        scores = matrix @ np.asarray(query, dtype=np.float32)
        scores[ids == self.GONE] = -np.inf
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in best]

    # Stored as a plain float32 .npy, mapped on open: a search need not read every vector from
    # SQLite first (0.35 s at 100k vectors, 6.7 s at 1M).
    def save(self, path: Path) -> None:
        np.savez(ids_path(path), ids=self.ids)  # first: the matrix file, written last, marks the pair whole
        if isinstance(self.matrix, np.memmap) and self.matrix.filename:
            try:  # the stored matrix, unchanged: the same file under the new name (2 GB not rewritten at 1M)
                os.link(self.matrix.filename, path)
                return
            except OSError:  # gone meanwhile, or a file system without hard links: write it
                pass
        with open(path, "wb") as f:
            np.save(f, self.matrix)

    @classmethod
    def load(cls, path: Path, settings: IndexSettings, writable: bool) -> ExactIndex:
        with np.load(ids_path(path)) as saved:
            ids = saved["ids"]
        matrix = np.load(path, mmap_mode="r")
        if matrix.dtype != np.float32 or matrix.ndim != 2 or len(matrix) != len(ids):
            raise ValueError(f"{path.name} does not match its ids")
        return cls(ids, matrix, position_of(path))


class AnnoyIndex(VectorIndex):
    name = "annoy"
    suffix = "annoy"
    incremental = False

    def __init__(self, forest, ids: np.ndarray, position: int, search_k: int) -> None:
        super().__init__(position)
        self.forest = forest  # annoy.AnnoyIndex
        self.ids = ids
        self.search_k = search_k or -1

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: np.ndarray, matrix: np.ndarray, position: int, settings: IndexSettings,
              progress: BuildProgress | None = None) -> AnnoyIndex:
        from annoy import AnnoyIndex as Forest
        forest = Forest(matrix.shape[1] if len(matrix) else 1, "dot")
        for row, vector in enumerate(matrix):
            forest.add_item(row, vector)
            if progress and (row + 1) % 20_000 == 0:
                progress(row + 1, len(ids))
        forest.build(settings.trees, n_jobs=-1)
        if progress:
            progress(len(ids), len(ids))
        return cls(forest, ids, position, settings.search_k)

    def top(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not len(self.ids) or k <= 0:
            return []
        rows, scores = self.forest.get_nns_by_vector(np.asarray(query, dtype=np.float32), k,
                                                     search_k=self.search_k, include_distances=True)
        return [(int(self.ids[r]), float(s)) for r, s in zip(rows, scores)]

    def save(self, path: Path) -> None:
        # First: the forest file, written last, marks the pair whole.
        np.savez(ids_path(path), ids=self.ids, dim=self.forest.f)
        self.forest.save(str(path))

    @classmethod
    def load(cls, path: Path, settings: IndexSettings, writable: bool) -> AnnoyIndex:
        from annoy import AnnoyIndex as Forest
        with np.load(ids_path(path)) as saved:
            ids, dim = saved["ids"], int(saved["dim"])
        forest = Forest(dim, "dot")
        forest.load(str(path))  # maps the file
        if forest.get_n_items() != len(ids):
            raise ValueError(f"{path.name} does not match its ids")
        return cls(forest, ids, position_of(path), settings.search_k)


BACKENDS: dict[str, type[VectorIndex]] = {c.name: c for c in (ExactIndex, HnswIndex, AnnoyIndex)}
