"""Videos as a few frames chosen by time, decoded with PyAV (FFmpeg inside its wheel).

A video yields candidate frames, one every `every` seconds (2 s by default) up to a cap that
grows with its length (`frame_cap`), each with the time it shows. Only key frames are decoded
(`skip_frame = "NONKEY"`): phone cameras write one every second or two, so this decodes about
one frame in 30-60. A long video seeks to each sample instead of reading every packet; a video
whose key frames are too sparse (screen recordings) is decoded in full, under the same limits.
Frames are scaled by swscale to about the model's size, turned upright (display matrix), and
10-bit HDR (PQ, HLG) is tone-mapped to ordinary 8-bit colours rather than left washed out.

Every file gets bounded work: a decode time limit, a pixel cap, a frame-count cap; what fails
raises `SkipFile` with a reason `status --skipped` shows.
"""

from __future__ import annotations

import math
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from picfind.media.decode import DEFAULT_MAX_PIXELS, SkipFile
from picfind.media.videoheader import container_signature, created, declared_seconds, ffmpeg_words, position, span_text

try:
    import av
    import av.container
    import av.error
    import av.video.stream
except ImportError:  # pragma: no cover - av is a runtime dependency; a broken install still indexes photos
    av = None

EVERY = 2.0  # seconds between candidate frames
TIME_LIMIT = 60.0  # seconds of decoding one video may take
SEEK_AFTER = 300.0  # videos longer than this seek to each sample instead of reading every packet
MAX_DURATION = 24 * 3600.0  # longer is a broken header or a stream that never ends
_position, _created = position, created  # their old names
_HDR = {"smpte2084": "pq", "arib-std-b67": "hlg"}


def frame_cap(duration: float) -> int:
    """How many candidates a video of this length may give: 30, plus one per 4 s, at most 600."""
    return int(min(600, 30 + duration / 4))


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


_NO_INFO = VideoInfo(0, 0, 0.0, "")  # until the header is read


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
    decoded: int = 0  # frames the decoder produced (for the benchmark)
    offset: float = 0.0  # the first frame's timestamp: times are from it, as players show them

    def seconds(self, frame: av.VideoFrame, otherwise: float) -> float:
        """A frame's time from the start of the video (`otherwise` when it has none)."""
        known = frame.time is not None and math.isfinite(frame.time)
        return max(frame.time - self.offset if known else otherwise, 0.0)


