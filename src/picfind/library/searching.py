"""The library's search doors: text and example queries, pictures like one, duplicates."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from picfind.filters import Filter
from picfind.library.examples import Example, ExampleDoors
from picfind.media.safefile import read_regular
from picfind.ocr.reader import MODELS as OCR_MODELS
from picfind.search.dupes import DEFAULT_THRESHOLD, Group, exact_copies, near_duplicates
from picfind.search.query import Term, combine, parse
from picfind.search.ranking import Hit, search
from picfind.search.textsearch import fuse, ocr_setting, words_of


class SearchDoors(ExampleDoors):
    def count(self) -> int:
        """How many pictures (distinct contents) the current model can search."""
        return self.catalog.count_vectors(self.model)

    def warm(self) -> None:
        """Get ready for a text search without waiting for one: the text encoder loads on its own
        thread (`Encoder.preload_text`), the vector index here."""
        from picfind.models.languages import preload

        self.text_encoder.preload_text()
        preload()  # the query's language is asked after the encoder (NLLB-CLIP, the hint)
        self.catalog.open_index(self.model)

    def query_vector(self, query: str | list[str], files: bool = True) -> tuple[np.ndarray, set[str]]:
        """A query's vector (see `picfind.search.query`) and the content hashes of its example images
        (`files=False`: no term is read from disk, for requests from the web)."""
        return self.terms_vector(parse([query] if isinstance(query, str) else query, files))

    def terms_vector(self, terms: list[Term]) -> tuple[np.ndarray, set[str]]:
        """Parsed terms' vector and the content hashes of their example images."""
        if any(term.image is None for term in terms):
            self.warm()  # a fresh process: the encoder loads while the index opens and the text is tokenized
        vectors, examples = [], set()
        for term in terms:
            if term.image is None:
                vectors.append(self.embed_text(term.text or ""))
                continue
            moment = self.video_moment(term.image)
            vector, digest = moment if moment else self.embed_image(read_regular(term.image))
            vectors.append(vector)
            examples.add(digest)
        return combine(vectors, [t.weight for t in terms]), examples

    def search(self, query: str | list[str], n: int = 20, min_score: float | None = None,
               where: Filter | None = None, sort: str = "score", offset: int = 0,
               pool: int | None = None, files: bool = True, ocr_only: bool = False) -> list[Hit]:
        """Text, or a combined query of text and image files (`picfind.search.query`). Example images
        themselves are left out of the results. Paging (`offset`, `pool`): see `picfind.search.ranking.search`.
        When the catalog reads text, pictures whose text holds the query's words come first
        (`picfind.search.textsearch`); `ocr_only`: only those. The query is parsed once, so with
        `files=False` (the web) no part of it ever looks at a path."""
        terms = parse([query] if isinstance(query, str) else query, files)
        vector, examples = self.terms_vector(terms)
        if ocr_setting(self.catalog) not in OCR_MODELS and not ocr_only:
            return self.search_vector(vector, n, min_score, where, sort, exclude=examples, offset=offset, pool=pool)
        # The fused ordering is built over everything up to this page (over the pool, by date).
        want = (pool or n) if sort == "date" else offset + n
        clip = [] if ocr_only else self.search_vector(vector, want, min_score, where, exclude=examples)
        hits = fuse(self.catalog, self.model, vector, clip, words_of(terms), want, where, sort, examples, ocr_only)
        return hits[offset:offset + n]

    def similar(self, image: str | int | bytes | Example, n: int = 20, min_score: float | None = None,
                where: Filter | None = None, sort: str = "score", offset: int = 0,
                pool: int | None = None, at: str | float | None = None) -> list[Hit]:
        """Pictures like this one: a file path, a catalog file id, an image file's bytes or an
        `Example` decoded beforehand; an indexed video at a moment ("clip.mp4@1:23", or `at`
        seconds; the whole video without one). The example itself is left out (a video: all of it)."""
        vector, digest = self.example_vector(image, at)
        return self.search_vector(vector, n, min_score, where, sort, exclude={digest}, offset=offset, pool=pool)

    def language_hint(self, query: str | list[str], files: bool = True) -> str | None:
        """One line when the text side in use reads English only and the query's text terms are in
        another language (`picfind.library.multilingual.hint`); None otherwise. `files` as in `search`."""
        from picfind.library.multilingual import hint

        terms = parse([query] if isinstance(query, str) else query, files)
        text = " ".join(t.text or "" for t in terms if t.image is None)
        return hint(text, self.text_bundle, self.model) if text.strip() else None

    def search_vector(self, vector: np.ndarray, n: int = 20, min_score: float | None = None,
                      where: Filter | None = None, sort: str = "score", exclude: set[str] | None = None,
                      offset: int = 0, pool: int | None = None) -> list[Hit]:
        return search(self.catalog, self.model, vector, n, min_score, where, sort, exclude, offset, pool)

    def dupes(self, near: bool = False, threshold: float = DEFAULT_THRESHOLD,
              progress: Callable[[int, int], None] | None = None) -> list[Group]:
        """Exact copies, or near-duplicates by embedding similarity (`picfind.search.dupes`)."""
        if not near:
            return exact_copies(self.catalog)
        return near_duplicates(self.catalog, self.model, threshold, progress,
                               nearest=self.catalog.nearest(self.model))
