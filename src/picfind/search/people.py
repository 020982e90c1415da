"""People in queries: names typed inside the text ("anna at the beach"), and the moment of a
video where the people asked for appear."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from picfind.records import fold, frame_span
from picfind.search.query import Term

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend
    from picfind.search.ranking import Hit

# what is left of a text term once a name is taken out, when it says nothing more ("photos of")
_FILLER = {"photo", "photos", "picture", "pictures", "pic", "pics", "image", "images", "of", "with", "and", "me"}


def names_in(terms: list[Term], names: dict[str, int]) -> tuple[list[Term], list[tuple[str, int]]]:
    """Named people's names inside the added text terms (folded, whole words, longest first), taken
    out of the text: the terms left, and the (name as found, person id) pairs."""
    found: list[tuple[str, int]] = []
    out: list[Term] = []
    keys = sorted(names, key=len, reverse=True)
    for term in terms:
        if term.text is None or term.weight <= 0 or not keys:
            out.append(term)
            continue
        text = fold(term.text)
        for key in keys:
            pattern = rf"(?:^| ){re.escape(key)}(?:s)?(?= |$)"  # "anna", "annas" (anna's, folded)
            if re.search(pattern, text):
                found.append((key, names[key]))
                text = re.sub(pattern, " ", text).strip()
        if text != fold(term.text):
            if any(w not in _FILLER for w in text.split()):
                out.append(replace(term, text=" ".join(text.split())))
            continue
        out.append(term)
    return out, found


def person_moments(catalog: CatalogBackend, hits: list[Hit], people: list[int]) -> None:
    """A video hit found with people asked for shows the moment they appear: its best moment that
    holds one of them, else the first frame that does (`time`, `frame` and `moments` set so)."""
    videos = [h for h in hits if h.kind == "video"]
    if not videos or not people:
        return
    faces = catalog.faces_in([h.content_hash for h in videos])
    wanted = set(people)
    for hit in videos:
        frames = sorted({f["frame"] for f in faces.get(hit.content_hash, []) if f["person"] in wanted},
                        key=lambda k: (frame_span(k) or (0.0, 0.0))[0])
        spans = {(frame_span(k) or (0.0, 0.0))[0]: k for k in frames}
        with_them = [m for m in hit.moments if m["time"] in spans]
        if with_them:
            best = with_them[0]
            hit.time, hit.frame = best["time"], spans[best["time"]]
            hit.moments = with_them + [m for m in hit.moments if m not in with_them]
        elif frames:
            hit.time, hit.frame = (frame_span(frames[0]) or (0.0, 0.0))[0], frames[0]
            hit.moments = [{"time": hit.time, "score": hit.score}] + hit.moments
