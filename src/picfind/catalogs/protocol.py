"""What every catalog answers, and which one a `--db` value names.

A path is the embedded catalog (one SQLite file, vector indexes and thumbnails in folders beside
it: `picfind.catalogs.sqlite.backend`); `postgresql://…` is a shared server catalog (PostgreSQL with pgvector:
`picfind.catalogs.postgres.catalog`, installed with `pip install 'picfind[cluster]'`). The library, the indexer,
search and dupes see only `CatalogBackend`; SQL lives in the backend modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from picfind.catalogs.known import KnownContents
from picfind.catalogs.lock import Waiting
from picfind.filters import Filter
from picfind.records import FileRecord, IndexedFile, Root, SkippedFile

BuildProgress = Callable[[int, int], None]  # (vectors added, total)
Nearest = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]
"""(stored vectors' ids, those vectors, k) -> each one's k nearest ids and their scores, from a
catalog's approximate index (an id of -1 where fewer were found): what near-duplicates walk."""


class Thumbnails(Protocol):
    """Small JPEGs keyed by content hash, shared by every copy of a picture."""

    location: str

    def store(self, content_hash: str, jpeg: bytes) -> object:
        """Keep a thumbnail made by `media.thumbnail.encode_thumbnail` (thread-safe: reader threads call it)."""

    def jpeg(self, content_hash: str, source: Callable[[], bytes | None]) -> bytes | None:
        """The thumbnail's bytes, made now from the picture's bytes (`source()`, None when it
        cannot be read) when the indexer wrote none or the stored one is broken."""

    def remove(self, content_hashes: list[str]) -> None: ...

    def size_bytes(self) -> int: ...


class Searcher(Protocol):
    """Nearest contents to a query among those with a file passing one filter."""

    def top(self, query: np.ndarray, k: int) -> tuple[list[tuple[str, float]], bool]:
        """Up to about k (content hash, cosine) best first, and whether no more candidates exist.
        A backend may return some contents whose files fail the filter: the caller re-checks
        with `files_for_hashes(hashes, where)`, which it needs for the files anyway."""


class Claims(Protocol):
    """Which contents an indexer may embed now. Picklable: an index run's workers in other
    processes (Ray actors) each claim through their own copy, which opens what it needs there."""

    def claim(self, model: str, hashes: list[str]) -> set[str]:
        """The contents among `hashes` this process may embed now; the rest another indexer is
        embedding (on a shared catalog: a lease until it writes them, its connection ends, or the
        lease expires). A SQLite catalog runs one index at a time (`one_run`): all of them."""


class CatalogBackend(Protocol):
    location: str  # what `status` shows: a file path, or a server URL without its password
    read_only: bool  # searching works; indexing and removing roots are refused in one line
    thumbnails: Thumbnails

    def close(self) -> None: ...

    # settings and roots
    def setting(self, key: str, default: str) -> str: ...
    def set_setting(self, key: str, value: str) -> None: ...
    def indexed_model(self) -> str | None: ...
    def add_root(self, path: str, extensions: list[str], excludes: list[str]) -> Root: ...
    def roots(self) -> list[Root]: ...
    def remove_root(self, path: str) -> int: ...

    # indexing
    def one_run(self, waiting: Waiting | None = None) -> AbstractContextManager:
        """Held for an index run: a SQLite catalog takes one run at a time (another waits, and
        `waiting` is told for whom); runs on a shared catalog share the work through `claims`."""

    def own_files(self) -> list[str]:
        """Files and folders this catalog keeps in the file system: never indexed."""

    def journal_folder(self) -> Path:
        """Where this machine's index runs note the files they are decoding (`indexing.inflight`),
        so a run after one whose process died knows which files it died on."""

    def files_of_root(self, root_id: int, under: list[str] | None = None) -> dict[str, FileRecord]:
        """The root's files; `under`: only those that are, or lie under, one of these paths (what
        changed, for a watcher: found through the path index, not by reading every row)."""
    def sizes_of_root(self, root_id: int, under: list[str] | None = None) -> dict[bytes, tuple]:
        """The same files as (path, size, mtime_ns) by their path's bytes: what a re-scan compares
        with the walk, a million rows made at C speed."""
    def unsettled_of_root(self, root_id: int, under: list[str] | None, model: str,
                          analyses: list[tuple[str, str]], transient: set[str]) -> dict[bytes, tuple]:
        """Those of them that still want something at their size and time: a vector for `model`
        or a (kind, model) analysis, or a new try after a skip for a reason in `transient`
        (`catalogs.settled`). Decided in SQL, in long steps that let the GIL go while the walk runs."""
    def mark_offline(self, root_id: int, places: dict[str, list[str]]) -> None: ...
    def offline_places(self) -> list[dict]: ...
    def embedded_hashes(self, model: str) -> set[str]: ...
    def has_vectors(self, model: str, hashes: list[str]) -> set[str]:
        """Those of these contents that have vectors (a video: its frames'), read by key."""
    def known_contents(self, model: str) -> KnownContents:
        """What an index run consults instead of `embedded_hashes`: `has_vectors` per content it
        meets, so a run's cost follows what changed, not the library's size."""

    def claims(self) -> Claims:
        """How this catalog's indexers share the embedding work: the one claim call of the local
        indexer and of every Ray worker, whatever the backend."""

    def write_batch(self, model: str, indexed: Iterable[IndexedFile], vectors: dict[str, np.ndarray],
                    skipped: Iterable[SkippedFile], gone: Iterable[str] = ()) -> None: ...
    def prune_embeddings(self, candidates: Iterable[str] | None = None) -> list[str]:
        """Drop vectors (and texts) no file points at; `candidates`: only these contents can be
        orphans (an index run's departed files), so only their rows are read."""
    def choose_index(self, backend: str) -> None: ...
    def sync_index(self, model: str, progress: BuildProgress | None = None) -> None: ...

    # reading
    def searcher(self, model: str, where: Filter | None) -> Searcher: ...
    def open_index(self, model: str) -> None:
        """Get the vector index ready now, so that the first search does not wait for it."""
    def nearest(self, model: str) -> Nearest | None:
        """Neighbours from the catalog's approximate index, for near-duplicates (None: compare exactly)."""
    def vectors(self, model: str) -> tuple[int, np.ndarray, np.ndarray]: ...
    def vector_blocks(self, model: str, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every (id, vector) of the model, `size` at a time, in id order: a whole-library walk
        (near-duplicates) that never holds the library's vectors at once."""
    def vectors_for_ids(self, model: str, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The live vectors among these ids (ids of removed vectors are left out)."""
    def count_vectors(self, model: str) -> int: ...
    def hashes_for_ids(self, ids: list[int]) -> dict[int, str]: ...
    def files_for_hashes(self, hashes: list[str], where: Filter | None = None,
                         gone: dict[str, list[str]] | None = None) -> dict[str, list[dict]]:
        """The indexed files of each content that pass `where` and are on disk now; the paths of
        those that are not go into `gone`, by content (a search says where they were)."""
    def repeated_contents(self) -> list[str]: ...
    def file_by_id(self, file_id: int) -> dict | None: ...
    def vector_of(self, model: str, content_hash: str) -> np.ndarray | None: ...
    def vectors_of(self, model: str, keys: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these contents or frames, in one read (those without one are left out)."""
    def frame_keys(self, model: str, content_hash: str) -> list[str]:
        """A video's kept frames' keys (`records.frame_key`), in time order ([] for a picture)."""
    def stats(self, model: str) -> dict: ...
    def index_status(self, model: str) -> dict: ...
    def skipped_files(self) -> list[dict]: ...
    def size_bytes(self) -> int: ...

    # per-content analyses (`picfind.analysis`), each kept per (content or video frame, its model)
    def analysed(self, kind: str, model: str) -> KnownContents:
        """The contents and video frames this analysis ("texts", "faces") has seen, with or without
        a finding: asked per content met, never read whole (`catalogs/analyses.py`)."""
    def put_analysed(self, kind: str, model: str, results: dict[str, Any]) -> None:
        """Store an analysis's results, in one transaction (a content analysed twice keeps the first)."""

    # the text read from pictures (`index --ocr`), per (content, OCR model): `sqlite/text.py`, `postgres/text.py`
    def texts_read(self, ocr_model: str) -> set[str]: ...
    def put_texts(self, ocr_model: str, texts: dict[str, str]) -> None: ...
    def texts_of(self, ocr_model: str, hashes: list[str]) -> dict[str, str]: ...
    def count_texts(self, ocr_model: str) -> tuple[int, int]: ...

    def text_candidates(self, ocr_model: str, words: list[str]) -> dict[str, str]:
        """Contents whose text may hold every one of these folded words, with their text: a
        superset, at most `MAX_CANDIDATES`; `picfind.search.textsearch.text_matches` decides."""


