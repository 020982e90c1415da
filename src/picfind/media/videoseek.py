"""Frames decoded forward from a key frame: for samples whose key frame is far from them (clips
re-encoded by messengers put one every 3-6 s, none at the cuts), in one pass over a short video
(`forward`) or by seeking in a long one (`by_seeking`); and halfway between two samples a cut
lies between (`refine_cuts`), so a new scene is reported less than `LATE` after it starts.

Every decoded frame counts against the video's limits (`videoframes.check`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from picfind.media.videoframes import Sampled, check, keep

# A sample whose first key frame comes later than this is decoded forward from the key frame
# before it (messengers re-encode clips with key frames 5 s and more apart, none at the cuts)
LATE = 1.0
FORWARD = "NONREF"  # decoding forward, frames no other refers to are skipped (B-frames, mostly)
CUT = 12.0  # mean difference (of 255) of two samples' 16x16 grey copies that makes a new scene


def late_targets(targets: list[float], times: list[float], duration: float) -> list[float]:
    """The sample times whose first frame kept comes more than `LATE` after them (or never)."""
    late, k = [], 0
    for target in targets:
        while k < len(times) and times[k] + 1e-3 < target:
            k += 1
        if (times[k] if k < len(times) else duration) > target + LATE:
            late.append(target)
    return late


def forward(container: Any, stream: Any, late: list[float],
             deadline: float, out: Sampled) -> None:
    """The frame at each late sample time, decoded forward from the key frame before it: one pass
    over the file that decodes only the stretches from such a key frame to its last late sample
    (at most the whole video once), the rest of its packets never reaching the decoder."""
    starts = [max((k for k in out.keys if k <= t + 1e-3), default=0.0) for t in late]
    stream.codec_context.skip_frame = FORWARD
    container.seek(0)
    i, decoding = 0, False
    for packet in container.demux(stream):
        if i >= len(late):
            break
        if packet.size and packet.is_keyframe and packet.pts is not None and packet.time_base is not None:
            decoding = abs(float(packet.pts * packet.time_base) - out.offset - starts[i]) < 1e-3
        if not decoding and packet.size:
            continue
        for frame in stream.decode(packet if packet.size else None):
            out.decoded += 1
            check(deadline, out, frame)
            t = out.seconds(frame, late[i])
            if t + 1e-3 >= late[i]:
                keep(out, frame, t)  # made small now: a decoded frame is megabytes
                while i < len(late) and late[i] <= t + 1e-3:
                    i += 1
                decoding = decoding and i < len(late) and starts[i] <= t + 1e-3
                if i >= len(late):
                    break
    out.sort()


def by_seeking(container: Any, stream: Any, targets: list[float],
                deadline: float, out: Sampled) -> None:
    """Seek to the key frame before each target and decode it alone (long videos); one more than
    `LATE` before its target is decoded forward to the target instead."""
    last_pts = None
    for target in targets:
        frame = seek_decode(container, stream, target, deadline, out, forward=False)
        if frame is not None and out.seconds(frame, target) + LATE < target:
            frame = seek_decode(container, stream, target, deadline, out, forward=True)
        if frame is not None and frame.pts != last_pts:
            last_pts = frame.pts
            keep(out, frame, out.seconds(frame, target))


def seek_decode(container: Any, stream: Any, target: float,
                 deadline: float, out: Sampled, forward: bool) -> Any | None:
    """The key frame at or before `target`, or (`forward`) the first frame from there at or after it."""
    ctx = stream.codec_context
    ctx.skip_frame = FORWARD if forward else "NONKEY"
    container.seek(int((target + out.offset) / stream.time_base), stream=stream, backward=True)
    try:
        for frame in container.decode(stream):
            out.decoded += 1
            check(deadline, out, frame)
            if not forward or out.seconds(frame, target) + 1e-3 >= target:
                return frame
        return None
    finally:
        ctx.skip_frame = "NONKEY"


def refine_cuts(container: Any, stream: Any, deadline: float, out: Sampled, budget: int, seeking: bool) -> None:
    """Where two neighbouring samples differ like a cut and lie more than `LATE` apart, the frame
    halfway is decoded too, and so on until the cut lies between samples at most `LATE` apart:
    the scene's first sample then comes less than `LATE` after its start, whatever the spacing
    of samples or key frames. The halfway frames of one round are decoded in one pass over a
    short video (`forward`), by seeking in a long one; at most `budget` frames are added."""
    while budget > 0:
        pairs = zip(out.times, out.times[1:], out.greys, out.greys[1:])
        halves = [(a + b) / 2 for a, b, ga, gb in pairs
                  if b - a > LATE + 1e-3 and float(np.abs(ga - gb).mean()) > CUT][:budget]
        if not halves:
            return
        budget -= len(halves)
        before = len(out.times)
        if seeking:
            for t in halves:
                frame = seek_decode(container, stream, t, deadline, out, forward=True)
                if frame is not None:
                    keep(out, frame, out.seconds(frame, t))
            out.sort()
        else:
            forward(container, stream, halves, deadline, out)
        if len(out.times) == before:
            return  # nothing new could be decoded: no further round would differ
