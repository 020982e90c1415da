"""The hnsw vector index (usearch): quantised vectors in a graph, memory-mapped for search.

A search maps the stored file (`Index.restore(view=True)`): nothing is read before the first
answer but the pages the graph walk touches. Vectors added since the file was saved live in a
small exact overlay and removed ones are hidden, so a watcher's batch of 10 does not rewrite a
6 GB file: the next index run folds the overlay into the file once it has grown past
`OVERLAY_MAX` changes (`index_store.IndexStore.open`). The file is built from the catalog in
chunks (`index_store`), never holding every float32 vector at once.

See `vectors.py` for the other indexes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from picfind.catalogs.protocol import BuildProgress
from picfind.catalogs.sqlite.vector_base import IndexSettings, VectorIndex, position_of

OVERLAY_MAX = 20_000  # vectors added since the file was saved, searched exactly beside it
HIDDEN_MAX = 2_000  # vectors removed since: each search fetches this many more candidates
OVERSAMPLE = {"i8": 4}  # candidates fetched per result wanted, rescored from float32 (i8 loses order)
CHUNK = 20_000  # vectors added at a time: progress shows and Ctrl-C is honoured between chunks


class HnswIndex(VectorIndex):
    name = "hnsw"
    suffix = "usearch"

    def __init__(self, index, position: int, path: Path | None = None, searches: Searches | None = None,
                 searching: int | None = None) -> None:  # index: usearch.index.Index
        super().__init__(position)
        self.index = index
        self.path = path  # the file it maps (None: built here, or read whole to change)
        self.searches = searches or Searches(index)  # a mapped file's are shared, as the file is
        self.searching = searching or index.expansion_search  # this index's candidates per search
        self.extra_ids = np.zeros(0, np.int64)  # the overlay: added since the file was saved
        self.extra = np.zeros((0, 0), np.float32)
        self.hidden: set[int] = set()  # removed since, still in the mapped file
        self._whole = None  # the graph read whole with the overlay folded in (`_folded`)

    def __len__(self) -> int:
        return len(self.index) - len(self.hidden) + len(self.extra_ids)

    @property
    def dtype(self) -> str:
        return str(self.index.dtype).rsplit(".", 1)[-1].lower()

    @property
    def overlaid(self) -> int:
        """Changes held beside the file, not in it."""
        return len(self.extra_ids) + len(self.hidden)

    @staticmethod
    def new(ndim: int, settings: IndexSettings):
        """int8 graphs measure the cosine of their quantised vectors: their scores then stay
        cosines within 0.02 (an inner product of int8s is a raw integer, useless as a score),
        so near-duplicates can drop far pairs before reading their float32 vectors."""
        Index = _usearch()
        dtype = settings.vectors(0)
        return Index(ndim=ndim, metric="cos" if dtype == "i8" else "ip", dtype=dtype,
                     connectivity=settings.connectivity,
                     expansion_add=settings.expansion_add, expansion_search=settings.expansion_search)

    @classmethod
    def build(cls, ids: np.ndarray, matrix: np.ndarray, position: int, settings: IndexSettings,
              progress: BuildProgress | None = None) -> HnswIndex:
        index = cls(cls.new(matrix.shape[1] if len(matrix) else 1, settings.concrete(len(ids))), position)
        index.add(ids, matrix, progress)
        return index

    def add(self, ids: np.ndarray, matrix: np.ndarray, progress: BuildProgress | None = None,
            done: int = 0, total: int | None = None) -> None:
        """Into the graph itself (an index read whole or being built), a chunk at a time."""
        total = total or len(ids)
        for start in range(0, len(ids), CHUNK):
            self.index.add(ids[start:start + CHUNK].astype(np.uint64), matrix[start:start + CHUNK], threads=0)
            if progress:
                progress(done + min(start + CHUNK, len(ids)), total)

    def update(self, ids: np.ndarray, matrix: np.ndarray, removed: list[int]) -> None:
        """In the graph when it was read whole; beside the mapped file otherwise (the overlay)."""
        if self.path is None:
            if removed:
                self.index.remove(np.asarray(removed, dtype=np.uint64))
            self.add(ids, matrix)
            return
        gone = np.asarray(removed, dtype=np.int64)
        if len(self.extra_ids) and len(gone):
            keep, saved = ~np.isin(self.extra_ids, gone), ~np.isin(gone, self.extra_ids)
            self.extra_ids, self.extra, gone = self.extra_ids[keep], self.extra[keep], gone[saved]
        # The rest were in the file when it was saved (the vector log says so): the mapped graph
        # keeps no key table to ask (`_mapped`). Were one not, the count would not match the
        # catalog's, and the store reads the file whole to catch up instead.
        self.hidden.update(int(i) for i in gone)
        if len(ids):
            matrix = np.asarray(matrix, dtype=np.float32)
            self.extra = matrix if not len(self.extra_ids) else np.concatenate([self.extra, matrix])
            self.extra_ids = np.concatenate([self.extra_ids, np.asarray(ids, dtype=np.int64)])

    def top(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """About k candidates (more for i8: the caller rescores them from float32 and keeps the best)."""
        if not len(self) or k <= 0:
            return []
        query = np.asarray(query, dtype=np.float32)
        want = k * OVERSAMPLE.get(self.dtype, 1)
        ask = want + len(self.hidden)  # removed ones may be among the best
        found: list[tuple[int, float]] = []
        if len(self.index):
            with self.searches.using(self.searching) as graph:
                hit = graph.search(query, min(ask, len(self.index)), threads=1)
            found = [(int(i), 1.0 - float(d)) for i, d in zip(hit.keys, hit.distances) if int(i) not in self.hidden]
        if len(self.extra_ids):  # exact: at most OVERLAY_MAX vectors, well under a millisecond
            scores = self.extra @ query
            best = np.argsort(-scores)[:want]
            extra = [(int(self.extra_ids[i]), float(scores[i])) for i in best]
            # i8 scores are not cosines: the overlay's follow the graph's, and the caller rescores
            found = found + extra if self.dtype == "i8" else sorted(found + extra, key=lambda c: -c[1])
        return found[:want] if self.dtype != "i8" else found

    def nearest(self, ids: np.ndarray, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each stored vector's k nearest (`backend.Nearest`), for near-duplicates. Scores are the
        index's, cosines within 0.02 in int8 (the caller keeps pairs whose exact cosine passes; an
        int8 file built before measured inner products: +inf, every candidate is checked)."""
        graph = self._folded()
        searches = self.searches if graph is self.index else Searches(graph)  # (read whole: its own)
        with searches.using(max(2 * k, 32)):  # copies are very close: a short search finds them
            found = graph.search(vectors, k, threads=0)
        raw = self.dtype == "i8" and str(graph.metric).rsplit(".", 1)[-1].lower() != "cos"  # built before
        scores = np.full(found.distances.shape, np.inf) if raw else 1.0 - found.distances
        return found.keys.astype(np.int64), scores

    def _folded(self):
        """The graph with the overlay in it (read whole when there is one: near-duplicates only,
        which ask block after block: read once)."""
        if not self.overlaid or self.path is None:
            return self.index
        if self._whole is not None:
            return self._whole
        whole = self._whole = _usearch().restore(str(self.path), view=False)
        if self.hidden:
            whole.remove(np.fromiter(self.hidden, dtype=np.uint64))
        if len(self.extra_ids):
            whole.add(self.extra_ids.astype(np.uint64), self.extra, threads=0)
        return whole

    def save(self, path: Path) -> None:
        if self.overlaid:
            raise ValueError("an hnsw index with an overlay is saved after reading it whole")
        self.index.save(str(path))

    @classmethod
    def load(cls, path: Path, settings: IndexSettings, writable: bool) -> HnswIndex:
        # Read-only opens map the file: 10M vectors open at once and share the page cache.
        index, searches = (_usearch().restore(str(path), view=False), None) if writable else _mapped(path)
        if index is None or str(index.dtype).rsplit(".", 1)[-1].lower() != settings.dtype.lower():
            raise ValueError(f"{path.name} is not a {settings.dtype} hnsw index")
        return cls(index, position_of(path), None if writable else path, searches, settings.expansion_search)


