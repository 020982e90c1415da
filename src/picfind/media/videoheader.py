"""What a video's header says, read without decoding: its container's signature, where and when
it was filmed (metadata tags), the length an MP4/MOV header states, and FFmpeg's errors in words."""

from __future__ import annotations

import errno
import os
import re
import struct
from typing import BinaryIO

from picfind.records import when_text


def container_signature(head: bytes) -> bool:
    """Whether these first bytes start a video container (MP4/MOV, Matroska/WebM, AVI, ASF, MPEG-TS)."""
    return (head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip") or head.startswith(b"\x1aE\xdf\xa3")
            or head.startswith(b"RIFF") and head[8:12] == b"AVI " or head.startswith(b"0&\xb2u")
            or head[0:1] == head[188:189] == b"G" or head[4:5] == head[196:197] == b"G")  # TS, M2TS



_ISO6709 = re.compile(r"([+-]\d{1,2}(?:\.\d+)?)([+-]\d{1,3}(?:\.\d+)?)")


def position(meta: dict) -> tuple[float | None, float | None]:
    """"+45.7640+004.8357+170.000/" (ISO 6709: the `location` tag of phones' MP4 and MOV files) ->
    (lat, lon); nonsense, out of range or exactly (0, 0) (a receiver without a fix) -> no position."""
    text = meta.get("com.apple.quicktime.location.ISO6709") or meta.get("location") or meta.get("location-eng")
    m = _ISO6709.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        return None, None
    lat, lon = float(m.group(1)), float(m.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat == lon == 0:
        return None, None
    return lat, lon


def created(meta: dict) -> str | None:
    """"2024-06-01T17:03:22.000000Z" (UTC, as cameras write it) -> local "YYYY-MM-DD HH:MM:SS"."""
    from datetime import datetime

    text = meta.get("com.apple.quicktime.creationdate") or meta.get("creation_time")
    if not text or text.startswith("1970") or text.startswith("1904"):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when.tzinfo is not None:
            when = when.astimezone().replace(tzinfo=None)
    except (ValueError, OverflowError, OSError):  # nonsense, or a year the local clock cannot hold
        return None
    return when_text(when)  # four-digit years: dates compare as text


def span_text(seconds: float) -> str:
    return f"{seconds / (365.25 * 86400):,.0f} years" if seconds > 2 * 365.25 * 86400 else f"{seconds:,.0f} s"


def declared_seconds(f: BinaryIO) -> float | None:
    """The length an MP4/MOV header's `mvhd` box states, in seconds (FFmpeg reads a length of all
    ones as unknown, which at one tick a second is also 136 years); None when there is none."""
    try:
        return _mvhd_seconds(f)
    except (OSError, ValueError, struct.error):
        return None


def _mvhd_seconds(f: BinaryIO) -> float | None:
    f.seek(0, os.SEEK_END)
    end, pos = f.tell(), 0
    for _ in range(64):  # top-level boxes (a file that is no MP4 leaves at its first "box")
        f.seek(pos)
        head = f.read(16)
        if len(head) < 8:
            return None
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1 and len(head) == 16:
            size, header = struct.unpack(">Q", head[8:])[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return None
        if kind == b"moov":
            f.seek(pos + header)
            box = f.read(min(size - header, 1 << 16))
            i = box.find(b"mvhd")
            if i < 0 or len(box) < i + 36:
                return None
            if box[i + 4] == 1:
                scale, length = struct.unpack(">IQ", box[i + 24:i + 36])
            else:
                scale, length = struct.unpack(">II", box[i + 16:i + 24])
            return length / scale if scale else None
        pos += size
    return None



def ffmpeg_words(e: Exception) -> str:
    """What FFmpeg said, without PyAV's OS-error dress: its generic failure (-1) is EPERM, which
    read as "[Errno 1] Operation not permitted" for a damaged box, as if a permission were missing."""
    code = getattr(e, "errno", None)
    if code == errno.EPERM:
        return "FFmpeg cannot read it (a damaged box in its header?); was it copied whole?"
    words = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return f"FFmpeg cannot read it ({words}); was it copied whole?"
