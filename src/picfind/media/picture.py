"""What every picture reader shares (media/decode.py, media/raw.py): the records they give, the
formats Pillow may open, EXIF metadata and orientation, and any pixel mode as RGB.

Every pixel mode ends as RGB: transparency is composited onto white (what most viewers show),
16-bit and float greys are scaled, CMYK and palettes converted.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, ImageFile

from picfind.media import heif  # noqa: F401 - registers the HEIC reader before FORMATS is made
from picfind.records import when_text

try:  # JPEG XL: libjxl through pylibjxl (BSD; the pillow-jxl-plugin is GPL)
    import pylibjxl

    pylibjxl.register_pillow(override=False)
except ImportError:  # a runtime dependency; without it JPEG XL files are skipped, naming it (media/decode.py)
    pylibjxl = None


def _quiet_libtiff() -> None:
    """libtiff, inside Pillow, writes each error and warning to the process's stderr from C
    ("OJPEGReadHeaderInfoSecTablesQTable: Missing JPEG tables." for a stripped CR2), among
    picfind's own lines and even with -q; Pillow raises the error too, which becomes the file's
    skip. Its global handlers are set to none, looked up through Pillow's own module (the dynamic
    linker searches the libraries it loaded), where Pillow has libtiff and the platform allows."""
    try:
        from PIL import _imaging

        lib = ctypes.CDLL(_imaging.__file__)
        setters = (lib.TIFFSetErrorHandler, lib.TIFFSetWarningHandler)
    except (ImportError, OSError, AttributeError):  # no libtiff in this Pillow, or no dlsym through it
        return
    for setter in setters:
        setter.argtypes, setter.restype = [ctypes.c_void_p], ctypes.c_void_p
        setter(None)


_quiet_libtiff()
ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = None  # picfind checks its own, configurable cap before decoding
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: bigger is a decompression bomb or a scan we skip
BACKGROUND = (255, 255, 255)
# The decoders picfind opens, whatever a file is named: photo formats only. Pillow would otherwise
# sniff any of its ~40 formats, EPS among them, which runs Ghostscript on the file's bytes.
Image.init()
FORMATS = tuple(f for f in ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF", "JXL")
                if f in Image.OPEN)


class SkipFile(Exception):
    """A file picfind will not index. `reason` is a short category, the message the detail."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


def missing_decoder(reason: str, decoder: str) -> SkipFile:
    """The skip of a file whose decoder is not installed: `reason` names the pip command, and every
    run tries the file again (`formats.MISSING_DECODERS`), so the first one after installing it reads it."""
    return SkipFile(reason, f"{decoder} is not installed; the next `picfind index` after installing it reads "
                            "this file")


def check_pixels(w: int, h: int, max_pixels: int) -> None:
    """The pixel cap (`--max-megapixels`), checked on the header's size before decoding."""
    if w * h > max_pixels:
        raise SkipFile("too many pixels", f"{w}x{h} = {w * h / 1e6:.0f} MP is over the cap of "
                                          f"{max_pixels / 1e6:.0f} MP (raise it with --max-megapixels)")


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


def exif_of(img: Image.Image) -> Image.Exif:
    """The picture's EXIF (an empty one when it cannot be parsed: hex text chunks, bad IFDs...)."""
    try:
        exif = img.getexif()
        len(exif)  # noqa: B018 - some blocks fail only when their tags are listed
        return exif
    except Exception:  # noqa: BLE001 - a broken EXIF block must not cost the picture
        return Image.Exif()


def orientation_of(exif: Image.Exif) -> int:
    """The EXIF orientation, 1 (as stored) unless it is one of the eight valid values."""
    try:
        value = exif.get(0x0112, 1)
        return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1
    except Exception:  # noqa: BLE001
        return 1


def meta_of(w: int, h: int, exif: Image.Exif, orientation: int | None = None,
            sub: Mapping | None = None, gps: Mapping | None = None) -> Meta:
    """Size after orientation (the EXIF one unless given), capture time, camera and GPS position;
    what cannot be read is left out. `sub`, `gps`: the Exif and GPS IFDs where a file keeps them
    apart from `exif` (a CR3's CMT2 and CMT4 boxes), else read through it."""
    if (orientation_of(exif) if orientation is None else orientation) in (5, 6, 7, 8):
        w, h = h, w
    try:
        return Meta(w, h, _taken(exif, sub), _camera(exif), *gps_position(exif, gps))
    except Exception:  # noqa: BLE001 - metadata is a nicety; the picture stays
        return Meta(w, h)


def _taken(exif: Image.Exif, sub: Mapping | None = None) -> str | None:
    try:
        sub = exif.get_ifd(0x8769) if sub is None else sub  # the Exif IFD holds the capture time
    except Exception:  # noqa: BLE001 - a broken EXIF block must not cost the picture
        sub = {}
    return _exif_time(sub.get(0x9003)) or _exif_time(sub.get(0x9004)) or _exif_time(exif.get(0x0132))


def _text(value: object) -> str:
    """An EXIF text tag as one printable line ('' for numbers, tuples and other odd types)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return ""
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())[:100]


def _camera(exif: Image.Exif) -> str | None:
    make, model = _text(exif.get(0x010F)), _text(exif.get(0x0110))
    brand = make.lower().split()[0] if make else ""
    camera = model if brand and model.lower().startswith(brand) else f"{make} {model}".strip()
    return camera or None


def gps_position(exif: Image.Exif, gps: Mapping | None = None) -> tuple[float | None, float | None]:
    """(lat, lon) in degrees from the GPS IFD (`gps`, else the one `exif` points to), or (None, None)
    when it is missing or makes no sense: a GPS block is written by many odd tools, and a bad one
    must never cost the picture."""
    try:
        gps = exif.get_ifd(0x8825) if gps is None else gps
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
    text = _text(value)
    if len(text) < 19 or text.startswith("0000"):
        return None
    try:
        return when_text(datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S"))
    except ValueError:
        return None


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def orient(img: Image.Image, orientation: int) -> Image.Image:
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
