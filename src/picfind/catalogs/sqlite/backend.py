"""The embedded catalog: the SQLite file (`catalog.py`) with its vector indexes and thumbnails in
folders beside it (`vectors.py`, `thumbs.py`). The default, for one computer.

Nearest-neighbour search goes through the stored vector index. With a filter, a small selection
is searched exactly (its vectors read from the catalog, or masked in the exact index); a large
one through the index, fetching more candidates in proportion to how much the filter throws
away (the caller doubles the ask until enough pass).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from picfind.catalogs.lock import Waiting, index_lock
from picfind.catalogs.protocol import BuildProgress, Nearest
from picfind.catalogs.sqlite.catalog import Catalog
from picfind.catalogs.sqlite.index_store import IndexStore
from picfind.catalogs.sqlite.vectors import ExactIndex, HnswIndex, IndexSettings, VectorIndex
from picfind.filters import Filter

if TYPE_CHECKING:  # Pillow is imported when a thumbnail is needed: a search needs none
    from picfind.catalogs.sqlite.thumbs import ThumbnailCache

SUBSET_EXACT_MAX = 50_000  # a filter passing fewer contents than this is searched exactly


class EmbeddedCatalog(Catalog):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.location = str(self.path)
        self._index: VectorIndex | None = None
        self._index_key: tuple[str, int, str] | None = None

    @cached_property
    def thumbnails(self) -> ThumbnailCache:
        from picfind.catalogs.sqlite.thumbs import ThumbnailCache

        return ThumbnailCache.of(self)  # checked against the catalog's id once, not per thumbnail

    def one_run(self, waiting: Waiting | None = None) -> AbstractContextManager:
        return index_lock(self.path, waiting)

    def own_files(self) -> list[str]:
        """What picfind keeps beside the catalog: never indexed (thumbnails would win searches)."""
        name = str(self.path)
        return [name, f"{name}-wal", f"{name}-shm", f"{name}-journal", f"{name}.lock", f"{name}.index",
                f"{name}.thumbs", str(self.journal_folder())]

    def journal_folder(self) -> Path:
        return self.path.with_name(self.path.name + ".decoding")  # beside the catalog, as its lock is

    def claims(self) -> EveryContent:
        return EveryContent()

    def choose_index(self, backend: str) -> None:
        settings = IndexSettings.of(self)
        settings.backend = backend
        settings.save(self)

    def sync_index(self, model: str, progress: BuildProgress | None = None) -> None:
        self._index = None
        IndexStore(self).sync(model, progress=progress)

    def vector_index(self, model: str) -> VectorIndex:
        """The vector index, caught up with the catalog. Kept open while the catalog does not
        change (a long-running shell or web server sees another process's indexing at once)."""
        key = (model, self.log_position(), self.setting("index", "{}"))
        if self._index is None or key != self._index_key:
            self._index = IndexStore(self).open(model)
            self._index_key = key
        return self._index

    def open_index(self, model: str) -> None:
        self.vector_index(model)

    def nearest(self, model: str) -> Nearest | None:
        index = self.vector_index(model)
        return index.nearest if isinstance(index, HnswIndex) else None

    def searcher(self, model: str, where: Filter | None) -> _Candidates:
        return _Candidates(self, self.vector_index(model), model, where)

    def index_status(self, model: str) -> dict:
        settings = IndexSettings.of(self)
        count = self.count_vectors(model)
        in_use = settings.resolve(count)
        status = {"setting": settings.backend, "in_use": in_use, "folder": str(IndexStore(self).folder)}
        if in_use == "hnsw":  # the quantisation the last index run built with (recorded by `sync`)
            status["vectors"] = self.setting(f"index_vectors.{model}", settings.vectors(count))
        return status

    def prune_embeddings(self, candidates: Iterable[str] | None = None) -> list[str]:
        self._index = None
        return super().prune_embeddings(candidates)


class EveryContent:
    """A SQLite catalog's claims: one index run at a time (`one_run`), so nobody else embeds. (A
    Ray run's workers share its contents among themselves in the run's own book: `ray_runner`.)"""

    def claim(self, model: str, hashes: list[str]) -> set[str]:
        return set(hashes)


class _Candidates:
    """What to ask for candidates: the index itself, or the filter's subset, and how many
    candidates to fetch per result wanted."""

    def __init__(self, catalog: Catalog, index: VectorIndex, model: str, where: Filter | None) -> None:
        self.catalog, self.index, self.model, self.within, self.spread = catalog, index, model, None, 1.0
        if not where:
            return
        if isinstance(index, ExactIndex):
            self.within = catalog.ids_matching(model, where)
            return
        passing = catalog.count_matching(where)
        if passing <= SUBSET_EXACT_MAX:
            self.index = ExactIndex(*catalog.vectors_matching(model, where))
        else:
            self.spread = len(index) / max(passing, 1)

    def top(self, query: np.ndarray, k: int) -> tuple[list[tuple[str, float]], bool]:
        if self.within is not None:
            ask = k
            found = self.index.top(query, k, within=self.within)  # type: ignore[call-arg]
            exhausted = len(found) < k or k >= len(self.within)
        else:
            ask = min(len(self.index), int(k * self.spread) + 1)
            found = self.index.top(query, ask)
            exhausted = len(found) < ask or ask >= len(self.index)
        # an i8 index gives more candidates than asked (and an overlay its own): the best by float32
        found = self._rescored(query, found)[:ask]
        hashes = self.catalog.hashes_for_ids([i for i, _ in found])
        return [(hashes[i], s) for i, s in found if i in hashes], exhausted

    def _rescored(self, query: np.ndarray, found: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """Candidates best first by their exact cosine, ties by id, so that scores shown and cut by
        min_score are the same whatever the index (an approximate one keeps float16 vectors) and a
        larger page ranks the same candidates the same way."""
        if not isinstance(self.index, ExactIndex) and found:
            ids, matrix = self.catalog.vectors_for_ids(self.model, [i for i, _ in found])
            scores = matrix.astype(np.float64) @ np.asarray(query, dtype=np.float64) if len(ids) else []
            found = [(int(i), float(s)) for i, s in zip(ids, scores)]
        return sorted(found, key=lambda c: (-c[1], c[0]))
