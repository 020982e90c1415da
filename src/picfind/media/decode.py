"""Turning file bytes into a small RGB picture, or a clear reason why not.

JPEGs are decoded at reduced size (DCT scaling via `Image.draft`) when the model input is much
smaller than the photo; EXIF orientation is applied to the small image, not the full one.
Camera RAW goes to media/raw.py; the records, EXIF reading and pixel modes are media/picture.py's.
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, UnidentifiedImageError

from picfind.media import heif, picture
from picfind.media.formats import NO_HEIC_SUPPORT, NO_JXL_SUPPORT
from picfind.media.picture import (  # noqa: F401 - the names the other layers import from here
    DEFAULT_MAX_PIXELS,
    FORMATS,
    Decoded,
    Meta,
    SkipFile,
    check_pixels,
    exif_of,
    gps_position,
    meta_of,
    missing_decoder,
    orient,
    orientation_of,
    to_rgb,
)


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
    raise _skip_for(first, data) from None


# HEIF's brands (an ftyp box's first); an AVIF's, which Pillow reads, are not among them
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")
JXL_SIGNATURES = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")  # a bare codestream, a container


def _skip_for(error: BaseException, data: bytes) -> SkipFile:
    """A decoder's exception as the file's skip reason."""
    missing = _without_decoder(data)
    if missing is not None:
        return missing
    if isinstance(error, UnidentifiedImageError):
        return SkipFile("not an image", "no known image format in its bytes")
    if isinstance(error, MemoryError):
        return SkipFile("too many pixels", "not enough memory to decode")
    detail = str(error).splitlines()[0][:200] if str(error).strip() else ""
    return SkipFile("truncated or corrupt", f"{type(error).__name__}: {detail}" if detail else type(error).__name__)


def _without_decoder(data: bytes) -> SkipFile | None:
    """The skip of a file that failed to decode for want of its decoder: a HEIC or a JPEG XL, which
    Pillow cannot tell from no picture at all, or a RAW (one that is TIFF inside went to Pillow)."""
    from picfind.media import raw

    if not raw.supported() and raw.is_raw(data):
        return raw.unsupported()
    if heif.heif_lib is None and data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return missing_decoder(NO_HEIC_SUPPORT, "pi-heif (libheif), which reads HEIC and HEIF,")
    if picture.pylibjxl is None and data.startswith(JXL_SIGNATURES):
        return missing_decoder(NO_JXL_SUPPORT, "pylibjxl (libjxl), which reads JPEG XL,")
    return None


def _decode(data: bytes, min_side: int, max_pixels: int) -> Decoded:
    from picfind.media import raw  # here: raw imports this module (and rawpy only when a file needs it)

    if raw.is_raw(data) and (decoded := raw.decode_raw(data, min_side, max_pixels)) is not None:
        return decoded
    data = heif.sanitized(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = Image.open(io.BytesIO(data), formats=FORMATS)
        fmt = img.format or "?"
        w, h = img.size
        check_pixels(w, h, max_pixels)
        if fmt == "JXL":
            img.load()  # its EXIF comes with the pixels
        exif = exif_of(img)
        orientation = _stored_orientation(fmt, exif)
        meta = meta_of(w, h, exif, orientation)
        if fmt == "JPEG" and min(w, h) >= 2 * min_side:
            scale = min_side / min(w, h)
            img.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
        hdr = heif.hdr_picture(data, img, fmt) if fmt in ("HEIF", "AVIF") else None
        if hdr is not None:  # PQ or HLG: tone-mapped, not cut to 8 bits
            return Decoded(image=orient(hdr, orientation), meta=meta, format=fmt)
        small = heif.thumbnail(data, min_side // 2, (w, h), max_pixels) if fmt == "HEIF" else None
        if small is not None:
            img = small
        img.seek(0)
        img.load()
        rgb = to_rgb(img)
    return Decoded(image=orient(rgb, orientation), meta=meta, format=fmt)


def _stored_orientation(fmt: str | None, exif: Image.Exif) -> int:
    """The turn still to apply: a JPEG XL's decoder has applied its own (the codestream's, which
    the spec puts above a copy left in its EXIF)."""
    return 1 if fmt == "JXL" else orientation_of(exif)


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


def probe(data: bytes) -> Meta:
    """Size, capture time and camera from the header alone; SkipFile when that cannot be read."""
    from picfind.media import raw

    try:
        if raw.is_raw(data) and (meta := raw.probe_raw(data)) is not None:
            return meta
        data = heif.sanitized(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=FORMATS) as img:
                if img.format == "JXL":
                    img.load()  # its EXIF comes with the pixels
                exif = exif_of(img)
                return meta_of(*img.size, exif, _stored_orientation(img.format, exif))
    except SkipFile:
        raise
    except Exception as e:  # noqa: BLE001 - one odd file is a skip, never an error
        raise _skip_for(e, data) from None
