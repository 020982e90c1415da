"""Turning file bytes into a small RGB picture, or a clear reason why not.

JPEGs are decoded at reduced size (DCT scaling via `Image.draft`) when the model input is much
smaller than the photo; EXIF orientation is applied to the small image, not the full one.
Every pixel mode ends as RGB: transparency is composited onto white (what most viewers show),
16-bit and float greys are scaled, CMYK and palettes converted.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from picfind.records import when_text

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
    """Decode an image file's bytes; `min_side` is the smallest shorter side worth keeping.
    Raises SkipFile and nothing else. Metadata never costs the picture: when a file fails to
    open with its metadata, it is decoded again with its metadata segments left out."""
    if not data:
        raise SkipFile("empty file", "zero bytes")
    try:
        return _decode(data, min_side, max_pixels)
    except SkipFile:
        raise
    except Exception as e:  # noqa: BLE001 - any decoder error is this file's skip, never the run's end
        first = e
    bare = strip_metadata(data) if not isinstance(first, MemoryError) else None
    if bare is not None and len(bare) < len(data):  # only when metadata came out: else it fails the same
        try:
            return _decode(bare, min_side, max_pixels)
        except Exception:  # noqa: BLE001, S110 - the first error says more
            pass
    raise _skip_for(first) from None


def _skip_for(error: BaseException) -> SkipFile:
    """A decoder's exception as the file's skip reason."""
    if isinstance(error, UnidentifiedImageError):
        return SkipFile("not an image", "no known image format in its bytes")
    if isinstance(error, MemoryError):
        return SkipFile("too many pixels", "not enough memory to decode")
    detail = str(error).splitlines()[0][:200] if str(error).strip() else ""
    return SkipFile("truncated or corrupt", f"{type(error).__name__}: {detail}" if detail else type(error).__name__)


def _decode(data: bytes, min_side: int, max_pixels: int) -> Decoded:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = Image.open(io.BytesIO(data), formats=FORMATS)
        fmt = img.format or "?"
        w, h = img.size
        if w * h > max_pixels:
            raise SkipFile("too many pixels",
                           f"{w}x{h} = {w * h / 1e6:.0f} MP is over the cap of {max_pixels / 1e6:.0f} MP "
                           "(raise it with --max-megapixels)")
        exif = _exif_of(img)
        orientation = _orientation(exif)
        meta = _meta(w, h, exif)
        if fmt == "JPEG" and min(w, h) >= 2 * min_side:
            scale = min_side / min(w, h)
            img.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
        small = _heif_preview(data, min_side // 2, (w, h), max_pixels) if fmt in ("HEIF", "AVIF") else None
        if small is not None:
            img = small
        img.seek(0)
        img.load()
        rgb = to_rgb(img)
    return Decoded(image=_orient(rgb, orientation), meta=meta, format=fmt)


def _exif_of(img: Image.Image) -> Image.Exif:
    """The picture's EXIF (an empty one when it cannot be parsed: hex text chunks, bad IFDs...)."""
    try:
        exif = img.getexif()
        len(exif)  # noqa: B018 - some blocks fail only when their tags are listed
        return exif
    except Exception:  # noqa: BLE001 - a broken EXIF block must not cost the picture
        return Image.Exif()


def _orientation(exif: Image.Exif) -> int:
    """The EXIF orientation, 1 (as stored) unless it is one of the eight valid values."""
    try:
        value = exif.get(0x0112, 1)
        return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1
    except Exception:  # noqa: BLE001
        return 1


def _meta(w: int, h: int, exif: Image.Exif) -> Meta:
    """Size after orientation, capture time, camera and GPS position; what cannot be read is left out."""
    if _orientation(exif) in (5, 6, 7, 8):
        w, h = h, w
    try:
        return Meta(w, h, _taken(exif), _camera(exif), *gps_position(exif))
    except Exception:  # noqa: BLE001 - metadata is a nicety; the picture stays
        return Meta(w, h)


def _taken(exif: Image.Exif) -> str | None:
    try:
        sub = exif.get_ifd(0x8769)  # the Exif IFD holds the capture time
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
    text = _text(value)
    if len(text) < 19 or text.startswith("0000"):
        return None
    try:
        return when_text(datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S"))
    except ValueError:
        return None


_JPEG_DROP = {*range(0xE1, 0xEE), 0xEF, 0xFE}  # APP1-APP13, APP15, COM; APP0 (JFIF) and APP14 (Adobe) stay
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS"}


def strip_metadata(data: bytes) -> bytes | None:
    """A JPEG or PNG without its metadata segments (EXIF, XMP, ICC, text chunks), for a second try
    when they break a decoder; None for other formats or a layout this cannot walk."""
    try:
        if data[:2] == b"\xff\xd8":
            return _strip_jpeg(data)
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _strip_png(data)
    except (IndexError, ValueError, struct.error):
        return None
    return None


def _strip_jpeg(data: bytes) -> bytes | None:
    out, at = bytearray(data[:2]), 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xDA:  # start of scan: the rest is pixels
            return bytes(out + data[at:])
        length = struct.unpack(">H", data[at + 2:at + 4])[0]
        if marker not in _JPEG_DROP:
            out += data[at:at + 2 + length]
        at += 2 + length
    return None


def _strip_png(data: bytes) -> bytes | None:
    out, at = bytearray(data[:8]), 8
    while at + 8 <= len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        kind = data[at + 4:at + 8]
        if kind in _PNG_KEEP:
            out += data[at:at + 12 + length]
        if kind == b"IEND":
            return bytes(out)
        at += 12 + length
    return None


def _heif_preview(data: bytes, min_side: int, primary: tuple[int, int], max_pixels: int) -> Image.Image | None:
    """The smallest thumbnail stored in a HEIC file whose shorter side is >= `min_side`.

    Phones store one; decoding it instead of the 12 MP picture is several times faster
    (benchmarks/heic.py measures the speed and what it changes in the embedding). Only a real
    thumbnail, checked before it is decoded: no larger than the primary image (a 1,500 px
    "thumbnail" of a 64 px picture is another picture) and within the pixel cap."""
    if pillow_heif is None:
        return None
    heif = pillow_heif.open_heif(data)[0]  # the primary image
    best = None
    for i in range(len(heif.info.get("thumbnails", []))):
        thumb = heif.get_thumbnail(i)  # its size from the header; decoded only by to_pillow below
        w, h = thumb.size
        if w > primary[0] or h > primary[1] or w * h > max_pixels:
            continue
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
    """Size, capture time and camera from the header alone; SkipFile when that cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=FORMATS) as img:
                return _meta(*img.size, _exif_of(img))
    except Exception as e:  # noqa: BLE001 - one odd file is a skip, never an error
        raise _skip_for(e) from None
