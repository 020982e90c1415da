"""What a browser is sent for a picture: the file's own bytes where browsers read its format,
else a JPEG made from it the way the indexer reads it.

The format is told by the file's first bytes, never its name: a HEIC saved as `.jpg` is still a
HEIC to the browser. No browser shows camera RAW or (but Safari) TIFF, and HEIC and JPEG XL only
some; for those a rendition is decoded by `decode` (turned upright, HDR tone-mapped, within the
pixel cap) and sent as a JPEG of at most `SIDE` pixels a side: plenty for a screen, a few hundred
KB, where the original is tens of MB and would need the browser's own decoder anyway.
"""

from __future__ import annotations

import io

from PIL import Image

from picfind.media.decode import HEIF_BRANDS, JXL_SIGNATURES, decode

SIDE = 2048  # a rendition's longer side at most
QUALITY = 90
HEAD = 64  # the bytes `picture_type` needs
_AVIF_BRANDS = (b"avif", b"avis")
_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF87a", "image/gif"),
               (b"GIF89a", "image/gif"), (b"BM", "image/bmp"),
               *((signature, "image/jxl") for signature in JXL_SIGNATURES))


def picture_type(head: bytes) -> str | None:
    """The MIME type of a picture that starts with these bytes, for the formats some browser
    shows (JPEG, PNG, GIF, BMP, WebP, AVIF, HEIC, JPEG XL); None for the others (TIFF, camera
    RAW): those only ever go to a browser as a rendition."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        size = int.from_bytes(head[:4], "big")
        brands = [head[at:at + 4] for at in range(8, min(size, len(head)) - 3, 4) if at != 12]  # 12: its version
        if any(b in _AVIF_BRANDS for b in brands):
            return "image/avif"
        return "image/heic" if head[8:12] in HEIF_BRANDS else None
    return next((kind for signature, kind in _SIGNATURES if head.startswith(signature)), None)


def render(data: bytes, max_pixels: int) -> bytes:
    """A picture file as a JPEG browsers show: decoded as the indexer decodes it, asked for
    `SIDE` pixels (so a HEIC's small stored thumbnail or a RAW's small preview is not used),
    scaled to at most `SIDE` a side, its colour profile kept. SkipFile when it does not decode
    (over `max_pixels`, say). No EXIF goes with it: the picture is upright already."""
    image = decode(data, SIDE, max_pixels).image
    profile = image.info.get("icc_profile")
    image.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY, icc_profile=profile)
    return out.getvalue()
