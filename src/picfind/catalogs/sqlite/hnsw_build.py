"""Building an hnsw file from the catalog: a chunk of vectors at a time, resumable.

The vectors are read in id order as they were at one log position (`vectors_after`), so memory
holds the graph and one chunk, never every float32 vector (20 GB at 10M). Every `CHECKPOINT`
vectors the graph so far is saved as `<catalog id>.<model>.hnsw.<position>.<last id>.<dtype>.partial`;
a build that was stopped (Ctrl-C, a kill, a crash) starts again from there, then catches up from
the log past its position like any stored index.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from picfind.catalogs.protocol import BuildProgress
from picfind.catalogs.sqlite.catalog import Catalog
from picfind.catalogs.sqlite.hnsw import CHUNK, HnswIndex, _usearch
from picfind.catalogs.sqlite.vector_base import IndexSettings
from picfind.records import CatalogError

CHECKPOINT = 500_000  # vectors added between two saves of a build in progress (1M: about a minute of work)


def partials(catalog: Catalog, folder: Path, model: str, dtype: str) -> list[tuple[Path, int, int]]:
    """(file, log position, last id) of this model's builds in progress, furthest first."""
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"{re.escape(catalog.id)}\.{re.escape(model)}\.hnsw\.(\d+)\.(\d+)\.{dtype}\.partial")
    found = [(p, int(m[1]), int(m[2])) for p in folder.iterdir() if (m := pattern.fullmatch(p.name))]
    return sorted(found, key=lambda f: (f[1], f[2]), reverse=True)


def build_hnsw(catalog: Catalog, folder: Path, model: str, settings: IndexSettings,
               progress: BuildProgress | None, count: int) -> HnswIndex:
    """The graph of every vector as of a log position (the caller catches it up from there)."""
    newest = catalog.log_position()
    index: HnswIndex | None = None
    position, after = newest, 0
    for path, at, last in partials(catalog, folder, model, settings.dtype):
        if at > newest:
            continue  # ahead of the catalog (restored from a backup): not this one's
        try:
            graph = _usearch().restore(str(path), view=False)
        except (ValueError, RuntimeError, OSError):
            continue
        if graph is not None and str(graph.dtype).rsplit(".", 1)[-1].lower() == settings.dtype:
            graph.expansion_search = settings.expansion_search
            index, position, after = HnswIndex(graph, at), at, last
            break
    done = len(index) if index is not None else 0
    since = 0
    for ids, matrix in catalog.vector_blocks(model, CHUNK, after, position):
        if index is None:
            index = HnswIndex(HnswIndex.new(matrix.shape[1], settings), position)
        index.add(ids, matrix, progress, done, max(count, done + len(ids)))
        done, since, after = done + len(ids), since + len(ids), int(ids[-1])
        if since >= CHECKPOINT and not catalog.read_only:
            _checkpoint(catalog, folder, model, settings.dtype, index, position, after)
            since = 0
    for path, *_ in partials(catalog, folder, model, settings.dtype):
        path.unlink(missing_ok=True)
    return index if index is not None else HnswIndex(HnswIndex.new(1, settings), position)


def _checkpoint(catalog: Catalog, folder: Path, model: str, dtype: str, index: HnswIndex,
                position: int, last: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{catalog.id}.{model}.hnsw.{position}.{last}.{dtype}.partial"
    temp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        index.index.save(str(temp))
        os.replace(temp, final)
    except OSError as e:
        raise CatalogError(f"cannot save the hnsw index being built in {folder}: {e.strerror or e}") from e
    finally:
        temp.unlink(missing_ok=True)
    for path, at, seen in partials(catalog, folder, model, dtype):
        if (at, seen) != (position, last):
            path.unlink(missing_ok=True)
