"""Exact cosine search over every vector of the current model, grouped by content.

One row per unique picture: its best-placed existing path first, copies under `duplicates`.
Files that vanished since the last scan are dropped at query time, so they never show.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from .catalog import Catalog


@dataclass
class Hit:
    path: str
    score: float
    duplicates: list[str] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    mtime: float | None = None
    size: int | None = None
    content_hash: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class VectorSet:
    """The catalog's vectors for one model, loaded once and searched in memory."""

    def __init__(self, hashes: list[str], matrix: np.ndarray) -> None:
        self.hashes = hashes
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)

    @classmethod
    def load(cls, catalog: Catalog, model: str) -> VectorSet:
        return cls(*catalog.vectors(model))

    def __len__(self) -> int:
        return len(self.hashes)

    def top(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Indices and cosine scores of the k best rows, best first."""
        if not self.hashes or k <= 0:
            return []
        scores = self.matrix @ np.asarray(query, dtype=np.float32)
        k = min(k, len(scores))
        idx = np.argpartition(-scores, k - 1)[:k]
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        return [(int(i), float(scores[i])) for i in idx]


def search(catalog: Catalog, vectors: VectorSet, query: np.ndarray, n: int = 20,
           min_score: float | None = None) -> list[Hit]:
    hits: list[Hit] = []
    k = n
    while True:
        # Fetch a few more than asked, in case some contents vanished from disk.
        fetch = k + max(8, k // 4)
        ranked = vectors.top(query, fetch)
        if min_score is not None:
            ranked = [(i, s) for i, s in ranked if s >= min_score]
        files = catalog.files_for_hashes([vectors.hashes[i] for i, _ in ranked])
        hits = []
        for i, score in ranked:
            h = vectors.hashes[i]
            present = [f for f in files[h] if os.path.lexists(f["path"])]
            if not present:
                continue
            first = present[0]
            hits.append(Hit(path=first["path"], score=round(score, 6),
                            duplicates=[f["path"] for f in present[1:]],
                            width=first["width"], height=first["height"], mtime=first["mtime"],
                            size=first["size"], content_hash=h))
            if len(hits) == n:
                return hits
        if len(ranked) < fetch or fetch >= len(vectors):
            return hits
        k *= 2
