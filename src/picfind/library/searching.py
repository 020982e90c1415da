"""The library's search doors: text and example queries, pictures like one, duplicates."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from picfind.catalogs.opening import is_server
from picfind.filters import Filter
from picfind.library.examples import Example, ExampleDoors, text_vector
from picfind.library.text_ahead import FORK_FROM, TextAhead
from picfind.media.safefile import read_regular
from picfind.ocr.reader import MODELS as OCR_MODELS
from picfind.search.dupes import DEFAULT_THRESHOLD, Group, exact_copies, near_duplicates
from picfind.search.people import names_in, person_moments
from picfind.search.query import Term, combine, parse
from picfind.search.ranking import Hits, search
from picfind.search.textsearch import fuse, ocr_setting, words_of

# what a query that only names people is searched with: the order among their pictures
PEOPLE_ONLY = "a photo of people"


class SearchDoors(ExampleDoors):
    def count(self) -> int:
        """How many vectors the current model can search (a picture's one, a video's one a moment)."""
        return self.catalog.count_vectors(self.model)

    def holdings(self) -> dict[str, int]:
        """What the catalog holds: `pictures` and `videos` (distinct contents), and the videos'
        `moments`, as `status` counts them."""
        st = self.catalog.stats(self.model)
        return {k: st[k] for k in ("pictures", "videos", "moments")}

    def warm(self, texts: list[str] | None = None) -> None:
        """Get ready for a text search without waiting for one: the text encoder loads on its own
        thread (`Encoder.preload_text`), the vector index here. With `forks_text` and an index
        slow to open, the vectors of these texts and the language hint are made in a child
        instead (`text_ahead`)."""
        from picfind.models.languages import preload

        if texts and self.forks_text and self._ahead is None and not is_server(self.target) \
                and self.count() >= FORK_FROM:
            self._ahead, self._ahead_texts = self._text_ahead(texts), texts
        if self._ahead is None:
            self.text_encoder.preload_text()
            preload()  # the query's language is asked after the encoder (NLLB-CLIP, the hint)
        self.catalog.open_index(self.model)

    def _text_ahead(self, texts: list[str]) -> TextAhead | None:
        from picfind.library.multilingual import hint

        # Chosen here, from the catalog's settings: the child never uses the catalog's connection.
        encoder, model = self.text_encoder, self.model
        if encoder.loaded:  # its threads (ONNX Runtime's, CUDA's) would not come along
            return None

        def work() -> Iterator[object]:
            yield [text_vector(encoder, t) for t in texts]
            yield (hint(" ".join(texts), encoder.bundle, model),)  # after: the search needs only the vectors
        return TextAhead.start(work)

    def query_vector(self, query: str | list[str], files: bool = True) -> tuple[np.ndarray, set[str]]:
        """A query's vector (see `picfind.search.query`) and the content hashes of its example images
        (`files=False`: no term is read from disk, for requests from the web)."""
        return self.terms_vector(parse([query] if isinstance(query, str) else query, files))

    def terms_vector(self, terms: list[Term]) -> tuple[np.ndarray, set[str]]:
        """Parsed terms' vector and the content hashes of their example images."""
        texts = [term.text or "" for term in terms if term.image is None]
        if texts:
            self.warm(texts)  # a fresh process: the text side is made while the index opens
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
               pool: int | None = None, files: bool = True, ocr_only: bool = False) -> Hits:
        """Text, or a combined query of text and image files (`picfind.search.query`). Example images
        themselves are left out of the results. Paging (`offset`, `pool`): see `picfind.search.ranking.search`.
        When the catalog reads text, pictures whose text holds the query's words come first
        (`picfind.search.textsearch`); `ocr_only`: only those. The query is parsed once, so with
        `files=False` (the web) no part of it ever looks at a path. `Hits.note()` says how many
        results are on a drive not connected (left out, not waited for)."""
        terms, where = self.understand(self._parse(query, files, where), where)
        vector, examples = self.terms_vector(terms or [Term(1.0, PEOPLE_ONLY)])
        if ocr_setting(self.catalog) not in OCR_MODELS and not ocr_only:
            hits = self.search_vector(vector, n, min_score, where, sort, exclude=examples, offset=offset, pool=pool)
        else:
            # The fused ordering is built over everything up to this page (over the pool, by date).
            want = (pool or n) if sort == "date" else offset + n
            clip = Hits() if ocr_only else self.search_vector(vector, want, min_score, where, exclude=examples)
            hits = Hits(fuse(self.catalog, self.model, vector, clip, words_of(terms), want, where, sort, examples,
                             ocr_only)[offset:offset + n], clip.missing)
        person_moments(self.catalog, hits, where.people if where else [])
        return hits

    @staticmethod
    def _parse(query: str | list[str], files: bool, where: Filter | None) -> list[Term]:
        """The query's terms; none when it is empty and people are asked for (all their pictures)."""
        tokens = [query] if isinstance(query, str) else query
        if where and where.people and not any(t.strip() for t in tokens):
            return []
        return parse(tokens, files)

    def understand(self, terms: list[Term], where: Filter | None = None) -> tuple[list[Term], Filter | None]:
        """Named people's names typed inside the text ("anna at the beach") taken out of it and
        into the filter, as `--person anna`: the terms left (none: the query only names people)."""
        names = self.name_index() if self.finds_faces or where and where.people else {}
        rest, found = names_in(terms, names)
        if not found:
            return terms, where
        return rest, (where or Filter()).with_people([pid for _, pid in found])

    def understood(self, query: str | list[str], where: Filter | None = None, files: bool = True) -> dict:
        """What a query is taken to mean, for showing it: the people named in it and the text left."""
        terms, narrowed = self.understand(self._parse(query, files, where), where)
        named = [self.catalog.person(p) for p in (narrowed.people if narrowed else [])]
        return {"people": [p["name"] or f"person {p['id']}" for p in named if p],
                "text": [t.text or t.image for t in terms]}

    def similar(self, image: str | int | bytes | Example, n: int = 20, min_score: float | None = None,
                where: Filter | None = None, sort: str = "score", offset: int = 0,
                pool: int | None = None, at: str | float | None = None, faces: bool = False) -> Hits:
        """Pictures like this one: a file path, a catalog file id, an image file's bytes or an
        `Example` decoded beforehand; an indexed video at a moment ("clip.mp4@1:23", or `at`
        seconds; the whole video without one). The example itself is left out (a video: all of it).
        `faces`: only pictures holding the same people (every person whose face it shows)."""
        vector, digest = self.example_vector(image, at)
        if faces:
            where = self.same_people(image, digest, where)
        hits = self.search_vector(vector, n, min_score, where, sort, exclude={digest}, offset=offset, pool=pool)
        person_moments(self.catalog, hits, where.people if where else [])
        return hits

    def same_people(self, image: str | int | bytes | Example, digest: str, where: Filter | None) -> Filter:
        """`where` narrowed to the pictures holding every person in this example: its stored faces'
        people when it is indexed, else the people its faces (found now) are nearest to."""
        stored = self.catalog.faces_in([digest]).get(digest, [])
        ids = sorted({f["person"] for f in stored if f["person"] is not None})
        if not stored and isinstance(image, str | bytes):
            ids = self.people_in_image(read_regular(os.path.expanduser(image)) if isinstance(image, str) else image)
        if not ids:
            raise LookupError("no known person's face in that picture: `picfind people` lists the people found")
        return replace(where or Filter(), people=ids, people_mode="all")

    def language_hint(self, query: str | list[str], files: bool = True) -> str | None:
        """One line when the text side in use reads English only and the query's text terms are in
        another language (`picfind.library.multilingual.hint`); None otherwise. `files` as in `search`."""
        from picfind.library.multilingual import hint

        tokens = [query] if isinstance(query, str) else query
        if not any(t.strip() for t in tokens):  # a search by person alone, say: no words to read
            return None
        terms = parse(tokens, files)
        text = " ".join(t.text or "" for t in terms if t.image is None)
        ahead = self._ahead.value(1) if self._ahead and " ".join(self._ahead_texts) == text else None
        if isinstance(ahead, tuple):
            return ahead[0]
        return hint(text, self.text_bundle, self.model) if text.strip() else None

    def search_vector(self, vector: np.ndarray, n: int = 20, min_score: float | None = None,
                      where: Filter | None = None, sort: str = "score", exclude: set[str] | None = None,
                      offset: int = 0, pool: int | None = None) -> Hits:
        return search(self.catalog, self.model, vector, n, min_score, where, sort, exclude, offset, pool)

    def dupes(self, near: bool = False, threshold: float = DEFAULT_THRESHOLD,
              progress: Callable[[int, int], None] | None = None) -> list[Group]:
        """Exact copies, or near-duplicates by embedding similarity (`picfind.search.dupes`)."""
        if not near:
            return exact_copies(self.catalog)
        return near_duplicates(self.catalog, self.model, threshold, progress,
                               nearest=self.catalog.nearest(self.model))
