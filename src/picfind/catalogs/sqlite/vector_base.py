"""What every vector index of the SQLite catalog is (`VectorIndex`), the settings the catalog
keeps for them (`IndexSettings`), and how their files are named (see `vectors.py`)."""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from picfind.catalogs.protocol import BuildProgress
from picfind.catalogs.sqlite.catalog import Catalog

AUTO_EXACT_MAX = 100_000  # exact search answers in about 6 ms here on 2 cores (benchmarks/search.py)
# `auto` vectors: float16 up to here, int8 above (half the file: 10M fit the 6 GB a 24 GB machine
# can spare; the candidates are rescored from the catalog's float32 vectors; benchmarks/scale.py)
AUTO_F16_MAX = 2_000_000


@dataclass
class IndexSettings:
    """How the catalog's vectors are indexed; kept in the catalog's settings table."""
    backend: str = "auto"  # auto, exact, hnsw or annoy
    dtype: str = "auto"  # hnsw storage: auto (f16 up to AUTO_F16_MAX vectors, i8 above), f32, f16 or i8
    connectivity: int = 0  # hnsw: links per node; 0: auto (16, or 8 in i8: see `concrete`)
    expansion_add: int = 128  # hnsw: candidates while building
    expansion_search: int = 0  # hnsw: candidates per query; 0: auto (256, or more in i8: see `concrete`)
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

    def vectors(self, count: int) -> str:
        """The hnsw index's storage for this many vectors (the quantisation `status` shows)."""
        if self.dtype == "auto":
            return "f16" if count <= AUTO_F16_MAX else "i8"
        return self.dtype

    def concrete(self, count: int) -> IndexSettings:
        """These settings with `auto` resolved for this many vectors (what an index file is built with).
        int8 is chosen for size, so its graph keeps 8 links a node, not 16: 597 bytes a picture
        instead of 661 (10M in 6 GB). Such a sparse graph needs a longer search as it grows: at
        3M, recall@10 after rescoring was 0.851 with 384 candidates, 0.939 with 768, 0.957 with
        1,536 and 0.968 with 3,072, p50 4-14 ms (benchmarks/scale.py); hence 512 candidates per
        sqrt(n / 200k), at most 4,096."""
        dtype = self.vectors(count)
        small = dtype == "i8"
        search = min(4096, 512 * math.ceil(math.sqrt(max(count, 1) / 200_000))) if small else 256
        return replace(self, backend=self.resolve(count), dtype=dtype,
                       connectivity=self.connectivity or (8 if small else 16),
                       expansion_search=self.expansion_search or search)


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


def ids_path(path: Path) -> Path:
    return path.with_suffix(".ids.npz")


def remove_index_files(path: Path) -> None:
    """A stored index file and the ids file beside it, when there is one."""
    path.unlink(missing_ok=True)
    ids_path(path).unlink(missing_ok=True)


def position_of(path: Path) -> int:
    return int(path.name.split(".")[-2])
