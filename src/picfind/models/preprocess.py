"""Image preprocessing: the exact steps of each model family's reference image processor.

CLIP (`CLIPImageProcessor`): shorter side resized to the model size, centre crop.
SigLIP (`SiglipImageProcessor`): squashed to a square, no crop. Both: scale to [0, 1], then
the model's mean/std (CLIP's, or 0.5 for SigLIP).

The centre crop places an odd margin as the family's reference does: `CLIPImageProcessor` (and
Immich's server) floor half of it, torchvision's `CenterCrop` (behind OpenCLIP's and OpenAI's own
pipelines) rounds it half to even, so the two differ by one pixel when the margin is 3 mod 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from picfind.models.constants import CLIP_MEAN, CLIP_STD

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


@dataclass(frozen=True)
class Preprocessing:
    size: int = 224
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    resize_mode: str = "shortest"  # or "squash"
    interpolation: str = "bicubic"  # or "bilinear"
    crop: str = "floor"  # where an odd crop margin goes: "floor" (transformers) or "round" (torchvision)

    @property
    def keeps_aspect(self) -> bool:
        """Whether `resize` keeps the picture's proportions (a squashed one makes a poor thumbnail)."""
        return self.resize_mode == "shortest"

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """Output size of the resize step, rounded as the reference processor does."""
        if self.resize_mode == "squash":
            return self.size, self.size
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.size * long / short)
        return (self.size, new_long) if width <= height else (new_long, self.size)

    def pixels(self, img: Image.Image) -> np.ndarray:
        """An RGB PIL image -> float32 array (3, size, size), ready for the image encoder."""
        return self.tensor(self.resize(img))

    def resize(self, img: Image.Image) -> Image.Image:
        """The resize step alone (the indexer also makes its thumbnail from this)."""
        if img.mode != "RGB":
            raise ValueError(f"expected an RGB image, got mode {img.mode}")
        w, h = img.size
        if (w, h) != (self.size, self.size):
            img = img.resize(self.resized_size(w, h), _RESAMPLE[self.interpolation])
        return img

    def tensor(self, resized: Image.Image) -> np.ndarray:
        """Centre crop and normalise an image that `resize` returned."""
        img = centre_crop(resized, self.size, self.crop)
        arr = np.asarray(img, dtype=np.float32) * np.float32(1 / 255)
        arr = (arr - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(arr.transpose(2, 0, 1))


def crop_offset(margin: int, crop: str = "floor") -> int:
    """Pixels cut before the kept square: `margin // 2` (`CLIPImageProcessor.center_crop`), or
    torchvision's `int(round(margin / 2.0))`, Python's round half to even."""
    return int(round(margin / 2.0)) if crop == "round" else margin // 2


def centre_crop(img: Image.Image, size: int, crop: str = "floor") -> Image.Image:
    w, h = img.size
    if (w, h) == (size, size):
        return img
    left, top = crop_offset(w - size, crop), crop_offset(h - size, crop)
    return img.crop((left, top, left + size, top + size))
