"""Search the current model's vectors, grouped by content.

One row per unique picture: its best-placed existing path first, copies under `duplicates`.
Files that vanished since the last scan are dropped at query time, so they never show.
Each catalog finds the nearest contents its own way (`CatalogBackend.searcher`); when too few
of them pass the filter or still exist, the ask doubles, up to `POOL_MAX` candidates. A place
whose files are all missing (a drive not connected: `missing.py`) is left out of the filter
instead, and the results say how many of theirs did not show.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from picfind.filters import Filter
from picfind.media.formats import live_motion, raw_of
from picfind.records import frame_span, owner
from picfind.search.missing import Missing

MOMENTS = 5  # a video hit lists at most this many moments (its best first)
MOMENT_MARGIN = 0.05  # and only those scoring within this of its best (the others do not match)
POOL_MAX = 2_000  # candidates a search asks for at most (more when the page alone needs 4x that)
TRIES = 16  # asks at most: doublings up to POOL_MAX, and places left out

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
    city: str | None = None  # the place's names, each on its own (GeoNames)
    region: str | None = None
    country: str | None = None
    kind: str = "image"  # or "video"
    time: float | None = None  # a video: the second its best moment starts
    moments: list[dict] = field(default_factory=list)  # a video: its best moments, [{time, score}], best first
    duration: float | None = None  # a video's length in seconds
    frame: str | None = None  # a video: the stored key of its best moment (its thumbnail's key)
    motion: str | None = None  # a Live Photo's still: its motion (the short video beside it)
    raw: str | None = None  # a camera's JPEG: the RAW saved beside it (RAW+JPEG, one photograph)

    def as_dict(self) -> dict:
        return asdict(self)


class Hits(list[Hit]):
    """A search's results, with the places whose results could not show (`missing`)."""

    def __init__(self, hits: Iterable[Hit] = (), missing: Missing | None = None) -> None:
        super().__init__(hits)
        self.missing = missing or Missing()

    def note(self) -> str | None:
        """One line about results on a drive not connected (None when there were none)."""
        return self.missing.line()


def search(catalog: CatalogBackend, model: str, query: np.ndarray, n: int = 20,
           min_score: float | None = None, where: Filter | None = None, sort: str = "score",
           exclude: set[str] | None = None, offset: int = 0, pool: int | None = None) -> Hits:
    """The n best pictures after the first `offset` (paging); `exclude`: content hashes never to
    return (the example picture of a search by example). `sort="date"` orders the best `pool`
    matches (default n) newest first: pages over one pool partition one ordering, whatever
    their offset and size."""
    missing = Missing()
    hits = _best(catalog, model, query, pool or n if sort == "date" else offset + n, min_score, where,
                 exclude or set(), missing)
    if sort == "date":
        hits.sort(key=lambda h: h.taken or "", reverse=True)  # stable: equal dates keep the score order
    return Hits(with_motion(hits[offset:offset + n]), missing)


def with_motion(hits: list[Hit]) -> list[Hit]:
    """Name each Live Photo still's motion and each camera JPEG's RAW: a few stats a picture, so
    only for the page shown."""
    folders: dict[str, dict[str, str]] = {}
    for hit in hits:
        if hit.kind == "image":
            hit.motion = live_motion(hit.path)
            hit.raw = raw_of(hit.path, folders)
    return hits


def _best(catalog: CatalogBackend, model: str, query: np.ndarray, n: int, min_score: float | None,
          where: Filter | None, exclude: set[str], missing: Missing) -> list[Hit]:
    """The n best hits; fewer when the index has no more, or when `POOL_MAX` candidates gave
    fewer (`missing` says where the files of those passed over were)."""
    k = n + len(exclude)
    most = max(POOL_MAX, 4 * (k + max(8, k // 4)))
    candidates: Searcher = catalog.searcher(model, where)
    hits: list[Hit] = []
    for _ in range(TRIES):
        # Fetch a few more than asked, in case some contents vanished from disk.
        fetch = k + max(8, k // 4)
        found, exhausted = candidates.top(query, fetch)
        found = sorted(((h, s) for h, s in found if math.isfinite(s)),  # a NaN vector matches nothing
                       key=lambda c: (-c[1], c[0]))  # ties in one order: pages stay stable
        ranked = found if min_score is None else [(i, s) for i, s in found if s >= min_score]
        exhausted = exhausted or len(ranked) < len(found)  # the rest score below min_score
        ranked = [(h, s) for h, s in ranked if owner(h) not in exclude]  # a video: all its frames
        hits = hits_for(catalog, ranked, where, n, missing)
        if len(hits) == n or exhausted:
            break
        away = [p for p in missing.counts if p not in (where.outside if where else [])]
        if away:  # ask again without the places that are not there: the catalog finds what is
            where = (where or Filter()).without(away)
            candidates = catalog.searcher(model, where)
        elif fetch >= most:
            break
        else:
            k *= 2
    return hits


def hits_for(catalog: CatalogBackend, ranked: list[tuple[str, float]], where: Filter | None, n: int,
             missing: Missing | None = None) -> list[Hit]:
    """Hits for (content hash, score) pairs in this order, at most n: contents with no file left
    on disk, or none passing the filter, are left out (`missing` counts where the files of those
    that would have shown were). A video's frames (`records.frame_key`) make one hit, ranked by
    its best moment, its other moments beside it."""
    gone: dict[str, list[str]] = {}
    files = catalog.files_for_hashes(list(dict.fromkeys(owner(h) for h, _ in ranked)), where, gone)
    hits: list[Hit] = []
    videos: dict[str, Hit] = {}
    passed: Counter[str] = Counter()  # place -> results not shown, their files not there
    counted: set[str] = set()
    for key, score in ranked:
        h, span = owner(key), frame_span(key)
        if not files.get(h) or not math.isfinite(score):
            if missing is not None and h in gone and h not in counted and len(hits) < n:
                counted.add(h)
                place = next(filter(None, map(missing.place_of, gone[h])), None)
                if place:
                    passed[place] += 1
            continue  # every file of this picture is gone, or filtered out
        if h in videos:
            if span is not None and len(videos[h].moments) < MOMENTS and score >= videos[h].score - MOMENT_MARGIN:
                videos[h].moments.append({"time": span[0], "score": round(score, 6)})
            continue
        if len(hits) == n:
            continue  # full: only more moments of the videos already in
        first = files[h][0]
        hit = Hit(path=first["path"], score=round(score, 6), duplicates=[f["path"] for f in files[h][1:]],
                  width=first["width"], height=first["height"], mtime=first["mtime"], size=first["size"],
                  taken=first["taken"], camera=first["camera"], content_hash=h, id=first["id"],
                  place=first.get("place"), lat=first.get("lat"), lon=first.get("lon"), city=first.get("city"),
                  region=first.get("region"), country=first.get("country"))
        if span is not None or first.get("duration") is not None:
            hit.kind, hit.duration, videos[h] = "video", first.get("duration"), hit
            if span is not None:
                hit.time, hit.frame = span[0], key
                hit.moments.append({"time": span[0], "score": round(score, 6)})
        hits.append(hit)
    if missing is not None:
        missing.tally(passed)
    return hits
