"""The analyses an index run may do (`picfind.analysis`), made by kind and model: the local
runner gets them from the library, a Ray actor makes its own from the same (kind, model) pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from picfind.analysis import Analysis

KINDS = ("texts", "faces")


def make_analysis(kind: str, model: str, threads: int = 1) -> Analysis:
    """One analysis, its models loaded (OCR's and the face models' packages are imported only here)."""
    if kind == "texts":
        from picfind.ocr.analysis import TextAnalysis
        from picfind.ocr.reader import TextReader

        return TextAnalysis(TextReader(model, threads=threads))
    if kind == "faces":
        from picfind.people.analysis import FaceAnalysis

        return FaceAnalysis(model)
    raise ValueError(f"no analysis {kind!r}: known are {', '.join(KINDS)}")
