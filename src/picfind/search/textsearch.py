"""CLIP search fused with the text read from pictures.

A picture whose text holds every word of the query (3+ characters each, see `ocr.matching`) is
ranked above every picture found by CLIP alone: more exact matches first, then by CLIP score.
The rest follow in CLIP's order. Rank fusion (RRF) was the alternative; it lets a strong CLIP
match push a picture that *says* "hotel adlon" down the list, which is the one thing a person
typing a word they saw on the picture does not want. `ocr_only` keeps the text matches alone.

Every hit carries the text read from it (`ocr_text`) and the query words found there (`matched`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from picfind.filters import Filter
from picfind.ocr.matching import TextMatch, query_words
from picfind.ocr.reader import DEFAULT_OCR, MODELS
from picfind.search.query import parse
from picfind.search.ranking import Hit, hits_for

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend

OFF = "off"
MAX_TEXT_HITS = 1000  # text matches ranked (by CLIP) at most; more say the words are too common


def ocr_setting(catalog: CatalogBackend) -> str:
    """The catalog's OCR model, or "off" (the default; `picfind index --ocr` turns it on)."""
    return catalog.setting("ocr", OFF)


def set_ocr(catalog: CatalogBackend, on: bool) -> None:
    catalog.set_setting("ocr", DEFAULT_OCR if on else OFF)


def words_of(query: str | list[str]) -> list[list[str]]:
    """The words looked for in pictures' text, one group per text term that is added (not
    subtracted): a picture matches when its text holds every word of one group, so
    `"hotel adlon" + "at night"` finds the receipt that says HOTEL ADLON."""
    terms = parse([query] if isinstance(query, str) else query)
    groups = [query_words(t.text or "") for t in terms if t.image is None and t.weight > 0]
    return [g for g in groups if g]


def fuse(catalog: CatalogBackend, model: str, vector: np.ndarray, clip_hits: list[Hit], words: list[list[str]], n: int,
         where: Filter | None = None, sort: str = "score", exclude: set[str] | None = None,
         ocr_only: bool = False) -> list[Hit]:
    """Text matches first, then `clip_hits` (already filtered and ranked); each with its text."""
    ocr = ocr_setting(catalog)
    if ocr not in MODELS:
        if ocr_only:
            raise ValueError("this catalog reads no text from pictures: run `picfind index --ocr` first")
        return clip_hits
    if ocr_only and not words:
        raise ValueError("--ocr-only needs a word of 3 or more letters to look for")
    found: dict[str, tuple[str, TextMatch]] = {}
    for group in words:
        for h, (text, m) in catalog.text_matches(ocr, group).items():
            if h not in (exclude or set()) and (h not in found or m.score > found[h][1].score):
                found[h] = (text, m)
    ranked = sorted(found, key=lambda h: -found[h][1].score)[:MAX_TEXT_HITS]
    scored = [(h, _clip_score(catalog, model, h, vector)) for h in ranked]
    scored.sort(key=lambda hs: (-found[hs[0]][1].score, -hs[1]))
    text_hits = hits_for(catalog, scored, where, n)
    for hit in text_hits:
        hit.matched = found[hit.content_hash][1].words
    hits = text_hits if ocr_only else text_hits + [h for h in clip_hits if h.content_hash not in found]
    hits = hits[:n]
    texts = catalog.texts_of(ocr, [h.content_hash for h in hits])
    for hit in hits:
        hit.ocr_text = texts.get(hit.content_hash, "")
    if sort == "date":
        hits.sort(key=lambda h: h.taken or "", reverse=True)
    return hits


def _clip_score(catalog: CatalogBackend, model: str, content_hash: str, vector: np.ndarray) -> float:
    v = catalog.vector_of(model, content_hash)
    return float(v @ vector) if v is not None else 0.0
