"""HEIC/HEIF through a decode-only libheif, and the thumbnail a phone stores in the file.

picfind reads HEIC with `pi-heif` (libheif and libde265, LGPL): unlike `pillow-heif`, its wheels
carry no HEVC encoder (x265 is GPL), which picfind never needs. Where only pillow-heif is
installed, it serves the same way.

A still whose colour box says PQ or HLG (HDR HEIF from Canon, Sony, Nikon; HDR AVIF) is
tone-mapped (`hdr_picture`) rather than cut to 8 bits as it is.

Phones store a small HEVC thumbnail beside the 12 MP picture; decoding it instead is many times
faster (benchmarks/heic.py). pi-heif has no call for thumbnails, so `thumbnail` finds them in the
file's boxes and hands libheif a copy whose primary item is the thumbnail: two same-sized edits
(the `pitm` item number, and the `thmb` reference renamed so the thumbnail stands on its own).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np
from PIL import Image

from picfind.media.tone import hdr_transfer, tone_map

try:
    import pi_heif as heif_lib
except ImportError:  # an install with pillow-heif only
    try:
        import pillow_heif as heif_lib
    except ImportError:  # neither: HEIC files are skipped, naming pi-heif (media/decode.py)
        heif_lib = None

if heif_lib is not None:
    heif_lib.register_heif_opener()


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, start of its content, its end) of each box between `start` and `end`."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        head = 8
        if size == 1:
            size, head = struct.unpack_from(">Q", data, at + 8)[0], 16
        elif size == 0:
            size = end - at
        if size < head or at + size > end:
            return
        yield kind, at + head, at + size
        at += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(data, start, end) if k == kind), None)


_ASCII = bytes(b if b < 0x80 else 0x3F for b in range(256))  # any byte past ASCII becomes "?"


def sanitized(data: bytes) -> bytes:
    """A HEIF file whose header strings that pi-heif turns into Python strings hold only ASCII.
    pi-heif 1.4 makes each with PyUnicode_FromString and does not check the result: a metadata
    item whose type or MIME type is not UTF-8 crashes the process (a segfault, not an exception),
    and such an auxiliary image type loses the whole picture. A damaged or crafted file may carry
    either. Other files come back as they are."""
    if data[4:8] != b"ftyp":
        return data
    try:
        spans = [(s, e) for s, e in _header_strings(data) if not data[s:e].isascii()]
    except (struct.error, IndexError):
        return data
    if not spans:
        return data
    out = bytearray(data)
    for s, e in spans:
        out[s:e] = data[s:e].translate(_ASCII)
    return bytes(out)


def _header_strings(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of what pi-heif reads as text: each item info (`infe`) past its item number
    and protection index (its type, name, MIME type and encoding, in every version libheif
    reads), and each auxiliary image's type (`auxC`, up to its NUL: binary subtype bytes follow)."""
    meta = _child(data, 0, len(data), b"meta")
    if meta is None:
        return
    start, end = meta[0] + 4, meta[1]  # a full box: version and flags first
    iinf = _child(data, start, end, b"iinf")
    if iinf is not None:
        first = iinf[0] + 4 + (2 if data[iinf[0]] == 0 else 4)  # a full box, then the entry count
        for kind, s, e in _boxes(data, first, iinf[1]):
            if kind == b"infe" and data[s] <= 3:
                yield s + 4 + (4 if data[s] == 3 else 2) + 2, e
    iprp = _child(data, start, end, b"iprp")
    ipco = iprp and _child(data, *iprp, b"ipco")
    for kind, s, e in _boxes(data, *ipco) if ipco else ():
        if kind == b"auxC":
            nul = data.find(b"\x00", s + 4, e)
            yield s + 4, nul if nul >= 0 else e


def _sizes(data: bytes, iprp: tuple[int, int]) -> dict[int, tuple[int, int]]:
    """Item number -> (width, height), from the `ispe` properties the items are associated with."""
    ipco, ipma = _child(data, *iprp, b"ipco"), _child(data, *iprp, b"ipma")
    if ipco is None or ipma is None:
        return {}
    props = [(k, s) for k, s, _ in _boxes(data, *ipco)]
    version, flags = data[ipma[0]], int.from_bytes(data[ipma[0] + 1:ipma[0] + 4], "big")
    at, out = ipma[0] + 8, {}
    for _ in range(struct.unpack_from(">I", data, ipma[0] + 4)[0]):
        item, at = (struct.unpack_from(">H", data, at)[0], at + 2) if version < 1 else \
            (struct.unpack_from(">I", data, at)[0], at + 4)
        count, at = data[at], at + 1
        for _ in range(count):
            index, at = ((struct.unpack_from(">H", data, at)[0] & 0x7FFF, at + 2) if flags & 1
                         else (data[at] & 0x7F, at + 1))
            if 0 < index <= len(props) and props[index - 1][0] == b"ispe":
                out[item] = struct.unpack_from(">II", data, props[index - 1][1] + 4)
    return out


