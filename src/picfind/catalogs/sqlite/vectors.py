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

import json
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from picfind.catalogs.protocol import BuildProgress
from picfind.catalogs.sqlite.catalog import Catalog

AUTO_EXACT_MAX = 100_000  # exact search answers in about 6 ms here on 2 cores (benchmarks/search.py)


@dataclass
class IndexSettings:
    """How the catalog's vectors are indexed; kept in the catalog's settings table."""
    backend: str = "auto"  # auto, exact, hnsw or annoy
    dtype: str = "f16"  # hnsw storage: f32, f16 or i8
    connectivity: int = 16  # hnsw: links per node
    expansion_add: int = 128  # hnsw: candidates while building
    expansion_search: int = 256  # hnsw: candidates per query: recall 0.98 at 1M, under 1 ms (benchmarks/ann.py)
    trees: int = 50  # annoy: trees in the forest
    search_k: int = 0  # annoy: nodes inspected per query; 0 = Annoy's default (trees x k)

    @classmethod
    def of(cls, catalog: Catalog) -> IndexSettings:
        stored = json.loads(catalog.setting("index", "{}"))
        return cls(**{f.name: stored[f.name] for f in fields(cls) if f.name in stored})

    def save(self, catalog: Catalog) -> None:
        catalog.set_setting("index", json.dumps(asdict(self)))

    def resolve(self, count: int) -> str:
        if self.backend == "auto":
            return "exact" if count <= AUTO_EXACT_MAX else "hnsw"
        return self.backend


class VectorIndex(ABC):
    name: ClassVar[str]
    suffix: ClassVar[str]  # of its stored file
    incremental: ClassVar[bool] = True  # can add and remove vectors in place

    def __init__(self, position: int) -> None:
        self.position = position

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def top(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Ids and cosine scores of (about) the k nearest vectors, best first."""

    @classmethod
    @abstractmethod
    def build(cls, ids: np.ndarray, matrix: np.ndarray, position: int, settings: IndexSettings,
              progress: BuildProgress | None = None) -> VectorIndex: ...

    def update(self, ids: np.ndarray, matrix: np.ndarray, removed: list[int]) -> None:
        raise NotImplementedError(f"{self.name} cannot change after building")

    @abstractmethod
    def save(self, path: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, path: Path, settings: IndexSettings, writable: bool) -> VectorIndex:
        """`writable`: will be updated in place (else it may be opened memory-mapped, read-only)."""


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


class HnswIndex(VectorIndex):
    name = "hnsw"
    suffix = "usearch"

    def __init__(self, index, position: int) -> None:  # index: usearch.index.Index
        super().__init__(position)
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    @staticmethod
    def _new(ndim: int, settings: IndexSettings):
        Index = _usearch()
        return Index(ndim=ndim, metric="ip", dtype=settings.dtype, connectivity=settings.connectivity,
                     expansion_add=settings.expansion_add, expansion_search=settings.expansion_search)

    @classmethod
    def build(cls, ids: np.ndarray, matrix: np.ndarray, position: int, settings: IndexSettings,
              progress: BuildProgress | None = None) -> HnswIndex:
        index = cls(cls._new(matrix.shape[1] if len(matrix) else 1, settings), position)
        index._add(ids, matrix, progress)
        return index

    def _add(self, ids: np.ndarray, matrix: np.ndarray, progress: BuildProgress | None = None) -> None:
        if not len(ids):
            return
        total = len(ids)
        # Chunks, so that progress shows and Ctrl-C is honoured between them.
        for start in range(0, total, 20_000):
            self.index.add(ids[start:start + 20_000].astype(np.uint64), matrix[start:start + 20_000], threads=0)
            if progress:
                progress(min(start + 20_000, total), total)

    def update(self, ids: np.ndarray, matrix: np.ndarray, removed: list[int]) -> None:
        if removed:
            self.index.remove(np.asarray(removed, dtype=np.uint64))
        self._add(ids, matrix)

    def top(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not len(self.index) or k <= 0:
            return []
        found = self.index.search(np.asarray(query, dtype=np.float32), k, threads=1)
        return [(int(i), 1.0 - float(d)) for i, d in zip(found.keys, found.distances)]

    def nearest(self, ids: np.ndarray, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each stored vector's k nearest (`backend.Nearest`), for near-duplicates."""
        searching = self.index.expansion_search
        self.index.expansion_search = max(2 * k, 32)  # copies are very close: a short search finds them
        try:
            found = self.index.search(vectors, k, threads=0)
        finally:
            self.index.expansion_search = searching
        return found.keys.astype(np.int64), 1.0 - found.distances

    def save(self, path: Path) -> None:
        self.index.save(str(path))

    @classmethod
    def load(cls, path: Path, settings: IndexSettings, writable: bool) -> HnswIndex:
        Index = _usearch()
        # Read-only opens map the file: a million vectors open instantly and share the page cache.
        index = Index.restore(str(path), view=not writable)
        if index is None or str(index.dtype).rsplit(".", 1)[-1].lower() != settings.dtype.lower():
            raise ValueError(f"{path.name} is not a {settings.dtype} hnsw index")
        index.expansion_search = settings.expansion_search
        return cls(index, position_of(path))


def _usearch():
    """usearch's Index class, with ONNX Runtime loaded first: loaded after usearch (2.26), ONNX
    Runtime (1.32) crashes the process, so `dupes --near` then a text search in one process (the
    web server, the API) died."""
    import onnxruntime  # noqa: F401
    from usearch.index import Index
    return Index


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


def ids_path(path: Path) -> Path:
    return path.with_suffix(".ids.npz")


def remove_index_files(path: Path) -> None:
    """A stored index file and the ids file beside it, when there is one."""
    path.unlink(missing_ok=True)
    ids_path(path).unlink(missing_ok=True)


def position_of(path: Path) -> int:
    return int(path.name.split(".")[-2])
