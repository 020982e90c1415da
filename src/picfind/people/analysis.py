"""Face finding as an analysis (`picfind.analysis`): the faces in each picture and kept video
frame, stored per content and face model in the catalog's face store (an empty list for a picture
searched and found to hold none)."""

from __future__ import annotations

import numpy as np

from picfind.people.faces import Face
from picfind.people.finder import FaceFinder
from picfind.people.settings import DEFAULT_FACES

# Decode at least this big on the short side for faces: the detector runs at `DETECT_SIDE` on the
# long side, and the descriptor is sharper on the picture as decoded.
FACES_MIN_SIDE = 600  # JPEGs decode by DCT scaling: 12 MP at 1/4 (1000 x 750), 2 MP at 1/2 (816 x 612)


class FaceAnalysis:
    kind = "faces"
    min_side = FACES_MIN_SIDE

    def __init__(self, model: str = DEFAULT_FACES) -> None:
        if model != DEFAULT_FACES:
            raise ValueError(f"no face model {model!r}: this picfind knows {DEFAULT_FACES}")
        self.model = model
        self.finder = FaceFinder()

    def analyse(self, rgb: np.ndarray) -> list[Face]:
        return self.finder.find(rgb)

    def empty(self) -> list[Face]:
        return []

    def found(self, result: list[Face]) -> int:
        return len(result)
