"""What a video's container says of it, read from its tags: where and when it was filmed, how
the player turns it, and whether its first bytes start a video container at all."""

from __future__ import annotations

import re
from typing import Any

from picfind.records import when_text


def container_signature(head: bytes) -> bool:
    """Whether these first bytes start a video container (MP4/MOV, Matroska/WebM, AVI, ASF, MPEG-TS)."""
    return (head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip") or head.startswith(b"\x1aE\xdf\xa3")
            or head.startswith(b"RIFF") and head[8:12] == b"AVI " or head.startswith(b"0&\xb2u")
            or head[0:1] == head[188:189] == b"G" or head[4:5] == head[196:197] == b"G")  # TS, M2TS


def rotation_tag(stream: Any) -> int:
    """Clockwise degrees the player turns the picture: the display matrix, else a `rotate` tag."""
    try:
        tag = int(stream.metadata.get("rotate", "0"))
    except ValueError:
        tag = 0
    return tag % 360 // 90 * 90


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
