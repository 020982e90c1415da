"""Search the current model's vectors (through a vector index), grouped by content.

One row per unique picture: its best-placed existing path first, copies under `duplicates`.
Files that vanished since the last scan are dropped at query time, so they never show.

With a filter, a small selection is searched exactly (its vectors read from the catalog, or
masked in the exact index); a large one through the index, fetching more candidates in
proportion to how much the filter throws away, and doubling until enough pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .catalog import Catalog
from .filters import Filter
from .index import ExactIndex, VectorIndex

SUBSET_EXACT_MAX = 50_000  # a filter passing fewer contents than this is searched exactly


@dataclass
class Hit:
    path: str
    score: float
    duplicates: list[str] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    mtime: float | None = None
    size: int | None = None
    taken: str | None = None  # EXIF capture time, else the file's time (local clock)
    camera: str | None = None
    content_hash: str = ""
    id: int = 0  # the file's catalog id (the web page asks for pictures by it)
    ocr_text: str | None = None  # the text read from it, when the catalog reads text (picfind.textsearch)
    matched: list[str] = field(default_factory=list)  # query words found in that text

    def as_dict(self) -> dict:
        return asdict(self)


class _Candidates:
    """What to ask for candidates: the index itself, or the filter's subset, and how many
    candidates to fetch per result wanted."""

    def __init__(self, catalog: Catalog, index: VectorIndex, model: str, where: Filter | None) -> None:
        self.index, self.within, self.spread = index, None, 1.0
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

    def top(self, query: np.ndarray, k: int) -> tuple[list[tuple[int, float]], bool]:
        """The candidates, and whether they are all there are."""
        if self.within is not None:
            found = self.index.top(query, k, within=self.within)  # type: ignore[call-arg]
            return found, len(found) < k or k >= len(self.within)
        ask = min(len(self.index), int(k * self.spread) + 1)
        found = self.index.top(query, ask)
        return found, len(found) < ask or ask >= len(self.index)


def search(catalog: Catalog, index: VectorIndex, model: str, query: np.ndarray, n: int = 20,
           min_score: float | None = None, where: Filter | None = None, sort: str = "score",
           exclude: set[str] | None = None, offset: int = 0, pool: int | None = None) -> list[Hit]:
    """The n best pictures after the first `offset` (paging); `exclude`: content hashes never to
    return (the example picture of a search by example). `sort="date"` orders the best `pool`
    matches (default n) newest first: pages over one pool partition one ordering, whatever
    their offset and size."""
    candidates = _Candidates(catalog, index, model, where)
    if sort == "date":
        hits = _best(catalog, candidates, model, query, pool or n, min_score, where, exclude or set())
        hits.sort(key=lambda h: h.taken or "", reverse=True)  # stable: equal dates keep the score order
    else:
        hits = _best(catalog, candidates, model, query, offset + n, min_score, where, exclude or set())
    return hits[offset:offset + n]


def _rescored(catalog: Catalog, candidates: _Candidates, model: str, query: np.ndarray,
              found: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Candidates best first by their exact cosine, ties by id, so that scores shown and cut by
    min_score are the same whatever the index (an approximate one keeps float16 vectors) and a
    larger page ranks the same candidates the same way."""
    if not isinstance(candidates.index, ExactIndex) and found:
        ids, matrix = catalog.vectors_for_ids(model, [i for i, _ in found])
        scores = matrix.astype(np.float64) @ np.asarray(query, dtype=np.float64) if len(ids) else []
        found = [(int(i), float(s)) for i, s in zip(ids, scores)]
    return sorted(found, key=lambda c: (-c[1], c[0]))


def _best(catalog: Catalog, candidates: _Candidates, model: str, query: np.ndarray, n: int,
          min_score: float | None, where: Filter | None, exclude: set[str]) -> list[Hit]:
    k = n + len(exclude)
    while True:
        # Fetch a few more than asked, in case some contents vanished from disk.
        fetch = k + max(8, k // 4)
        found, exhausted = candidates.top(query, fetch)
        found = _rescored(catalog, candidates, model, query, found)
        ranked = found if min_score is None else [(i, s) for i, s in found if s >= min_score]
        exhausted = exhausted or len(ranked) < len(found)  # the rest score below min_score
        hashes = catalog.hashes_for_ids([i for i, _ in ranked])
        ranked = [(hashes[i], s) for i, s in ranked if i in hashes and hashes[i] not in exclude]
        hits = hits_for(catalog, ranked, where, n)
        if len(hits) == n or exhausted:
            return hits
        k *= 2


def hits_for(catalog: Catalog, ranked: list[tuple[str, float]], where: Filter | None, n: int) -> list[Hit]:
    """Hits for (content hash, score) pairs in this order, at most n: contents with no file left
    on disk, or none passing the filter, are left out."""
    files = catalog.files_for_hashes([h for h, _ in ranked], where)
    hits = []
    for h, score in ranked:
        if not files.get(h):
            continue  # every file of this picture is gone, or filtered out
        first = files[h][0]
        hits.append(Hit(path=first["path"], score=round(score, 6), duplicates=[f["path"] for f in files[h][1:]],
                        width=first["width"], height=first["height"], mtime=first["mtime"], size=first["size"],
                        taken=first["taken"], camera=first["camera"], content_hash=h, id=first["id"]))
        if len(hits) == n:
            break
    return hits
