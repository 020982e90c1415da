"""CLIP search fused with the text read from pictures.

A picture whose text holds the query's words (3+ characters each, see `ocr.matching`) is ranked
above every picture found by CLIP alone: every word first, then most words (at least half of
them: one misread word does not hide a picture), more exact matches first, then by CLIP score.
The rest follow in CLIP's order. Rank fusion (RRF) was the alternative; it lets a strong CLIP
match push a picture that *says* "hotel adlon" down the list, which is the one thing a person
typing a word they saw on the picture does not want. `ocr_only` keeps the text matches alone.

Every hit carries the text read from it (`ocr_text`) and the query words found there (`matched`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from picfind.filters import Filter
from picfind.ocr.matching import MAX_CANDIDATES, TextMatch, matching, partial_least, query_words
from picfind.ocr.reader import DEFAULT_OCR, MODELS
from picfind.records import owner
from picfind.search.query import Term
from picfind.search.ranking import Hit, hits_for, with_motion

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend

OFF = "off"
MAX_TEXT_HITS = 1000  # text matches ranked (by CLIP) at most; more say the words are too common


def ocr_setting(catalog: CatalogBackend) -> str:
    """The catalog's OCR model, or "off" (the default; `picfind index --ocr` turns it on)."""
    return catalog.setting("ocr", OFF)


def set_ocr(catalog: CatalogBackend, on: bool) -> None:
    catalog.set_setting("ocr", DEFAULT_OCR if on else OFF)


def words_of(terms: list[Term]) -> list[list[str]]:
    """The words looked for in pictures' text, one group per text term that is added (not
    subtracted): a picture matches when its text holds every word of one group, so
    `"hotel adlon" + "at night"` finds the receipt that says HOTEL ADLON. Takes the terms
    already parsed (`query.parse`), so the query is read once, by the caller's rules on files."""
    groups = [query_words(t.text or "") for t in terms if t.image is None and t.weight > 0]
    return [g for g in groups if g]


def text_matches(catalog: CatalogBackend, ocr_model: str, words: list[str],
                 enough: int = MAX_CANDIDATES) -> dict[str, tuple[str, TextMatch]]:
    """Contents whose text holds these folded words, with their text and how it matched: every
    word, or at least half of them (`partial_least`), so one misread word does not hide a
    picture; `TextMatch.score` puts those holding more words first. With `enough` texts holding
    every word, the partial ones (ranked after them all) are not looked for. The one
    implementation over every catalog: a backend only hands over candidates (`text_candidates`)."""
    found = matching(words, catalog.text_candidates(ocr_model, words))
    if len(words) > 1 and len(found) < enough:
        least = partial_least(words)
        for word in words:  # a text holding some words is a candidate of each of them: match it once
            fresh = {d: text for d, text in catalog.text_candidates(ocr_model, [word]).items() if d not in found}
            found.update(matching(words, fresh, least))
    return found


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
    # every-word matches enough to fill the page (none filtered away): partial ones would rank below them all
    enough = MAX_CANDIDATES if where else n + len(exclude or ())
    for group in words:
        for h, (text, m) in text_matches(catalog, ocr, group, enough).items():
            if owner(h) not in (exclude or set()) and (h not in found or m.score > found[h][1].score):
                found[h] = (text, m)
    ranked = sorted(found, key=lambda h: -found[h][1].score)[:MAX_TEXT_HITS]
    stored = catalog.vectors_of(model, ranked)  # one read for every text hit, not one each
    scored = [(h, float(stored[h] @ vector) if h in stored else 0.0) for h in ranked]
    scored.sort(key=lambda hs: (-found[hs[0]][1].score, -hs[1]))
    text_hits = hits_for(catalog, scored, where, n)
    for hit in text_hits:
        hit.matched = found[_key(hit)][1].words
    matched = {owner(h) for h in found}  # a video found by a frame's text: not again by CLIP
    hits = text_hits if ocr_only else text_hits + [h for h in clip_hits if h.content_hash not in matched]
    hits = with_motion(hits[:n])
    texts = catalog.texts_of(ocr, [_key(h) for h in hits])
    for hit in hits:
        hit.ocr_text = texts.get(_key(hit), "")
    if sort == "date":
        hits.sort(key=lambda h: h.taken or "", reverse=True)
    return hits


def _key(hit: Hit) -> str:
    """Where a hit's text is stored: a video's under the frame of its moment, a picture's under its content."""
    return hit.frame or hit.content_hash
