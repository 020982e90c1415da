"""A face as picfind keeps it: where it is in its picture, how good a view it is, its vector,
and a small crop to show it by."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

THUMB_SIDE = 112  # a face's crop, square, in pixels (about 3-5 KB as JPEG)
THUMB_MARGIN = 0.3  # of the face box's size, added around it in the crop


@dataclass
class Face:
    box: tuple[float, float, float, float]  # left, top, width, height, as fractions of the picture's size
    score: float  # the detector's confidence
    quality: float  # size and confidence together: what picks a person's cover face
    vector: np.ndarray  # 128 float32 (dlib's descriptor; same person: Euclidean distance below about 0.6)
    thumb: bytes  # JPEG, THUMB_SIDE square

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The box in pixels of a picture this size: left, top, right, bottom."""
        x, y, w, h = self.box
        return round(x * width), round(y * height), round((x + w) * width), round((y + h) * height)


def crop_thumb(rgb: np.ndarray, left: int, top: int, right: int, bottom: int) -> bytes:
    """A square JPEG crop around a face box (with a margin), clipped to the picture."""
    from PIL import Image  # here: a search that only reads faces needs no Pillow

    side = max(right - left, bottom - top) * (1 + 2 * THUMB_MARGIN)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    h, w = rgb.shape[:2]
    box = (max(0, round(cx - side / 2)), max(0, round(cy - side / 2)),
           min(w, round(cx + side / 2)), min(h, round(cy + side / 2)))
    crop = Image.fromarray(rgb).crop(box)
    crop.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=85)
    return buf.getvalue()
