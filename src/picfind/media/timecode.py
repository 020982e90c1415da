"""Times in a video as people write them (1:23) and as picfind shows them."""

from __future__ import annotations

import math


def time_label(seconds: float) -> str:
    """1:23, or 1:02:03 past an hour."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def parse_time(text: str) -> float:
    """"83", "1:23", "1:02:03", "83.5" -> seconds; ValueError for anything else, `nan`, `inf` and
    `1e400` included (float() takes them, and a moment at nan seconds matched nothing)."""
    shown = text if len(text) <= 40 else text[:37] + "..."
    usage = f"{shown!r} is not a time: write a finite number of seconds (83) or m:ss (1:23)"
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise ValueError(usage)
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(usage) from None
    if not all(math.isfinite(v) and v >= 0 for v in values) or any(v >= 60 for v in values[1:]):
        raise ValueError(usage)
    total = 0.0
    for v in values:
        total = total * 60 + v
    return total