def _with_primary(data: bytes, min_side: int, primary: tuple[int, int],
                  max_pixels: int) -> tuple[bytes, tuple[int, int]] | None:
    """The file made to show its smallest thumbnail whose shorter side is >= `min_side`, and that
    size. Only a real thumbnail, judged before it is decoded: no larger than the primary picture
    (a 1,500 px "thumbnail" of a 64 px picture is another picture) and within the pixel cap."""
    meta = _child(data, 0, len(data), b"meta")
    if meta is None:
        return None
    start, end = meta[0] + 4, meta[1]  # a full box: version and flags first
    pitm, iref, iprp = (_child(data, start, end, k) for k in (b"pitm", b"iref", b"iprp"))
    if pitm is None or iref is None or iprp is None:
        return None
    wide = data[pitm[0]] != 0
    primary_id = struct.unpack_from(">I" if wide else ">H", data, pitm[0] + 4)[0]
    ref_wide = data[iref[0]] != 0
    id_fmt, id_len = (">I", 4) if ref_wide else (">H", 2)
    sizes = _sizes(data, iprp)
    best = None
    for kind, s, _ in _boxes(data, iref[0] + 4, iref[1]):
        if kind != b"thmb":
            continue
        thumb = struct.unpack_from(id_fmt, data, s)[0]
        count = struct.unpack_from(">H", data, s + id_len)[0]
        targets = [struct.unpack_from(id_fmt, data, s + id_len + 2 + i * id_len)[0] for i in range(count)]
        size = sizes.get(thumb)
        if not size or max(size) > max(primary) or min(size) > min(primary) or size[0] * size[1] > max_pixels:
            continue
        if primary_id in targets and min(size) >= min_side and (best is None or min(size) < min(best[2])):
            best = (thumb, s - 4, size)  # s - 4: where the reference box's type is
    if best is None or (not wide and best[0] > 0xFFFF):
        return None
    out = bytearray(data)
    struct.pack_into(">I" if wide else ">H", out, pitm[0] + 4, best[0])
    out[best[1]:best[1] + 4] = b"free"  # the reference gone: the thumbnail is an image of its own
    return bytes(out), best[2]


def thumbnail(data: bytes, min_side: int, primary: tuple[int, int], max_pixels: int) -> Image.Image | None:
    """The smallest thumbnail stored in a HEIC file whose shorter side is >= `min_side`, decoded;
    None when there is none (or the file's boxes are not as expected: the full picture is read)."""
    if heif_lib is None:
        return None
    try:
        found = _with_primary(data, min_side, primary, max_pixels)
    except (struct.error, IndexError):
        return None
    if found is None:
        return None
    try:
        image = next(i for i in heif_lib.open_heif(found[0]) if i.info.get("primary")).to_pillow()
    except Exception:  # noqa: BLE001 - a thumbnail libheif cannot read: the full picture is
        return None
    return image if min(image.size) >= min_side else None


def nclx_transfer(data: bytes) -> int | None:
    """The transfer characteristics (ITU-T H.273: 16 PQ, 18 HLG) of a HEIF or AVIF file's first
    `colr` box of type `nclx`, or None."""
    try:
        meta = _child(data, 0, len(data), b"meta")
        iprp = meta and _child(data, meta[0] + 4, meta[1], b"iprp")
        ipco = iprp and _child(data, *iprp, b"ipco")
        if not ipco:
            return None
        for kind, start, _ in _boxes(data, *ipco):
            if kind == b"colr" and data[start:start + 4] == b"nclx":
                return struct.unpack_from(">H", data, start + 6)[0]
    except (struct.error, IndexError):
        return None
    return None


def hdr_picture(data: bytes, img: Image.Image, fmt: str) -> Image.Image | None:
    """The picture tone-mapped to 8 bits when its colour box says PQ or HLG, else None. HEIF is
    decoded at its full depth; Pillow gives AVIF in 8 bits, which are mapped as they are."""
    transfer = hdr_transfer(nclx_transfer(data))
    if transfer is None:
        return None
    if fmt == "HEIF" and heif_lib is not None:
        primary = next(i for i in heif_lib.open_heif(data, convert_hdr_to_8bit=False) if i.info.get("primary"))
        pixels = np.asarray(primary)
    else:
        img.load()
        pixels = np.asarray(img.convert("RGBA" if "A" in img.mode else "RGB"))
    top = 65535.0 if pixels.dtype == np.uint16 else 255.0
    return Image.fromarray(tone_map(pixels[..., :3].astype(np.float32) / top, transfer))