class Searches:
    """The searches of one graph, from any thread. usearch lets go of the GIL while it searches,
    so they run side by side; but how many candidates a search weighs is the graph's own setting,
    so one that wants another number waits for those running to finish before changing it (a
    server's searches all want the same: they never wait)."""

    def __init__(self, graph) -> None:
        self.graph = graph
        self._turn = threading.Condition()
        self._running = 0

    @contextmanager
    def using(self, expansion: int) -> Iterator:
        with self._turn:
            while self._running and self.graph.expansion_search != expansion:
                self._turn.wait()
            if self.graph.expansion_search != expansion:
                self.graph.expansion_search = expansion
            self._running += 1
        try:
            yield self.graph
        finally:
            with self._turn:
                self._running -= 1
                self._turn.notify_all()


_MAPPED: OrderedDict[tuple, tuple] = OrderedDict()  # (path, inode, mtime, size) -> (view, its Searches)
_MAPPING = threading.Lock()


def _mapped(path: Path) -> tuple:
    """A saved graph, mapped once per process while the file stays the same, and its searches.
    usearch's view reads every node to place it (1.4 s at 3M): a watcher paid that after every
    batch, and a server at every change. Files are replaced by renaming, never rewritten, so a
    view stays valid while anything holds it. The process keeps the newest two whose files are
    still there: a replaced file's disk space comes back when its last search lets it go."""
    key = _identity(str(path))
    if key is None:
        return None, None
    with _MAPPING:
        for old in [k for k in _MAPPED if k != key and _identity(k[0]) != k]:
            del _MAPPED[old]
        if key not in _MAPPED:
            # No key table: usearch builds it by reading every node's key (most of the open: 0.19 of
            # 0.25 s at 900k, and every page of the graph from a cold disk); searches need none.
            view = _usearch().restore(str(path), view=True, enable_key_lookups=False)
            if view is None:  # gone meanwhile, or not a usearch file: not kept
                return None, None
            _MAPPED[key] = (view, Searches(view))
            while len(_MAPPED) > 2:
                _MAPPED.popitem(last=False)
        _MAPPED.move_to_end(key)
        return _MAPPED[key]


def _identity(path: str) -> tuple | None:
    """What `_MAPPED` knows a file by: a file replaced or rewritten has another (None: gone)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return path, st.st_ino, st.st_mtime_ns, st.st_size


def _usearch():
    """usearch's Index class, with ONNX Runtime loaded first: loaded after usearch (2.26), ONNX
    Runtime (1.32) crashes the process, so `dupes --near` then a text search in one process (the
    web server, the API) died."""
    import onnxruntime  # noqa: F401
    from usearch.index import Index
    return Index
