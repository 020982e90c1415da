"""OCR as an analysis (`picfind.analysis`): the text in each picture and kept video frame, stored
per content and OCR model in the catalog's text store ('' for a picture read and found to hold
none)."""

from __future__ import annotations

import numpy as np

from picfind.ocr.reader import TextReader

# Decode for OCR at least this big on the short side (JPEG draft stays coarse): decoding at CLIP's
# size alone costs less but misses a quarter of the words 1/60 of the height tall (ocr.py --sweep).
OCR_MIN_SIDE = 1024


class TextAnalysis:
    kind = "texts"
    min_side = OCR_MIN_SIDE

    def __init__(self, reader: TextReader) -> None:
        self.reader = reader
        self.model = reader.model.name

    def analyse(self, rgb: np.ndarray) -> str:
        return self.reader.read(rgb)

    def empty(self) -> str:
        return ""

    def found(self, result: str) -> int:
        return int(bool(result))
