"""Turning file bytes into a small RGB picture, or a clear reason why not.

JPEGs are decoded at reduced size (DCT scaling via `Image.draft`) when the model input is much
smaller than the photo; EXIF orientation is applied to the small image, not the full one.
Every pixel mode ends as RGB: transparency is composited onto white (what most viewers show),
16-bit and float greys are scaled, CMYK and palettes converted.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

try:  # HEIC/HEIF (phone photos) when pillow-heif is installed
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - optional
    pillow_heif = None

ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = None  # picfind checks its own, configurable cap before decoding
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: bigger is a decompression bomb or a scan we skip
BACKGROUND = (255, 255, 255)
# The decoders picfind opens, whatever a file is named: photo formats only. Pillow would otherwise
# sniff any of its ~40 formats, EPS among them, which runs Ghostscript on the file's bytes.
Image.init()
FORMATS = tuple(f for f in ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF") if f in Image.OPEN)


class SkipFile(Exception):
    """A file picfind will not index. `reason` is a short category, the message the detail."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Meta:
    """What the header says: size after EXIF orientation, capture time, camera and GPS position."""
    width: int
    height: int
    taken_at: str | None = None  # local wall-clock time, "YYYY-MM-DD HH:MM:SS", as cameras record it
    camera: str | None = None
    lat: float | None = None  # degrees north (WGS 84), from the GPS IFD
    lon: float | None = None  # degrees east


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # RGB, oriented, shorter side >= the requested size where the source allows
    meta: Meta  # of the original
    format: str


def decode(data: bytes, min_side: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode an image file's bytes; `min_side` is the smallest shorter side worth keeping."""
    if not data:
        raise SkipFile("empty file", "zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data), formats=FORMATS)
            fmt = img.format or "?"
            w, h = img.size
            if w * h > max_pixels:
                raise SkipFile("too many pixels",
                               f"{w}x{h} = {w * h / 1e6:.0f} MP is over the cap of {max_pixels / 1e6:.0f} MP "
                               "(raise it with --max-megapixels)")
            exif = img.getexif()
            orientation = exif.get(0x0112, 1)
            meta = _meta(w, h, exif)
            if fmt == "JPEG" and min(w, h) >= 2 * min_side:
                scale = min_side / min(w, h)
                img.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
            small = _heif_preview(data, min_side // 2) if fmt in ("HEIF", "AVIF") else None
            if small is not None:
                img = small
            img.seek(0)
            img.load()
            rgb = to_rgb(img)
    except SkipFile:
        raise
    except UnidentifiedImageError:
        raise SkipFile("not an image", "no known image format in its bytes") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise SkipFile("truncated or corrupt", str(e) or type(e).__name__) from None
    except MemoryError:
        raise SkipFile("too many pixels", "not enough memory to decode") from None
    return Decoded(image=_orient(rgb, orientation), meta=meta, format=fmt)


def _meta(w: int, h: int, exif: Image.Exif) -> Meta:
    if exif.get(0x0112, 1) in (5, 6, 7, 8):
        w, h = h, w
    try:
        sub = exif.get_ifd(0x8769)  # the Exif IFD holds the capture time
    except Exception:  # noqa: BLE001 - a broken EXIF block must not cost the picture
        sub = {}
    when = _exif_time(sub.get(0x9003)) or _exif_time(sub.get(0x9004)) or _exif_time(exif.get(0x0132))
    make, model = (str(exif.get(t, "")).strip("\x00 ") for t in (0x010F, 0x0110))
    camera = model if make and model.lower().startswith(make.lower().split()[0]) else f"{make} {model}".strip()
    lat, lon = gps_position(exif)
    return Meta(w, h, when, camera or None, lat, lon)


def gps_position(exif: Image.Exif) -> tuple[float | None, float | None]:
    """(lat, lon) in degrees from the GPS IFD, or (None, None) when it is missing or makes no
    sense: a GPS block is written by many odd tools, and a bad one must never cost the picture."""
    try:
        gps = exif.get_ifd(0x8825)
        lat = _degrees(gps.get(2), gps.get(1), "NS")
        lon = _degrees(gps.get(4), gps.get(3), "EW")
    except Exception:  # noqa: BLE001 - whatever a broken block raises, the position is just unknown
        return None, None
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat == lon == 0:
        return None, None  # (0, 0) is what receivers without a fix write, not a place in the sea
    return round(lat, 7), round(lon, 7)


def _degrees(value: object, ref: object, letters: str) -> float | None:
    """EXIF degrees, minutes, seconds (rationals) and a hemisphere letter -> signed degrees."""
    if isinstance(value, (int, float)) or hasattr(value, "numerator"):
        parts = [value]
    elif isinstance(value, (tuple, list)) and 1 <= len(value) <= 3:
        parts = list(value)
    else:
        return None
    total = sum(float(p) / 60**i for i, p in enumerate(parts))
    if not math.isfinite(total) or any(not math.isfinite(float(p)) or float(p) < 0 for p in parts):
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    ref = str(ref or letters[0]).strip("\x00 ").upper()[:1] or letters[0]
    if ref not in letters:
        return None
    return -total if ref == letters[1] else total


def _exif_time(value: object) -> str | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" -> "YYYY-MM-DD HH:MM:SS"; None for blanks and nonsense."""
    text = str(value or "").strip("\x00 ")
    if len(text) < 19 or text.startswith("0000"):
        return None
    try:
        return datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S").strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _heif_preview(data: bytes, min_side: int) -> Image.Image | None:
    """The smallest thumbnail stored in a HEIC file whose shorter side is >= `min_side`.

    Phones store one; decoding it instead of the 12 MP picture is several times faster
    (benchmarks/heic.py measures the speed and what it changes in the embedding)."""
    if pillow_heif is None:
        return None
    heif = pillow_heif.open_heif(data)[0]  # the primary image
    best = None
    for i in range(len(heif.info.get("thumbnails", []))):
        thumb = heif.get_thumbnail(i)
        if min(thumb.size) >= min_side and (best is None or min(thumb.size) < min(best.size)):
            best = thumb
    return best.to_pillow() if best is not None else None


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orient(img: Image.Image, orientation: int) -> Image.Image:
    op = _TRANSPOSE.get(orientation)
    return img.transpose(op) if op is not None else img


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB, the way a person would expect the picture to look."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(arr.max()), 1.0)
        if mode == "F" and arr.max() <= 1.0:
            top = 1.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("RGBa", "La"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if mode in ("L", "1") and "transparency" in img.info:
        return to_rgb(img.convert("RGBA"))
    return img.convert("RGB")


def probe(data: bytes) -> Meta:
    """Size, capture time and camera from the header alone."""
    with Image.open(io.BytesIO(data), formats=FORMATS) as img:
        return _meta(*img.size, img.getexif())
