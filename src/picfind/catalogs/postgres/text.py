"""The text read from pictures, in the PostgreSQL catalog: kept per (content hash, OCR model)
like vectors, so copies, moves and renames read nothing again.

PostgreSQL's own trigram search (pg_trgm) and accent folding (unaccent) are contrib extensions
that many servers, and the pgserver wheel the tests run, do not have. So the candidates come
from what every PostgreSQL has: each text's trigrams (`ocr.matching.trigrams` of the same folded
`searchable` text the SQLite catalog indexes) in a `text[]` column under a GIN index, probed with
`@>` for each query piece. That finds a superset of the matches; `ocr.matching.matching` decides, so
both catalogs give the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import psycopg

from picfind.ocr.matching import MAX_CANDIDATES, candidate_pieces, searchable, trigrams

# Appended to schema.MIGRATIONS. `text` is '' for a picture read and found to hold none.
MIGRATION = """
CREATE TABLE ocr_texts (
    content_hash text NOT NULL,
    ocr_model text NOT NULL,
    text text NOT NULL,
    grams text[] NOT NULL,             -- the folded text's trigrams (picfind.ocr.matching.trigrams)
    PRIMARY KEY (content_hash, ocr_model)
);
-- fastupdate off: GIN's pending list (rows not yet merged until a VACUUM) is scanned whole by
-- every search, and the planner, counting it, turned to a full scan: 100 ms at 20,000 texts,
-- against 0.1 ms with it off (benchmarks/text_search.py)
CREATE INDEX ocr_texts_grams ON ocr_texts USING gin (grams) WITH (fastupdate = off);
"""
FIRST_ANALYZE = 1000  # texts stored by this client before it refreshes the table's statistics


class PgTextStore:
    """Catalog methods for OCR text (mixed into `PgCatalog`, which provides `_run`, `_one` and
    `_transaction`)."""

    _run: Callable[..., list[tuple]]
    _one: Callable[..., tuple | None]
    _transaction: Callable[[], AbstractContextManager[psycopg.Cursor]]
    _texts_put, _analyze_at = 0, FIRST_ANALYZE  # per client (set on the instance as it writes)

    def texts_read(self, ocr_model: str) -> set[str]:
        """Contents whose text this OCR model has read (with or without finding any)."""
        return {h for (h,) in self._run("SELECT content_hash FROM ocr_texts WHERE ocr_model = %s", (ocr_model,))}

    def put_texts(self, ocr_model: str, texts: dict[str, str]) -> None:
        """Store what was read, in one transaction (a text read twice, by two indexers, keeps the first)."""
        rows = []
        for digest in sorted(texts):  # one order in every client: concurrent writers never deadlock
            text = texts[digest].replace("\0", "")  # PostgreSQL text holds no NUL
            rows.append((digest, ocr_model, text, trigrams(searchable(text)) if text.strip() else []))
        with self._transaction() as cur:
            cur.executemany("INSERT INTO ocr_texts(content_hash, ocr_model, text, grams) VALUES (%s, %s, %s, %s) "
                            "ON CONFLICT DO NOTHING", rows)
        # Without fresh statistics the planner may scan every text of the model instead of the
        # GIN index; autovacuum would catch up only a minute or so later, so a bulk load
        # refreshes them itself, each time it has doubled.
        self._texts_put += len(rows)
        if self._texts_put >= self._analyze_at:
            self._run("ANALYZE ocr_texts")
            self._analyze_at = 2 * self._texts_put

    def texts_of(self, ocr_model: str, hashes: list[str]) -> dict[str, str]:
        """The text read from these contents (those that hold some)."""
        return dict(self._run("SELECT content_hash, text FROM ocr_texts WHERE ocr_model = %s AND text <> '' "
                              "AND content_hash = ANY(%s)", (ocr_model, list(hashes))))

    def text_candidates(self, ocr_model: str, words: list[str]) -> dict[str, str]:
        """Contents whose text may hold every one of these folded words (all the trigrams of one
        of each word's `candidate_pieces`), with their text. A superset: `matching` decides."""
        if not words:
            return {}
        groups, params = [], []
        for word in words:
            pieces = candidate_pieces(word)
            groups.append("(" + " OR ".join(["grams @> %s::text[]"] * len(pieces)) + ")")
            params += [trigrams(p) for p in pieces]
        rows = self._run(f"SELECT content_hash, text FROM ocr_texts WHERE ocr_model = %s AND {' AND '.join(groups)} "
                         "LIMIT %s", (ocr_model, *params, MAX_CANDIDATES))
        return dict(rows)

    def count_texts(self, ocr_model: str) -> tuple[int, int]:
        """(contents read, contents holding text) for this OCR model."""
        row: Any = self._one("SELECT count(*), count(NULLIF(text, '')) FROM ocr_texts WHERE ocr_model = %s",
                             (ocr_model,))
        return row[0], row[1]

    @staticmethod
    def prune_texts(cur: psycopg.Cursor) -> None:
        """Drop the text of contents no file holds any more (inside the caller's transaction)."""
        # a video frame's text ("<video hash>@<start>-<end>") lives as long as its video
        cur.execute("DELETE FROM ocr_texts t WHERE NOT EXISTS (SELECT 1 FROM files f "
                    "WHERE f.content_hash = split_part(t.content_hash, '@', 1))")
