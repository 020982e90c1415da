"""Thumbnails as small JPEG bytes: what the catalogs store and a cluster worker sends back."""

from __future__ import annotations

import io

from PIL import Image

SIZE = 256


def encode_thumbnail(image: Image.Image) -> bytes:
    """A small JPEG of an RGB image (bytes: a cluster worker sends these, never pixels)."""
    thumb = image.copy()
    thumb.thumbnail((SIZE, SIZE), Image.Resampling.BICUBIC, reducing_gap=2.0)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=82)
    return out.getvalue()


def is_whole(jpeg: bytes) -> bool:
    """Whether stored thumbnail bytes decode whole (a few milliseconds at 256 pixels): a broken
    one is made again, never served."""
    try:
        with Image.open(io.BytesIO(jpeg)) as img:
            img.load()
        return True
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
