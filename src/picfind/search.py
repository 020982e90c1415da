"""Search the current model's vectors (through a vector index), grouped by content.

One row per unique picture: its best-placed existing path first, copies under `duplicates`.
Files that vanished since the last scan are dropped at query time, so they never show.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from .catalog import Catalog
from .index import VectorIndex


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


def search(catalog: Catalog, index: VectorIndex, query: np.ndarray, n: int = 20,
           min_score: float | None = None) -> list[Hit]:
    hits: list[Hit] = []
    k = n
    while True:
        # Fetch a few more than asked, in case some contents vanished from disk.
        fetch = k + max(8, k // 4)
        found = index.top(query, fetch)
        ranked = found if min_score is None else [(i, s) for i, s in found if s >= min_score]
        hashes = catalog.hashes_for_ids([i for i, _ in ranked])
        ranked = [(hashes[i], s) for i, s in ranked if i in hashes]
        files = catalog.files_for_hashes([h for h, _ in ranked])
        hits = []
        for h, score in ranked:
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
        if len(found) < fetch or fetch >= len(index) or (min_score is not None and ranked != found):
            return hits
        k *= 2
