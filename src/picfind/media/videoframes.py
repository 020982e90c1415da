"""A video's records while it is sampled (`VideoInfo`, `Frame`, `Sampled`) and what is done to each
frame kept: made small and upright (`keep`), within the video's limits (`check`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from picfind.media.picture import SkipFile
from picfind.media.tone import frame_image

SMALL = 336  # decode-side short edge; `upright` brings it to the size asked for


@dataclass(frozen=True)
class VideoInfo:
    """What the header says. `width`/`height` as shown (after rotation)."""
    width: int
    height: int
    duration: float
    codec: str
    rotation: int = 0  # degrees the picture is turned for display
    taken_at: str | None = None  # creation time, local wall clock "YYYY-MM-DD HH:MM:SS"
    camera: str | None = None
    lat: float | None = None  # where it was filmed (ISO 6709 `location` tag, as phones write it)
    lon: float | None = None


NO_INFO = VideoInfo(0, 0, 0.0, "")  # until the header is read


@dataclass
class Frame:
    time: float  # seconds from the start
    image: Image.Image  # RGB, upright, shorter side about the size asked for


@dataclass
class Sampled:
    info: VideoInfo
    min_side: int = 0
    convert: Callable[[Frame], Any] | None = None  # what to keep of each frame, made as it is decoded
    frames: list = field(default_factory=list)  # the frames, or what `convert` made of them, in time order
    times: list[float] = field(default_factory=list)  # their times
    greys: list[np.ndarray] = field(default_factory=list)  # their 16x16 grey copies (cuts are found by them)
    keys: list[float] = field(default_factory=list)  # the key frames' times (key frames only)
    decoded: int = 0  # frames the decoder produced (for the benchmark)
    offset: float = 0.0  # the first frame's timestamp: times are from it, as players show them

    def seconds(self, frame: Any, otherwise: float) -> float:
        """A frame's time from the start of the video (`otherwise` when it has none)."""
        known = frame.time is not None and math.isfinite(frame.time)
        return max(frame.time - self.offset if known else otherwise, 0.0)

    def clear(self) -> None:
        self.frames.clear()
        self.times.clear()
        self.greys.clear()

    def sort(self) -> None:
        """The frames in time order again, after frames were added out of order."""
        order = sorted(range(len(self.times)), key=self.times.__getitem__)
        for items in (self.frames, self.times, self.greys):
            items[:] = [items[k] for k in order]


def keep(out: Sampled, frame: Any, t: float) -> None:
    if not out.frames and frame.rotation and not out.info.rotation:
        out.info = rotated(out.info, frame.rotation)
    kept = Frame(t, upright(frame_image(frame, max(SMALL, out.min_side)), out.info.rotation, out.min_side))
    out.greys.append(np.asarray(kept.image.convert("L").resize((16, 16), Image.Resampling.BILINEAR), np.float32))
    out.frames.append(out.convert(kept) if out.convert else kept)
    out.times.append(t)


def rotated(info: VideoInfo, degrees: float) -> VideoInfo:
    """The info of a video whose display matrix turns it (FFmpeg: counter-clockwise degrees). A
    matrix that turns nothing into a picture (all zeros) has no angle: FFmpeg's NaN reaches us as
    -2**31 (which once turned the video sideways), so only a real angle turns it."""
    if not (math.isfinite(degrees) and -360 <= degrees <= 360):
        return info
    rot = int(round(-degrees)) % 360 // 90 * 90
    w, h = (info.height, info.width) if rot in (90, 270) else (info.width, info.height)
    return replace(info, width=w, height=h, rotation=rot)  # every other field, the position too


def check(deadline: float, out: Sampled, frame: Any) -> None:
    duration = out.info.duration
    if time.monotonic() > deadline:
        raise SkipFile("too slow to decode", f"gave up after {out.decoded} frames (the time limit per video)")
    if out.seconds(frame, 0.0) > duration + 60:
        raise SkipFile("no end", f"frames go on past the {duration:.0f} s its header claims")
    if out.decoded > 2_000_000:
        raise SkipFile("too many frames", f"over {out.decoded} frames")


def upright(img: Image.Image, rotation: int, min_side: int) -> Image.Image:
    op = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}.get(rotation)
    if op is not None:
        img = img.transpose(op)
    if min(img.size) > min_side:
        scale = min_side / min(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.BILINEAR)
    return img
