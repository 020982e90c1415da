"""Where each analysis kind's results live (`picfind.analysis`), the same in every backend: the
text store ("texts", `sqlite/text.py`, `postgres/text.py`) and the face store ("faces",
`catalogs/faces.py`). A new kind of per-content data adds its store here.

Which contents an analysis has seen is asked per content met (`KnownContents`), like the vectors:
a watch batch of ten files asks about those ten, never reads every content the catalog holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from picfind.catalogs.known import KnownContents

# kind -> (the table of contents it has seen, their key column, the model column)
_SEEN = {"texts": ("ocr_texts", "content_hash", "ocr_model"), "faces": ("faces_read", "frame", "face_model")}


def seen_sql(kind: str, content: str, mark: str) -> str:
    """SQL true when this analysis (with the model in a `mark` parameter) has seen `content`."""
    table, key, column = _SEEN[kind]
    return f"EXISTS (SELECT 1 FROM {table} a WHERE a.{key} = {content} AND a.{column} = {mark})"


class AnalysisStores:
    """Mixed into each catalog after its stores, whose methods it routes by kind."""

    texts_read: Callable[[str], set[str]]
    put_texts: Callable[[str, dict[str, str]], None]
    faces_read: Callable[[str], set[str]]
    put_faces: Callable[[str, dict], None]

    def _seen_rows(self, query: str, params: list) -> list[tuple]:
        """Rows of a read from any thread (`?` marks): reader threads ask `KnownContents`."""
        raise NotImplementedError

    def analysed(self, kind: str, model: str) -> KnownContents:
        if kind not in _SEEN:
            raise ValueError(f"no store for the analysis {kind!r}")
        table, key, column = _SEEN[kind]

        def among(keys: list[str]) -> set[str]:
            found: set[str] = set()
            for i in range(0, len(keys), 400):
                chunk = keys[i:i + 400]
                found |= {k for (k,) in self._seen_rows(
                    f"SELECT {key} FROM {table} WHERE {column} = ? AND {key} IN ({', '.join('?' * len(chunk))})",
                    [model, *chunk])}
            return found
        return KnownContents(among, lambda: self._store(kind)[0](model))

    def put_analysed(self, kind: str, model: str, results: dict[str, Any]) -> None:
        self._store(kind)[1](model, results)

    def _store(self, kind: str) -> tuple[Callable[[str], set[str]], Callable[[str, dict], None]]:
        stores = {"texts": (self.texts_read, self.put_texts), "faces": (self.faces_read, self.put_faces)}
        if kind not in stores:
            raise ValueError(f"no store for the analysis {kind!r}")
        return stores[kind]
