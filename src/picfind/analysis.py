"""An analysis: per-content data beside the CLIP vector, read from the same decode.

OCR (the text in a picture, `picfind.ocr.analysis`) and faces (`picfind.people.analysis`) are the
two today. Each is one object with a kind (the catalog store its results go to), a model id
(results are kept per content and model, like vectors, so copies, moves and renames cost nothing
and a new model version reads again), the decode size it needs, and a function from a decoded
picture or kept video frame to its result. The indexer runs whichever analyses a content still
needs (`done`, asked of the catalog with `CatalogBackend.analysed`), the writer hands each
result to its store (`CatalogBackend.put_analysed`), Ray ships them the same way, and `watch`
gets it all for free. A new kind of per-content data is one more analysis and one more store.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Analysis(Protocol):
    kind: str  # "texts", "faces": the catalog store its results go to, and the report's counters' prefix
    model: str  # results are kept per (content, model): a new model reads every content again
    min_side: int  # decode the picture at least this big on its shorter side for it

    def analyse(self, rgb: np.ndarray) -> Any:
        """The result for one decoded picture or kept video frame (RGB, EXIF orientation applied).
        May raise: that content is then analysed again on the next run."""

    def empty(self) -> Any:
        """The result that says "analysed, nothing there" (a video's own content records this: its
        kept frames hold the results)."""

    def found(self, result: Any) -> int:
        """How much a result holds, for the run's report (a text: 1 or 0; faces: how many)."""


def analyse(analyses: list[Analysis], rgb: np.ndarray) -> tuple[dict[str, Any], list[str]]:
    """Each analysis's result for one decoded picture or frame, and the kinds that failed on it
    (one odd picture never stops a run: it is analysed again next time)."""
    results, failed = {}, []
    for a in analyses:
        try:
            results[a.kind] = a.analyse(rgb)
        except Exception:  # noqa: BLE001 - whatever one analysis does on one picture, that picture alone
            failed.append(a.kind)
    return results, failed