def open_video(path: str) -> BinaryIO:
    """The file opened for reading without blocking: a FIFO named .mp4 or a device is refused
    here (`SkipFile`), before FFmpeg could wait on it forever."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise SkipFile("vanished", "deleted while picfind was indexing") from None
    except PermissionError as e:
        raise SkipFile("permission denied", e.strerror or str(e)) from None
    except OSError as e:
        raise SkipFile("unreadable", e.strerror or str(e)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SkipFile("not a regular file", "a pipe, device or socket named like a video")
    return os.fdopen(fd, "rb")


def sample(f: BinaryIO, min_side: int, every: float = EVERY, max_pixels: int = DEFAULT_MAX_PIXELS,
           time_limit: float = TIME_LIMIT, convert: Callable[[Frame], Any] | None = None) -> Sampled:
    """Candidate frames of the video in `f` (read from its start); with `convert`, what it makes of
    each frame as soon as it is decoded (the frame is not kept: memory stays small)."""
    f.seek(0)
    if not f.read(1):
        raise SkipFile("empty file", "zero bytes")
    with _container(f, time_limit) as container:
        return _sample(container, Sampled(_NO_INFO, min_side, convert), every, max_pixels,
                       time.monotonic() + time_limit)


def probe(f: BinaryIO, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """The header alone (a copy or a rename of a video already indexed needs no decoding)."""
    with _container(f, TIME_LIMIT) as container:
        stream = _video_stream(container)
        info = _info(container, stream, max_pixels)
        stream.codec_context.skip_frame = "NONKEY"  # the display matrix comes with the frames
        for frame in container.decode(stream):
            if frame.rotation and not info.rotation:
                info = _rotated(info, frame.rotation)
            break
        return info


@contextmanager
def _container(f: BinaryIO, time_limit: float) -> Iterator[av.container.InputContainer]:
    """The file opened by FFmpeg; what FFmpeg raises, as the `SkipFile` a person reads."""
    if av is None:  # pragma: no cover
        raise SkipFile("video support missing", "install PyAV: pip install av")
    f.seek(0)
    try:
        with av.open(f, mode="r", metadata_errors="ignore", timeout=time_limit) as container:
            yield container
    except _NoLength as e:
        claimed = declared_seconds(f)
        if claimed is not None and claimed > MAX_DURATION:
            raise SkipFile("no end", f"it claims to last {span_text(claimed)} (a length of all ones, "
                                     "which also means 'unknown')") from None
        raise SkipFile(e.reason, e.detail) from None
    except SkipFile:
        raise
    except av.error.InvalidDataError as e:
        f.seek(0)
        if container_signature(f.read(200)):
            raise SkipFile("truncated or corrupt", f"a video container, but FFmpeg cannot read it "
                                                   f"({e.strerror or e}); was it copied whole?") from None
        raise SkipFile("not a video", f"FFmpeg finds no known container in it ({e.strerror or e})") from None
    except av.error.ArgumentError as e:  # above all a frame over the decoder's `max_pixels` (`_info`)
        raise SkipFile("too many pixels", f"a frame is over the pixel cap, or undecodable ({e.strerror or e})") \
            from None
    except av.error.FFmpegError as e:  # FFmpeg's own codes, though PyAV raises them as OS errors
        raise SkipFile("truncated or corrupt", ffmpeg_words(e)) from None
    except (EOFError, OSError, ValueError, IndexError) as e:
        raise SkipFile("truncated or corrupt", str(e) or type(e).__name__) from None
    except MemoryError:
        raise SkipFile("too many pixels", "not enough memory to decode") from None


def _sample(container: av.container.InputContainer, out: Sampled, every: float, max_pixels: int,
            deadline: float) -> Sampled:
    stream = _video_stream(container)
    info = out.info = _info(container, stream, max_pixels)
    out.offset = _start(container, stream)
    targets = _targets(info.duration, every)
    ctx = stream.codec_context
    ctx.skip_frame = "NONKEY"
    if info.duration > SEEK_AFTER:
        _by_seeking(container, stream, targets, deadline, out)
    else:
        _linear(container, stream, targets, deadline, out)
    if len(targets) > 1 and len(out.frames) < len(targets) // 2:
        # key frames too sparse: decode every frame, under the same limits
        ctx.skip_frame = "DEFAULT"
        container.seek(0)
        out.frames.clear()
        _linear(container, stream, targets, deadline, out)
    if not out.frames:
        raise SkipFile("truncated or corrupt", "no frame could be decoded")
    return out


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kind = "audio only" if container.streams.audio else "not a video"
        raise SkipFile(kind, "no video stream in it")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.name:
        raise SkipFile("unknown codec", "FFmpeg has no decoder for its video")
    return stream


def _info(container: av.container.InputContainer, stream: av.video.stream.VideoStream, max_pixels: int) -> VideoInfo:
    w, h = stream.codec_context.width, stream.codec_context.height
    # every frame, not only the first the header describes, is held to the cap before it is
    # decoded: FFmpeg refuses to allocate a larger one (an MJPEG's 64x64 first frame, then 16,000 px)
    stream.codec_context.options = {**stream.codec_context.options, "max_pixels": str(max_pixels)}
    if w <= 0 or h <= 0 or w * h > max_pixels or max(w, h) > 16384:
        raise SkipFile("absurd dimensions" if w * h <= max_pixels else "too many pixels",
                       f"{w}x{h} frames (the cap is {max_pixels / 1e6:.0f} MP)")
    duration = _duration(container, stream)
    rotation = _rotation(stream)
    if rotation in (90, 270):
        w, h = h, w
    meta = {**container.metadata, **stream.metadata}
    lat, lon = position(meta)
    return VideoInfo(w, h, duration, stream.codec_context.name, rotation, created(meta),
                     meta.get("com.apple.quicktime.model") or meta.get("model") or None, lat, lon)


def _start(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    """When the first frame is shown, in the file's clock (camcorders' MPEG-TS files start at 1 s or so)."""
    if stream.start_time is not None and stream.time_base:
        return max(float(stream.start_time * stream.time_base), 0.0)
    return max((container.start_time or 0) / 1_000_000, 0.0)


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration and stream.time_base:
        d = float(stream.duration * stream.time_base)
    elif container.duration:
        d = container.duration / 1_000_000
    else:
        raise _NoLength("no end", "the video says nothing of its length (a live stream saved to a file?)")
    if not 0 < d <= MAX_DURATION:
        raise SkipFile("no end" if d > 0 else "truncated or corrupt",
                       f"it claims to last {span_text(d)}" if d > 0 else f"it claims to last {d:.0f} s")
    return d


class _NoLength(SkipFile):
    """FFmpeg gives no length: `_container` looks at what the header itself says."""


def _rotation(stream: av.video.stream.VideoStream) -> int:
    """Clockwise degrees the player turns the picture: the display matrix, else a `rotate` tag."""
    try:
        tag = int(stream.metadata.get("rotate", "0"))
    except ValueError:
        tag = 0
    return tag % 360 // 90 * 90


def _targets(duration: float, every: float) -> list[float]:
    """The sample times: every `every` s from the start, fewer and farther apart past the cap."""
    n = max(1, min(frame_cap(duration), math.ceil(duration / every)))
    step = duration / n
    return [i * step for i in range(n)]


def _linear(container: av.container.InputContainer, stream: av.video.stream.VideoStream, targets: list[float],
            deadline: float, out: Sampled) -> None:
    """Decode in order, keeping the first frame at or after each target time. With key frames
    only, a key frame before the next target is not even decoded (phones write one a second,
    the samples are 2 s apart: half the decoding)."""
    i = j = 0  # the next target of the frames out, and of the key frames sent (a decoder lags)
    keys_only = stream.codec_context.skip_frame == "NONKEY"
    sent: deque[float] = deque()  # the times of the key frames sent, in order: a decoder flushed
    for packet in container.demux(stream):  # at the end may give them without their time
        if time.monotonic() > deadline:
            raise SkipFile("too slow to decode", f"gave up after {out.decoded} frames (the time limit per video)")
        if keys_only and packet.size:
            at = _wanted(packet, targets, j, out.offset)
            if at is None:
                continue
            sent.append(at)
            while j < len(targets) and targets[j] <= at + 1e-3:
                j += 1
        for frame in stream.decode(packet if packet.size else None):
            out.decoded += 1
            _check(deadline, out, frame)
            sent_at = sent.popleft() if keys_only and sent else None
            t = out.seconds(frame, sent_at if sent_at is not None else 0.0)
            if not out.frames or i < len(targets) and t + 1e-3 >= targets[i]:
                _keep(out, frame, t)
                while i < len(targets) and targets[i] <= t + 1e-3:
                    i += 1
        if i >= len(targets):
            break


def _wanted(packet: av.Packet, targets: list[float], j: int, offset: float) -> float | None:
    """The time of a packet worth decoding when only key frames are (a key frame at or after the
    next target, or the first one; one of unknown time counts as the target's), else None."""
    if not packet.is_keyframe:
        return None
    if packet.pts is None or packet.time_base is None:
        return targets[min(j, len(targets) - 1)]
    base = packet.time_base
    at = packet.pts * base.numerator / base.denominator - offset
    return at if j == 0 or j < len(targets) and at + 1e-3 >= targets[j] else None


def _by_seeking(container: av.container.InputContainer, stream: av.video.stream.VideoStream, targets: list[float],
                deadline: float, out: Sampled) -> None:
    """Seek to the key frame before each target and decode it alone (long videos)."""
    last_pts = None
    for target in targets:
        container.seek(int((target + out.offset) / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            out.decoded += 1
            _check(deadline, out, frame)
            if frame.pts != last_pts:
                last_pts = frame.pts
                _keep(out, frame, out.seconds(frame, target))
            break


def _keep(out: Sampled, frame: av.VideoFrame, t: float) -> None:
    if not out.frames and frame.rotation and not out.info.rotation:
        out.info = _rotated(out.info, frame.rotation)
    kept = Frame(t, _upright(_small(frame, max(SMALL, out.min_side)), out.info.rotation, out.min_side))
    out.frames.append(out.convert(kept) if out.convert else kept)


def _rotated(info: VideoInfo, degrees: float) -> VideoInfo:
    """The info of a video whose display matrix turns it (FFmpeg: counter-clockwise degrees). A
    matrix that turns nothing into a picture (all zeros) has no angle: FFmpeg's NaN reaches us as
    -2**31 (which once turned the video sideways), so only a real angle turns it."""
    if not (math.isfinite(degrees) and -360 <= degrees <= 360):
        return info
    rot = int(round(-degrees)) % 360 // 90 * 90
    w, h = (info.height, info.width) if rot in (90, 270) else (info.width, info.height)
    return replace(info, width=w, height=h, rotation=rot)  # every other field, the position too


def _check(deadline: float, out: Sampled, frame: av.VideoFrame) -> None:
    duration = out.info.duration
    if time.monotonic() > deadline:
        raise SkipFile("too slow to decode", f"gave up after {out.decoded} frames (the time limit per video)")
    if out.seconds(frame, 0.0) > duration + 60:
        raise SkipFile("no end", f"frames go on past the {duration:.0f} s its header claims")
    if out.decoded > 2_000_000:
        raise SkipFile("too many frames", f"over {out.decoded} frames")


def _small(frame: av.VideoFrame, side: int = 0) -> Image.Image:
    """The frame scaled by swscale so its shorter side is about `side` (`SMALL` by default;
    more for OCR), before rotation, RGB."""
    w, h = frame.width, frame.height
    scale = min(1.0, (side or SMALL) / min(w, h))
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    hdr = _HDR.get(str(frame.color_trc).lower().replace("_", "-").split(".")[-1]) if frame.color_trc else None
    if hdr is None and "10" not in frame.format.name and "12" not in frame.format.name:
        return frame.to_image(width=size[0], height=size[1])
    rgb = frame.reformat(width=size[0], height=size[1], format="rgb48le").to_ndarray()
    return Image.fromarray(_tone_map(rgb.astype(np.float32) / 65535.0, hdr))


SMALL = 336  # decode-side short edge; `_upright` brings it to the size asked for


def _tone_map(rgb: np.ndarray, transfer: str | None) -> np.ndarray:
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


def _upright(img: Image.Image, rotation: int, min_side: int) -> Image.Image:
    op = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}.get(rotation)
    if op is not None:
        img = img.transpose(op)
    if min(img.size) > min_side:
        scale = min_side / min(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.BILINEAR)
    return img
