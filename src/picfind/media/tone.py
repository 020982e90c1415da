"""HDR to ordinary 8-bit colours, for video frames and still pictures alike, and a video frame
as a small RGB picture (swscale scales it; 10-bit and HDR frames go through 16 bits).

PQ (SMPTE ST 2084) and HLG (ARIB STD-B67) code values are made linear, compressed (Reinhard, with
203 nits as paper white shown at 3/4 of the range) and gamma-encoded again. Converting them
straight to 8 bits instead leaves them washed out and dark.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

# HDR transfer functions by their ITU-T H.273 code (PyAV 18 gives `frame.color_trc` as this number,
# FFmpeg's AVCOL_TRC_*), and by name (older PyAV gave the name)
_HDR: dict[int | str, str] = {16: "pq", 18: "hlg", "smpte2084": "pq", "arib-std-b67": "hlg"}


def hdr_transfer(trc: object) -> str | None:
    """"pq", "hlg" or None for a frame's `color_trc`: a number (PyAV 18, an int or its IntEnum),
    or a name such as "arib-std-b67" / "ColorTrc.ARIB_STD_B67" (older PyAV)."""
    if isinstance(trc, int):
        return _HDR.get(int(trc))
    return _HDR.get(str(trc).lower().replace("_", "-").split(".")[-1]) if trc else None


def tone_map(rgb: np.ndarray, transfer: str | None) -> np.ndarray:
    """16-bit RGB in 0..1 -> 8-bit. PQ and HLG are made linear, compressed (Reinhard, 203 nits as
    paper white, shown at 3/4) and gamma-encoded again; other 10-bit video is simply rounded."""
    if transfer == "pq":
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        p = np.power(np.clip(rgb, 0, 1), 1 / m2)
        nits = 10000 * np.power(np.maximum(p - c1, 0) / (c2 - c3 * p), 1 / m1)
        lin = nits / 203.0
    elif transfer == "hlg":
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        lin = np.where(rgb <= 0.5, rgb * rgb / 3, (np.exp((rgb - c) / a) + b) / 12) * 12 / 3.0
    else:
        return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
    mapped = 1.5 * lin / (1 + lin)  # paper white to 3/4 of the range, highlights rolled off above it
    return np.clip(np.power(np.clip(mapped, 0, 1), 1 / 2.2) * 255 + 0.5, 0, 255).astype(np.uint8)


def frame_image(frame: Any, side: int) -> Image.Image:
    """A video frame (PyAV's) scaled by swscale so its shorter side is about `side`, before
    rotation, RGB; PQ and HLG tone-mapped, other 10- and 12-bit video rounded."""
    w, h = frame.width, frame.height
    scale = min(1.0, side / min(w, h))
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    hdr = hdr_transfer(frame.color_trc)
    if hdr is None and "10" not in frame.format.name and "12" not in frame.format.name:
        return frame.to_image(width=size[0], height=size[1])
    rgb = frame.reformat(width=size[0], height=size[1], format="rgb48le").to_ndarray()
    return Image.fromarray(tone_map(rgb.astype(np.float32) / 65535.0, hdr))
