"""HDR code values for the tests' own HDR files (videos, HEIC, AVIF)."""

from __future__ import annotations

import numpy as np


def hdr_signal(picture: np.ndarray, transfer: str) -> np.ndarray:
    """The HLG or PQ code values (16-bit) a camera would record for this 8-bit picture, chosen so
    that a correct tone mapping (paper white at 203 nits) gives the picture back."""
    mapped = (picture / 255.0) ** 2.2
    lin = mapped / (1.5 - mapped)  # relative to paper white
    if transfer == "hlg":
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        scene = lin / 4
        code = np.where(scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-9)) + c)
    else:
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        y = (lin * 203 / 10000) ** m1
        code = ((c1 + c2 * y) / (1 + c3 * y)) ** m2
    return (np.clip(code, 0, 1) * 65535 + 0.5).astype(np.uint16)
