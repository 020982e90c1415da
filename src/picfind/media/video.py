"""Videos as a few frames chosen by time, decoded with PyAV (FFmpeg inside its wheel).

A video yields candidate frames, one every `every` seconds (2 s by default) up to a cap that
grows with its length (`frame_cap`), each with the time it shows. Only key frames are decoded
(`skip_frame = "NONKEY"`): phone cameras write one every second or two, so this decodes about
one frame in 30-60. A long video seeks to each sample instead of reading every packet; a video
whose key frames are too sparse (screen recordings) is decoded in full, under the same limits.
A sample whose key frame is over a second away, and the frame halfway between two samples a
cut lies between, are decoded forward from a key frame (`media.videoseek`).
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
from typing import Any, BinaryIO

from picfind.media.decode import DEFAULT_MAX_PIXELS, SkipFile, missing_decoder
from picfind.media.formats import NO_VIDEO_SUPPORT
from picfind.media.videoframes import NO_INFO, Frame, Sampled, VideoInfo, check, keep, rotated
from picfind.media.videoheader import container_signature, created, declared_seconds, ffmpeg_words, position, span_text
from picfind.media.videoseek import by_seeking, forward, late_targets, refine_cuts

try:
    import av
    import av.container
    import av.error
    import av.video.stream
except ImportError:  # the `video` extra is not installed: pictures are indexed, videos skipped with the hint
    av = None

EVERY = 2.0  # seconds between candidate frames
TIME_LIMIT = 60.0  # seconds of decoding one video may take
SEEK_AFTER = 300.0  # videos longer than this seek to each sample instead of reading every packet
MAX_DURATION = 24 * 3600.0  # longer is a broken header or a stream that never ends
_position, _created = position, created  # their old names


def frame_cap(duration: float) -> int:
    """How many candidates a video of this length may give: 30, plus one per 4 s, at most 600."""
    return int(min(600, 30 + duration / 4))


def supported() -> bool:
    """Whether videos can be read here: PyAV (the `video` extra) is installed."""
    return av is not None


def unsupported() -> SkipFile:
    """A video's skip while PyAV is missing: retried by every run (`stages.TRANSIENT`), so one after
    `pip install 'picfind[video]'` reads it."""
    return missing_decoder(NO_VIDEO_SUPPORT, "PyAV, which reads videos,")


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
        return _sample(container, Sampled(NO_INFO, min_side, convert), every, max_pixels,
                       time.monotonic() + time_limit)


def probe(f: BinaryIO, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """The header alone (a copy or a rename of a video already indexed needs no decoding)."""
    with _container(f, TIME_LIMIT) as container:
        stream = _video_stream(container)
        info = _info(container, stream, max_pixels)
        stream.codec_context.skip_frame = "NONKEY"  # the display matrix comes with the frames
        for frame in container.decode(stream):
            if frame.rotation and not info.rotation:
                info = rotated(info, frame.rotation)
            break
        return info


@contextmanager
def _container(f: BinaryIO, time_limit: float) -> Iterator[av.container.InputContainer]:
    """The file opened by FFmpeg; what FFmpeg raises, as the `SkipFile` a person reads."""
    if av is None:
        raise unsupported()
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
        by_seeking(container, stream, targets, deadline, out)
    else:
        _linear(container, stream, targets, deadline, out)
    if len(targets) > 1 and len(out.frames) < len(targets) // 2:
        # key frames too sparse: decode every frame, under the same limits
        ctx.skip_frame = "DEFAULT"
        container.seek(0)
        out.clear()
        _linear(container, stream, targets, deadline, out)
    elif info.duration <= SEEK_AFTER and (late := late_targets(targets, out.times, info.duration)):
        forward(container, stream, late, deadline, out)
    refine_cuts(container, stream, deadline, out, len(targets), seeking=info.duration > SEEK_AFTER)
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
            if packet.is_keyframe and packet.pts is not None and packet.time_base is not None:
                out.keys.append(float(packet.pts * packet.time_base) - out.offset)
            at = _wanted(packet, targets, j, out.offset)
            if at is None:
                continue
            sent.append(at)
            while j < len(targets) and targets[j] <= at + 1e-3:
                j += 1
        for frame in stream.decode(packet if packet.size else None):
            out.decoded += 1
            check(deadline, out, frame)
            sent_at = sent.popleft() if keys_only and sent else None
            t = out.seconds(frame, sent_at if sent_at is not None else 0.0)
            if not out.frames or i < len(targets) and t + 1e-3 >= targets[i]:
                keep(out, frame, t)
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


