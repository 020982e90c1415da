"""Camera RAW files (DNG, CR2, CR3, NEF, ARW, RAF, ORF, RW2, ...) through LibRaw, inside rawpy's wheels.

A RAW holds the sensor's mosaic and, nearly always, a JPEG preview the camera rendered. The preview
is used when its shorter side reaches the size asked for (`min_side`, the model's input size): it
is what the photographer saw, and taking it out costs nothing next to demosaicing. Previews often
lack an orientation of their own, so the RAW's is applied. Otherwise LibRaw demosaics at half size
(a quarter of the pixels, still far more than a model needs). The pixel cap is checked on the
RAW's size before anything is decoded.

Capture time, camera and GPS position come from the RAW's own TIFF tags where it has them (most
RAWs are TIFF inside), else from the preview's EXIF, and the time at least from LibRaw.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import replace

from PIL import Image

from picfind.media import picture
from picfind.media.formats import NO_RAW_SUPPORT
from picfind.media.picture import Decoded, Meta, SkipFile, missing_decoder
from picfind.records import when_text

try:
    import rawpy
except ImportError:  # a runtime dependency; without it RAWs are skipped, naming it (`unsupported`)
    rawpy = None

_TIFF = (b"II*\x00", b"MM\x00*")
# First bytes of the RAW formats that are not plain TIFF: ORF, RW2 (TIFF with their own magic),
# RAF, X3F, MRW, CRW (at offset 6), and CR3 (an ISO media file of brand "crx ")
_OWN_MAGIC = (b"IIRO", b"IIRS", b"MMOR", b"IIU\x00", b"FUJIFILM", b"FOVb", b"\x00MRM")
# LibRaw flip (0 none, 3 180, 5 90 anticlockwise, 6 90 clockwise, ...) as an EXIF orientation
_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}
# Fewer bits than this a pixel its header claims, and a file cannot hold its RAW: even lossy RAWs
# (Nikon's HE, Canon's C-RAW, lossy DNG) spend 2 or more
_MIN_BITS_PER_PIXEL = 1


def is_raw(data: bytes) -> bool:
    """Whether these bytes start a file LibRaw should try: a RAW signature, or any TIFF (most RAWs
    are TIFF; LibRaw itself refuses the ordinary TIFFs, which Pillow then reads)."""
    head = data[:16]
    return (head[:4] in _TIFF or head.startswith(_OWN_MAGIC) or head[6:14] == b"HEAPCCDR"
            or head[4:12] == b"ftypcrx ")


def supported() -> bool:
    """Whether camera RAWs can be read here: rawpy (LibRaw) is installed."""
    return rawpy is not None


def unsupported() -> SkipFile:
    """A RAW's skip while rawpy is missing, retried by every run."""
    return missing_decoder(NO_RAW_SUPPORT, "rawpy (LibRaw), which reads camera RAW files,")


def decode_raw(data: bytes, min_side: int, max_pixels: int) -> Decoded | None:
    """The picture of a RAW file, None when LibRaw does not take it for a RAW (an ordinary TIFF)."""
    with _opened(data) as raw:
        if raw is None:
            return None
        w, h = raw.sizes.width, raw.sizes.height
        damaged = _cut_short(raw, len(data))  # now: LibRaw forgets the sizes when it fails
        if damaged is not None and w * h > max_pixels:
            raise damaged
        picture.check_pixels(w, h, max_pixels)
        preview = _preview(raw)
        meta = _meta(raw, data, preview)  # before demosaicing: half size halves LibRaw's sizes
        if preview is not None and min(preview.size) >= min_side // 2 and preview.width * preview.height <= max_pixels:
            return Decoded(_load_preview(preview, min_side, _orientation(raw, preview)), meta, "RAW")
        if damaged is not None:  # LibRaw would read past the end, and say so on stderr ("Unexpected end of file")
            raise damaged
        try:
            image = Image.fromarray(raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8))
        except rawpy.LibRawError as e:
            raise _skip(e) from None
        if meta.taken_at is None:  # unpacked now: LibRaw's own reading of the time costs nothing more
            meta = replace(meta, taken_at=_libraw_time(raw))
        return Decoded(image, meta, "RAW")


def probe_raw(data: bytes) -> Meta | None:
    """Size, capture time, camera and position of a RAW without decoding it; None when not a RAW."""
    with _opened(data) as raw:
        return None if raw is None else _meta(raw, data, _preview(raw))


