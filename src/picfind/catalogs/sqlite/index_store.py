"""The vector index files beside the SQLite catalog: which one is current, caught up from the
catalog's vector log or rebuilt, and saved with one rename (see `vectors.py` for the indexes)."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import numpy as np

from picfind.catalogs.protocol import BuildProgress
from picfind.catalogs.sqlite.catalog import Catalog
from picfind.catalogs.sqlite.hnsw import HIDDEN_MAX, OVERLAY_MAX
from picfind.catalogs.sqlite.hnsw_build import build_hnsw
from picfind.catalogs.sqlite.vectors import (
    BACKENDS,
    ExactIndex,
    HnswIndex,
    IndexSettings,
    VectorIndex,
    ids_path,
    position_of,
    remove_index_files,
)
from picfind.records import CatalogError


def folder_beside(db: Path) -> Path:
    return db.with_name(db.name + ".index")


class IndexStore:
    """The stored indexes of one catalog, one file (set) per model and backend."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.folder = folder_beside(catalog.path)

    def files(self, model: str, backend: str) -> list[Path]:
        """Stored files for this model and backend, newest position first."""
        cls = BACKENDS[backend]
        if not self.folder.is_dir():
            return []
        pattern = re.compile(rf"{re.escape(self.catalog.id)}\.{re.escape(model)}\.{backend}\.(\d+)\.{cls.suffix}")
        found = [p for p in self.folder.iterdir() if pattern.fullmatch(p.name)]
        return sorted(found, key=position_of, reverse=True)

    def open(self, model: str, settings: IndexSettings | None = None,
             progress: BuildProgress | None = None, count: int | None = None) -> VectorIndex:
        """The index for this model, caught up with the catalog (repaired or rebuilt if need be).
        A mapped hnsw file a few changes behind gets them beside it (its overlay), unsaved: a
        batch of 10 must not rewrite the file; past `OVERLAY_MAX` they are folded in and saved."""
        if count is None:
            count = self.catalog.count_vectors(model)
        if count == 0:
            return ExactIndex(np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
        settings = (settings or IndexSettings.of(self.catalog)).concrete(count)
        cls = BACKENDS[settings.backend]
        index = self._load(cls, model, settings, writable=False)
        changes = self.catalog.vector_changes(model, index.position) if index else []
        if index is not None and not changes and len(index) == count:
            return index
        if isinstance(index, HnswIndex) and len(changes) <= OVERLAY_MAX:
            self._catch_up(model, index, changes)
            if index.overlaid <= OVERLAY_MAX and len(index.hidden) <= HIDDEN_MAX and len(index) == count:
                return index
        if index is not None and cls.incremental and len(changes) <= max(10_000, len(index) // 2):
            index = self._load(cls, model, settings, writable=True)  # the same file, opened to change
            if index is not None:  # (its own position: another process may have saved a newer one)
                self._catch_up(model, index, self.catalog.vector_changes(model, index.position))
                if len(index) != self.catalog.count_vectors(model):
                    index = None  # it does not hold what the catalog holds: rebuild
        else:
            index = None
        if index is None:
            index = self._build(cls, model, settings, progress, count)
        if not self.catalog.read_only:  # a read-only catalog is searched from memory
            self._save(model, index)
        return index

    def _build(self, cls: type[VectorIndex], model: str, settings: IndexSettings,
               progress: BuildProgress | None, count: int) -> VectorIndex:
        if cls is not HnswIndex or self.catalog.read_only:
            position, ids, matrix = self.catalog.vectors(model)  # exact and annoy: small catalogs
            return cls.build(ids, matrix, position, settings, progress)
        index = build_hnsw(self.catalog, self.folder, model, settings, progress, count)
        self._catch_up(model, index, self.catalog.vector_changes(model, index.position))
        return index

    def sync(self, model: str, progress: BuildProgress | None = None) -> None:
        """After an indexing run: bring the stored index up to date, and drop the files of
        backends no longer in use."""
        settings = IndexSettings.of(self.catalog)
        count = self.catalog.count_vectors(model)
        backend = settings.resolve(count)
        if not self.catalog.read_only:  # the quantisation in use, as `status` shows it
            self.catalog.set_setting(f"index_vectors.{model}", settings.vectors(count) if backend == "hnsw" else "f32")
        for other in BACKENDS:
            if other != backend or not count:
                for path in self.files(model, other):
                    remove_index_files(path)
        if count:
            self.open(model, settings, progress, count)

    def _load(self, cls: type[VectorIndex], model: str, settings: IndexSettings,
              writable: bool) -> VectorIndex | None:
        newest = self.catalog.log_position()
        for path in self.files(model, cls.name):
            if position_of(path) > newest:
                continue  # ahead of the catalog (a catalog restored from a backup): not this one's
            try:
                return cls.load(path, settings, writable)
            except (ValueError, RuntimeError, OSError):
                continue  # unreadable, half-written or built with other settings: try the next, or rebuild
        return None

    def _catch_up(self, model: str, index: VectorIndex, changes: list[tuple[int, str, str]]) -> None:
        pending: dict[int, str] = {}  # ids added since the index was saved, not yet in it
        live: dict[str, int] = {}
        removed: list[int] = []
        for seq, content_hash, op in changes:
            if op == "add":
                pending[seq] = content_hash
                live[content_hash] = seq
                continue
            old = live.pop(content_hash, None) or self.catalog.vector_id(model, content_hash, seq)
            if old in pending:
                del pending[old]
            elif old is not None:
                removed.append(old)
        ids, matrix = self.catalog.vectors_for_ids(model, list(pending))
        index.update(ids, matrix, removed)
        if changes:
            index.position = changes[-1][0]

    def _save(self, model: str, index: VectorIndex) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{self.catalog.id}.{model}.{index.name}.{index.position}.{type(index).suffix}"
        # Per process and thread: `serve --watch` saves from its watcher while a search catches up.
        temp = final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            index.save(temp)
            if ids_path(temp).exists():  # the ids beside the file, for the backends that keep them apart
                os.replace(ids_path(temp), ids_path(final))
            os.replace(temp, final)
        except OSError as e:
            raise CatalogError(f"cannot save the {index.name} index in {self.folder}: {e.strerror or e}") from e
        finally:
            remove_index_files(temp)
        for old in self.files(model, index.name):
            if position_of(old) < index.position:  # never one another process saved later than this
                remove_index_files(old)
        for other in self.folder.iterdir():  # files of an earlier catalog at this path
            if not other.name.startswith((f"{self.catalog.id}.", ".")):
                other.unlink(missing_ok=True)
