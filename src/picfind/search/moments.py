"""A video's moments as examples and thumbnails: which kept frame holds a second, the vector of a
moment (or of the whole video), the video a typed name means ("clip.mp4@1:23"), and a Live
Photo's motion as the page plays it (`open_motion`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from picfind.media.formats import LIVE_MOTION, is_video, live_motion
from picfind.media.safefile import open_indexed
from picfind.media.timecode import parse_time, time_label
from picfind.records import frame_span

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend

MOTION_MAX_BYTES = 1 << 30  # a motion lasts 4 s at most: a larger file is no Live Photo's


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
        mean = np.mean(list(catalog.vectors_of(model, keys).values()), axis=0)
        return (mean / np.linalg.norm(mean)).astype(np.float32)
    second = parse_time(str(at))
    end = frame_span(keys[-1])
    if end is not None and second > end[1] + 1:  # the last kept frame stands for the video's end
        raise ValueError(f"{time_label(second)} is past the end of the video ({time_label(end[1])} long): "
                         "pick a moment within it")
    return catalog.vector_of(model, frame_at(keys, second) or keys[-1])


def video_file(text: str, at: str | float | None = None) -> tuple[str, str | float | None] | None:
    """The video file a typed name means, and the moment: "clip.mp4" (with `at`), "clip.mp4@1:23";
    None when it names no video file."""
    name = os.path.expanduser(text)
    if not os.path.exists(name) and "@" in name and at is None:
        name, _, at = name.rpartition("@")
    return (name, at) if is_video(name) and os.path.isfile(name) else None


def open_motion(catalog: CatalogBackend, file_id: int) -> tuple[BinaryIO, str] | None:
    """A Live Photo's motion, opened, and its path: only the motion file indexed beside this
    indexed still (recorded as `LIVE_MOTION`), inside a root, its size and time unchanged since
    (it has no content hash to fall back on: a changed one is read again by the next index)."""
    still = catalog.file_by_id(file_id)
    if still is None or still.get("duration") is not None:
        return None
    motion = live_motion(still["path"])
    roots = catalog.roots()
    inner = sorted(roots, key=lambda r: len(r.path), reverse=True)  # a file belongs to the innermost root
    root = next((r for r in inner if still["path"].startswith(r.path.rstrip(os.sep) + os.sep)), None)
    rec = catalog.files_of_root(root.id, [motion]).get(motion) if motion and root else None
    if rec is None or rec.status != "skipped" or rec.reason != LIVE_MOTION:
        return None
    # no content hash: a size or time changed since is "not the file indexed" (never hashed)
    f = open_indexed(motion, [r.path for r in roots], rec.size, rec.mtime_ns, "", str, MOTION_MAX_BYTES,
                     lambda _: "changed")
    return (f, motion) if f is not None else None
