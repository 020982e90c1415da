"""The text read from pictures, in the SQLite catalog: kept per (content hash, OCR model) like
vectors, so copies, moves and renames read nothing again, and searched through an FTS5 trigram
index (substrings of 3+ characters) over the folded text (`ocr.matching.fold`).

`Catalog` inherits these methods; the PostgreSQL catalog answers `text_candidates` its own way
(`picfind.catalogs.postgres.text`), and `picfind.search.textsearch.text_matches` decides on what comes
back either way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from picfind.catalogs.sqlite.dialect import owner_sql
from picfind.catalogs.sqlite.vector_rows import chunks, marks
from picfind.ocr.matching import MAX_CANDIDATES, candidate_pieces, searchable

# Appended to catalog_schema.MIGRATIONS. `text` is '' for a picture read and found to hold none.
MIGRATION = """
CREATE TABLE ocr_texts (
    id INTEGER PRIMARY KEY,
    content_hash TEXT NOT NULL,
    ocr_model TEXT NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (content_hash, ocr_model)
);
-- rowid = ocr_texts.id; the folded text, then again without spaces (OCR splits words)
CREATE VIRTUAL TABLE ocr_fts USING fts5(folded, tokenize = 'trigram');
"""


class TextStore:
    """Catalog methods for OCR text (mixed into `Catalog`, which provides `db` and `transaction`)."""

    db: sqlite3.Connection
    transaction: Callable[[], AbstractContextManager]

    def texts_read(self, ocr_model: str) -> set[str]:
        """Contents whose text this OCR model has read (with or without finding any)."""
        return {h for (h,) in self.db.execute("SELECT content_hash FROM ocr_texts WHERE ocr_model = ?",
                                              (ocr_model,))}

    def put_texts(self, ocr_model: str, texts: dict[str, str]) -> None:
        """Store what was read, in one transaction."""
        with self.transaction():
            for digest, text in texts.items():
                cur = self.db.execute("INSERT OR IGNORE INTO ocr_texts(content_hash, ocr_model, text) "
                                      "VALUES (?, ?, ?)", (digest, ocr_model, text))
                if cur.rowcount and text.strip():
                    self.db.execute("INSERT INTO ocr_fts(rowid, folded) VALUES (?, ?)",
                                    (cur.lastrowid, searchable(text)))

    def texts_of(self, ocr_model: str, hashes: list[str]) -> dict[str, str]:
        """The text read from these contents (those that hold some)."""
        out: dict[str, str] = {}
        for chunk in chunks(hashes):
            out.update(self.db.execute(
                f"SELECT content_hash, text FROM ocr_texts WHERE ocr_model = ? AND text != '' "
                f"AND content_hash IN ({marks(chunk)})", (ocr_model, *chunk)))
        return out

    def text_candidates(self, ocr_model: str, words: list[str]) -> dict[str, str]:
        """Contents whose text may hold every one of these folded words (each as a substring, or
        with one slip: see `candidate_pieces`), with their text. A superset: `ocr.matching.match` decides."""
        if not words:
            return {}
        groups = [" OR ".join(f'"{p}"' for p in candidate_pieces(w)) for w in words]
        query = " AND ".join(f"({g})" for g in groups)
        rows = self.db.execute(
            "SELECT t.content_hash, t.text FROM ocr_fts JOIN ocr_texts t ON t.id = ocr_fts.rowid "
            "WHERE ocr_fts MATCH ? AND t.ocr_model = ? LIMIT ?", (query, ocr_model, MAX_CANDIDATES))
        return dict(rows.fetchall())

    def prune_texts(self) -> None:
        """Drop the text of contents no file holds any more (inside the caller's transaction)."""
        # a video frame's text ("<video hash>@<start>-<end>") lives as long as its video
        orphans = (f"SELECT id FROM ocr_texts WHERE {owner_sql('content_hash')} NOT IN "
                   "(SELECT content_hash FROM files WHERE content_hash IS NOT NULL)")
        self.db.execute(f"DELETE FROM ocr_fts WHERE rowid IN ({orphans})")
        self.db.execute(f"DELETE FROM ocr_texts WHERE id IN ({orphans})")

    def count_texts(self, ocr_model: str) -> tuple[int, int]:
        """(contents read, contents holding text) for this OCR model."""
        row = self.db.execute("SELECT count(*), count(NULLIF(text, '')) FROM ocr_texts WHERE ocr_model = ?",
                              (ocr_model,)).fetchone()
        return row[0], row[1]
