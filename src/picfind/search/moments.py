"""A video's moments as examples and thumbnails: which kept frame holds a second, the vector of a
moment (or of the whole video), and the video a typed name means ("clip.mp4@1:23")."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from picfind.media.formats import is_video
from picfind.media.timecode import parse_time
from picfind.records import frame_span

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend


def frame_at(keys: list[str], second: float) -> str | None:
    """The kept frame (of `keys`, in time order) that stands for this second; past the end, the last."""
    return next((k for k in keys if (span := frame_span(k)) and span[0] <= second < span[1]),
                keys[-1] if keys else None)


def moment_vector(catalog: CatalogBackend, model: str, content_hash: str, at: str | float | None) -> np.ndarray | None:
    """The stored vector of a video at a moment ("1:23", 83), or of the whole video (its moments'
    mean) without one; None when the video has no vectors with this model."""
    keys = catalog.frame_keys(model, content_hash)
    if not keys:
        return None
    if at is None:
        mean = np.mean([catalog.vector_of(model, k) for k in keys], axis=0)
        return (mean / np.linalg.norm(mean)).astype(np.float32)
    return catalog.vector_of(model, frame_at(keys, parse_time(str(at))) or keys[-1])


def video_file(text: str, at: str | float | None = None) -> tuple[str, str | float | None] | None:
    """The video file a typed name means, and the moment: "clip.mp4" (with `at`), "clip.mp4@1:23";
    None when it names no video file."""
    name = os.path.expanduser(text)
    if not os.path.exists(name) and "@" in name and at is None:
        name, _, at = name.rpartition("@")
    return (name, at) if is_video(name) and os.path.isfile(name) else None
