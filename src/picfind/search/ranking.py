"""Search the current model's vectors, grouped by content.

One row per unique picture: its best-placed existing path first, copies under `duplicates`.
Files that vanished since the last scan are dropped at query time, so they never show.
Each catalog finds the nearest contents its own way (`CatalogBackend.searcher`); when too few
of them pass the filter or still exist, the ask doubles until enough do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from picfind.filters import Filter

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend, Searcher


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
    ocr_text: str | None = None  # the text read from it, when the catalog reads text (picfind.search.textsearch)
    matched: list[str] = field(default_factory=list)  # query words found in that text
    place: str | None = None  # where it was taken, "Lyon, Auvergne-Rhône-Alpes, France" (EXIF GPS, GeoNames)
    lat: float | None = None
    lon: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def search(catalog: CatalogBackend, model: str, query: np.ndarray, n: int = 20,
           min_score: float | None = None, where: Filter | None = None, sort: str = "score",
           exclude: set[str] | None = None, offset: int = 0, pool: int | None = None) -> list[Hit]:
    """The n best pictures after the first `offset` (paging); `exclude`: content hashes never to
    return (the example picture of a search by example). `sort="date"` orders the best `pool`
    matches (default n) newest first: pages over one pool partition one ordering, whatever
    their offset and size."""
    candidates = catalog.searcher(model, where)
    if sort == "date":
        hits = _best(catalog, candidates, query, pool or n, min_score, where, exclude or set())
        hits.sort(key=lambda h: h.taken or "", reverse=True)  # stable: equal dates keep the score order
    else:
        hits = _best(catalog, candidates, query, offset + n, min_score, where, exclude or set())
    return hits[offset:offset + n]


def _best(catalog: CatalogBackend, candidates: Searcher, query: np.ndarray, n: int,
          min_score: float | None, where: Filter | None, exclude: set[str]) -> list[Hit]:
    k = n + len(exclude)
    while True:
        # Fetch a few more than asked, in case some contents vanished from disk.
        fetch = k + max(8, k // 4)
        found, exhausted = candidates.top(query, fetch)
        found = sorted(found, key=lambda c: (-c[1], c[0]))  # ties in one order: pages stay stable
        ranked = found if min_score is None else [(i, s) for i, s in found if s >= min_score]
        exhausted = exhausted or len(ranked) < len(found)  # the rest score below min_score
        ranked = [(h, s) for h, s in ranked if h not in exclude]
        hits = hits_for(catalog, ranked, where, n)
        if len(hits) == n or exhausted:
            return hits
        k *= 2


def hits_for(catalog: CatalogBackend, ranked: list[tuple[str, float]], where: Filter | None, n: int) -> list[Hit]:
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
                        taken=first["taken"], camera=first["camera"], content_hash=h, id=first["id"],
                        place=first.get("place"), lat=first.get("lat"), lon=first.get("lon")))
        if len(hits) == n:
            break
    return hits
