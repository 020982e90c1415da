"""Camera RAW files made by the tests: DNGs written by pidng from a picture (an RGGB mosaic of it,
12 bits, linear), with or without the JPEG preview a camera stores beside the mosaic."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

# XYZ -> linear sRGB: with it as the DNG's colour matrix, the "camera" sees sRGB primaries
_XYZ_TO_SRGB = (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570)


def _mosaic(rgb: np.ndarray) -> np.ndarray:
    lin = (rgb / 255.0) ** 2.2 * 4000 + 64  # black level 64, white 4095
    m = np.empty(rgb.shape[:2], np.uint16)
    m[0::2, 0::2] = lin[0::2, 0::2, 0]
    m[0::2, 1::2] = lin[0::2, 1::2, 1]
    m[1::2, 0::2] = lin[1::2, 0::2, 1]
    m[1::2, 1::2] = lin[1::2, 1::2, 2]
    return m


def dng(picture: Image.Image, orientation: int = 1, preview: Image.Image | None = None, make: str = "Acme",
        model: str = "Acme Q1", when: str = "2024:05:06 07:08:09") -> bytes:
    """A DNG of `picture` (even sides) as a camera held that way would store it (`orientation`, EXIF
    numbering: the mosaic is of the picture as given), with `preview` as its JPEG preview."""
    pidng = pytest.importorskip("pidng.core")
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation

    rgb = np.asarray(picture.convert("RGB"), np.float64)
    h, w = rgb.shape[:2]
    t, tag = pidng.DNGTags(), pidng.Tag
    for key, value in ((tag.ImageWidth, w), (tag.ImageLength, h), (tag.TileWidth, w), (tag.TileLength, h),
                       (tag.Orientation, orientation), (tag.SamplesPerPixel, 1), (tag.BitsPerSample, 12),
                       (tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
                       (tag.CFARepeatPatternDim, [2, 2]), (tag.CFAPattern, CFAPattern.RGGB),
                       (tag.BlackLevel, 64), (tag.WhiteLevel, 4095),
                       (tag.ColorMatrix1, [[round(v * 10000), 10000] for v in _XYZ_TO_SRGB]),
                       (tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
                       (tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]), (tag.Make, make), (tag.Model, model),
                       (tag.DateTime, when), (tag.DNGVersion, DNGVersion.V1_4),
                       (tag.DNGBackwardVersion, DNGVersion.V1_2)):
        t.set(key, value)
    writer = pidng.RAW2DNG()
    writer.options(t, path="", compress=False)
    data = bytes(writer.convert(_mosaic(rgb)))
    return data if preview is None else _with_preview(data, preview)


def _with_preview(data: bytes, preview: Image.Image) -> bytes:
    """The DNG with a second IFD chained after its raw one: a reduced-resolution JPEG, as cameras
    store their preview (pidng writes the raw IFD only)."""
    buf = io.BytesIO()
    preview.convert("RGB").save(buf, "JPEG", quality=85)
    jpeg = buf.getvalue()
    first = struct.unpack_from("<I", data, 4)[0]
    next_ifd_at = first + 2 + 12 * struct.unpack_from("<H", data, first)[0]
    base = len(data) + (-len(data)) % 4
    tags = [(254, 4, 1), (256, 4, preview.width), (257, 4, preview.height), (259, 3, 7), (262, 3, 6),
            (273, 4, base + 2 + 12 * 8 + 4), (277, 3, 3), (279, 4, len(jpeg))]
    ifd = struct.pack("<H", len(tags))
    for number, kind, value in tags:  # NewSubfileType 1: a reduced-resolution copy
        value = 1 if number == 254 else value
        ifd += struct.pack("<HHIHH" if kind == 3 else "<HHII", number, kind, 1, value, *((0,) if kind == 3 else ()))
    out = bytearray(data + b"\0" * (base - len(data)) + ifd + struct.pack("<I", 0) + jpeg)
    struct.pack_into("<I", out, next_ifd_at, base)
    return bytes(out)


def claiming(data: bytes, width: int, height: int) -> bytes:
    """A pidng DNG whose header claims another size (its raw IFD's width, length and tile sizes), as
    a damaged header does; its pixels stay what they were."""
    out = bytearray(data)
    first = struct.unpack_from("<I", out, 4)[0]
    for i in range(struct.unpack_from("<H", out, first)[0]):
        at = first + 2 + 12 * i
        number, kind = struct.unpack_from("<HH", out, at)
        value = {256: width, 322: width, 257: height, 323: height}.get(number)
        if value is not None:
            struct.pack_into("<H" if kind == 3 else "<I", out, at + 8, value)
    return bytes(out)


def stripped_cr2() -> bytes:
    """A CR2 stripped of its raw data, as ExifTool's samples are: what is left is a TIFF whose one
    picture is old-style JPEG (compression 6) without its tables, which LibRaw refuses and libtiff
    (inside Pillow) cannot decode."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buf, "TIFF")
    out = bytearray(buf.getvalue())
    first = struct.unpack_from("<I", out, 4)[0]
    for i in range(struct.unpack_from("<H", out, first)[0]):
        at = first + 2 + 12 * i
        if struct.unpack_from("<H", out, at)[0] == 259:  # Compression: old-style JPEG
            struct.pack_into("<H", out, at + 8, 6)
    return bytes(out)
