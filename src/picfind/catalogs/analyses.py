"""Where each analysis kind's results live (`picfind.analysis`), the same in every backend: the
text store ("texts", `sqlite/text.py`, `postgres/text.py`) and the face store ("faces",
`sqlite/faces.py`, `postgres/faces.py`). A new kind of per-content data adds its store here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class AnalysisStores:
    """Mixed into each catalog after its stores, whose methods it routes by kind."""

    texts_read: Callable[[str], set[str]]
    put_texts: Callable[[str, dict[str, str]], None]
    faces_read: Callable[[str], set[str]]
    put_faces: Callable[[str, dict], None]

    def analysed(self, kind: str, model: str) -> set[str]:
        return self._store(kind)[0](model)

    def put_analysed(self, kind: str, model: str, results: dict[str, Any]) -> None:
        self._store(kind)[1](model, results)

    def _store(self, kind: str) -> tuple[Callable[[str], set[str]], Callable[[str, dict], None]]:
        stores = {"texts": (self.texts_read, self.put_texts), "faces": (self.faces_read, self.put_faces)}
        if kind not in stores:
            raise ValueError(f"no store for the analysis {kind!r}")
        return stores[kind]