class _opened:
    """LibRaw on these bytes (None when it finds no RAW in them); its errors as the file's skip."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.raw = None

    def __enter__(self) -> rawpy.RawPy | None:
        if rawpy is None:  # a TIFF goes to Pillow, and is this skip if Pillow fails too (media/decode.py)
            if self.data[:4] in _TIFF:
                return None
            raise unsupported()
        self.raw = rawpy.RawPy()
        try:
            self.raw.open_buffer(io.BytesIO(self.data))
        except rawpy.LibRawFileUnsupportedError:
            if self.data[:4] in _TIFF:
                return None  # an ordinary TIFF: Pillow reads it
            raise SkipFile("unsupported RAW", "LibRaw does not know this camera's files "
                                              f"(LibRaw {'.'.join(map(str, rawpy.libraw_version))})") from None
        except rawpy.LibRawError as e:
            raise _skip(e) from None
        return self.raw

    def __exit__(self, *exc: object) -> None:
        if self.raw is not None:
            self.raw.close()


def _skip(error: BaseException) -> SkipFile:
    """LibRaw's error as the file's skip (a RAW too small for its pixels never gets this far)."""
    if isinstance(error, (MemoryError, rawpy.LibRawUnsufficientMemoryError, rawpy.LibRawTooBigError)):
        return SkipFile("too many pixels", "not enough memory to decode")
    detail = " ".join(str(error).replace("b'", "").replace("'", "").split())[:200]
    return SkipFile("truncated or corrupt", f"a RAW LibRaw cannot decode ({type(error).__name__}: {detail})")


def _cut_short(raw: rawpy.RawPy, size: int) -> SkipFile | None:
    """The skip of a RAW far too small for the pixels its header claims (a damaged header, a file
    cut short), where LibRaw says "too big" and the pixel cap "too many pixels": both would send
    the user looking for memory or a cap that are not the problem. Such a RAW is never demosaiced
    (only its preview used): LibRaw would read past its end and write that to the process's stderr
    itself ("unknown file: Unexpected end of file"; rawpy offers no way to stop it). None for a
    RAW of a likely size."""
    w, h = raw.sizes.raw_width, raw.sizes.raw_height
    if size * 8 >= w * h * _MIN_BITS_PER_PIXEL:
        return None
    return SkipFile("truncated or corrupt", f"its {size:,} bytes cannot hold the {w}x{h} pixels its header "
                                            "claims: the file is cut short or its header damaged")


def _preview(raw: rawpy.RawPy) -> Image.Image | None:
    """The camera's preview, opened (its header only), or None when the file has none usable."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    except rawpy.LibRawError:
        return None  # a broken preview: the RAW itself may still decode
    if thumb.format == rawpy.ThumbFormat.BITMAP:
        return Image.fromarray(thumb.data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(io.BytesIO(thumb.data), formats=picture.FORMATS)
    except Exception:  # noqa: BLE001 - a preview that is not a picture: demosaic instead
        return None


def _orientation(raw: rawpy.RawPy, preview: Image.Image) -> int:
    """The RAW's orientation when it has one (previews are stored as the sensor saw them), else the
    preview's own."""
    flip = _FLIP_TO_EXIF.get(raw.sizes.flip, 1)
    return flip if flip != 1 else picture.orientation_of(picture.exif_of(preview))


def _load_preview(preview: Image.Image, min_side: int, orientation: int) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w, h = preview.size
        if preview.format == "JPEG" and min(w, h) >= 2 * min_side:
            scale = min_side / min(w, h)
            preview.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
        try:
            preview.load()
        except Exception as e:  # noqa: BLE001 - a truncated preview is the file's skip
            raise SkipFile("truncated or corrupt", f"its preview does not decode ({type(e).__name__})") from None
        return picture.orient(picture.to_rgb(preview), orientation)


def _meta(raw: rawpy.RawPy, data: bytes, preview: Image.Image | None) -> Meta:
    """What the RAW's own tags say, completed by its preview's EXIF (LibRaw's own time is asked
    only once the RAW is unpacked: rawpy unpacks it to answer)."""
    w, h = raw.sizes.width, raw.sizes.height
    turned = _FLIP_TO_EXIF.get(raw.sizes.flip, 1)
    sources = (_tiff_exif(data), picture.exif_of(preview) if preview else None)
    found = [picture.meta_of(w, h, exif, turned) for exif in sources if exif is not None]
    if data[4:12] == b"ftypcrx ":
        found.insert(0, _cr3_meta(data, w, h, turned))
    meta = picture.meta_of(w, h, Image.Exif(), turned)
    for other in found:
        meta = replace(meta, taken_at=meta.taken_at or other.taken_at, camera=meta.camera or other.camera,
                       lat=meta.lat if meta.lat is not None else other.lat,
                       lon=meta.lon if meta.lat is not None else other.lon)
    return meta


def _tiff_exif(data: bytes) -> Image.Exif | None:
    """The tags of a RAW that is TIFF inside (ORF and RW2 only change its magic number)."""
    head = data[:4]
    if head in (b"IIRO", b"IIRS", b"IIU\x00"):
        data = b"II*\x00" + data[4:]
    elif head == b"MMOR":
        data = b"MM\x00*" + data[4:]
    elif head not in _TIFF:
        return None
    exif = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exif.load(data)
            len(exif)  # noqa: B018 - some blocks fail only when their tags are listed
    except Exception:  # noqa: BLE001 - broken tags: the other sources may tell
        return None
    return exif


def _cr3_meta(data: bytes, w: int, h: int, turned: int) -> Meta:
    """A CR3's tags: TIFF blocks in its CMT1 (IFD0: camera), CMT2 (Exif IFD: time) and CMT4 (GPS) boxes."""
    blocks = []
    for kind in (b"CMT1", b"CMT2", b"CMT4"):
        at = data.find(kind, 0, 1 << 20)
        size = int.from_bytes(data[at - 4:at], "big") if at >= 4 else 0
        blocks.append(_tiff_exif(data[at + 4:at - 4 + size]) if size > 8 else None)
    ifd0, sub, gps = (b if b is not None else Image.Exif() for b in blocks)
    return picture.meta_of(w, h, ifd0, turned, dict(sub), dict(gps))


def _libraw_time(raw: rawpy.RawPy) -> str | None:
    try:
        when = raw.other.timestamp
    except (ValueError, OverflowError, OSError, AttributeError, rawpy.LibRawError):
        return None
    return when_text(when) if when is not None and when.year > 1970 else None
