"""Videos in the indexing stages: a video file is read (hashed as a stream, never loaded whole),
its candidate frames decoded (`picfind.media.video`), embedded, and only the frames that differ
from the last kept one kept, each standing for the time range until the next kept one.

The reader (`read_video`) is pure like `read_file`, so a cluster worker runs it too; the
keeping (`keep_moments`) needs the frames' vectors, so it runs where they are embedded, and so
do the analyses (OCR, faces: `analyse_moments`): only the kept frames are analysed, each result
stored under its frame key.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from PIL import Image

from picfind.analysis import analyse
from picfind.media.decode import Meta, SkipFile
from picfind.media.formats import LIVE_MAX_SECONDS, LIVE_MOTION
from picfind.media.thumbnail import encode_thumbnail
from picfind.media.video import EVERY, Frame, VideoInfo, open_video, probe, sample, supported, unsupported
from picfind.media.videoheader import declared_seconds
from picfind.models.preprocess import centre_crop
from picfind.records import content_hasher, frame_key, frame_span

if TYPE_CHECKING:
    from picfind.analysis import Analysis
    from picfind.models.preprocess import Preprocessing
    from picfind.records import FileStat

KEEP_BELOW = 0.95  # a frame is kept when its cosine to the last kept frame is below this
STILL_BELOW = 2.0  # grey levels (of 255), on average at 32x32: a candidate this close to the last one
# encoded is the same shot standing still, and takes its vector without an encoder run
MAX_VIDEO_BYTES = 1 << 40  # hashed as a stream: only absurd sizes are refused
FRAME_QUALITY = 90  # a candidate's frame for the analyses waits as a JPEG (a tenth of its pixels' memory)


@dataclass
class Candidate:
    """One sampled frame, resized and cropped for the encoder (8-bit: a quarter of the float
    tensor's memory, made just before encoding), with its small thumbnail (JPEG bytes) and, when
    an analysis (OCR, faces) wants it, the frame at that size (JPEG bytes; analysed only if the
    frame is kept)."""
    time: float
    image: Image.Image
    thumb: bytes | None
    frame: bytes | None = None


@dataclass
class VideoRead:
    """What reading a video gave: its content, header, and candidates (None: content known)."""
    content_hash: str
    meta: Meta
    duration: float
    candidates: list[Candidate] | None = None


@dataclass
class Moment:
    """A kept frame: the vector standing for [start, end) of its video."""
    start: float
    end: float
    vector: np.ndarray
    thumb: bytes | None
    frame: bytes | None = None  # the frame for the analyses (`Candidate.frame`)

    def key(self, content_hash: str) -> str:
        return frame_key(content_hash, self.start, self.end)


def stream_hash(f: BinaryIO, chunk: int = 1 << 20) -> str:
    """The same content hash as `stages.content_hash` of the whole file, read 1 MiB at a time."""
    h = content_hasher()
    while block := f.read(chunk):
        h.update(block)
    return h.hexdigest()


def read_video(task: FileStat, prep: Preprocessing, max_pixels: int, thumbnails: bool,
               frame_side: int = 0, still: str | None = None) -> Generator[str, tuple[bool, bool], VideoRead]:
    """The read stage for a video, in two steps as `stages.reading`: it yields the content's hash
    (the file stays open) and is sent whether that content has a vector and whether an analysis
    wants it. A content without a vector gets its candidate frames; one an analysis wants gets
    them too (known or not: its kept frames are analysed after embedding), each with its frame
    decoded to `frame_side` on the shorter side. `still`: the indexed picture of its name beside
    it (`indexing.pairs`), whose Live Photo motion it is if short."""
    if task.size > MAX_VIDEO_BYTES:
        raise SkipFile("file too large", f"{task.size / 2**30:.0f} GiB")
    if not supported():
        raise _unreadable(task.path, still)
    with open_video(task.path) as f:
        try:
            digest = stream_hash(f)
        except OSError as e:
            raise SkipFile("unreadable", e.strerror or str(e)) from None
        known, wanted = yield digest
        analysed = frame_side > 0 and wanted
        if known and not analysed:
            info = probe(f, max_pixels)
            _not_live(still, info.duration)
            return VideoRead(digest, _meta(info), info.duration)
        if still is not None:  # the header only then
            _not_live(still, probe(f, max_pixels).duration)
        sampled = sample(f, max(prep.size, frame_side if analysed else 0), EVERY, max_pixels,
                         convert=lambda frame: candidate(frame, prep, thumbnails, analysed))
    info, candidates = sampled.info, sampled.frames
    return VideoRead(digest, _meta(info), info.duration, candidates)


def _meta(info: VideoInfo) -> Meta:
    return Meta(info.width, info.height, info.taken_at, info.camera, info.lat, info.lon)


def candidate(frame: Frame, prep: Preprocessing, thumbnail: bool, analysed: bool = False) -> Candidate:
    """What is kept of a frame until it is embedded: an 8-bit crop at the model's size, a small JPEG,
    and when it is to be `analysed` the frame as decoded (at the analyses' size) as a JPEG."""
    return Candidate(frame.time, centre_crop(prep.resize(frame.image), prep.size, prep.crop),
                     encode_thumbnail(frame.image) if thumbnail else None, _jpeg(frame.image) if analysed else None)


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=FRAME_QUALITY)
    return buf.getvalue()


def analyse_moments(analyses: list[Analysis], frames: dict[str, bytes | None]) -> tuple[dict[str, dict], Counter]:
    """Each analysis's result for each kept frame that carries its frame (JPEG bytes, by frame
    key), and how many frames each kind failed on (those results are not stored)."""
    results: dict[str, dict] = {a.kind: {} for a in analyses}
    failed: Counter = Counter()
    for key, jpeg in frames.items():
        if jpeg is None or not analyses:
            continue
        with Image.open(io.BytesIO(jpeg)) as im:
            found, broke = analyse(analyses, np.asarray(im.convert("RGB")))
        for kind, result in found.items():
            results[kind][key] = result
        failed.update(broke)
    return results, failed


def kept_frames(content_hash: str, moments: list[Moment]) -> dict[str, bytes | None]:
    """The kept moments' frames for the analyses, by frame key (taken: their memory goes)."""
    frames = {}
    for m in moments:
        frames[m.key(content_hash)], m.frame = m.frame, None
    return frames


def stored_frames(candidates: list[Candidate], stored: list[str]) -> dict[str, bytes | None]:
    """A video embedded before (without some analysis): the frame of each stored moment, taken
    from the candidate sampled nearest its start (the same sampling finds the same times), so
    its results land on the frame keys stored then, with no encoder run."""
    frames = {}
    for key in stored:
        start = (frame_span(key) or (0.0, 0.0))[0]
        if candidates:
            frames[key] = min(candidates, key=lambda c: abs(c.time - start)).frame
    return frames


def embed_moments(encode: Callable[[np.ndarray], np.ndarray], prep: Preprocessing, candidates: list[Candidate],
                  duration: float, batch_size: int) -> tuple[list[Moment], int]:
    """The moments kept of a video's candidates, and how many went through the encoder (`encode`:
    a batch of pixels to unit vectors, `batch_size` at a time). A candidate that looks like the
    last one encoded (a static shot: `STILL_BELOW`) takes its vector without an encoder run."""
    runs = _encoder_runs(candidates)
    out = [encode(np.stack([prep.tensor(candidates[k].image) for k in runs[i:i + batch_size]]))
           for i in range(0, len(runs), batch_size)]
    encoded = dict(zip(runs, np.concatenate(out))) if out else {}
    vectors, last = [], None
    for k in range(len(candidates)):
        last = encoded.get(k, last)
        vectors.append(last)
    return keep_moments(candidates, np.stack(vectors), duration), len(runs)


def _encoder_runs(candidates: list[Candidate]) -> list[int]:
    """Which candidates the encoder must see: each whose small grey copy differs from the last one
    seen by more than `STILL_BELOW` on average (sensor noise averages out at 32x32)."""
    runs: list[int] = []
    last = None
    for k, c in enumerate(candidates):
        small = np.asarray(c.image.convert("L").resize((32, 32), Image.Resampling.BOX), np.float32)
        if last is None or float(np.abs(small - last).mean()) > STILL_BELOW:
            runs.append(k)
            last = small
    return runs


def _unreadable(path: str, still: str | None) -> SkipFile:
    """Without PyAV a video is not read (not even hashed) and is skipped with the hint; a Live Photo's
    motion is still told by the length its MP4/MOV header states, so its still shows it as ever."""
    if still is not None:
        with open_video(path) as f:
            seconds = declared_seconds(f)
        if seconds is not None:
            _not_live(still, seconds)
    return unsupported()


def _not_live(still: str | None, duration: float) -> None:
    """A Live Photo's motion (a short movie beside its indexed still) is part of that picture,
    never a result of its own: the still's result names it (`Hit.motion`)."""
    if still is not None and duration <= LIVE_MAX_SECONDS:
        raise SkipFile(LIVE_MOTION, f"shown with its still, {os.path.basename(still)}")


def keep_moments(candidates: list[Candidate], vectors: np.ndarray, duration: float,
                 threshold: float = KEEP_BELOW) -> list[Moment]:
    """The frames whose vector differs from the last kept one, or from the candidate just before
    (a cut, even to a scene like the last kept one), by a cosine below `threshold`: a static shot
    keeps one, a slow pan one per drift, a busy scene several. Each stands until the next kept
    frame (the last one until the end of the video). A frame whose vector is not finite (a model
    that gives NaN for it) is never kept: the frame before it stands on (none kept: the caller
    skips the video, as `stages.NO_VECTOR`)."""
    kept: list[Moment] = []
    previous = None
    for cand, vec in zip(candidates, vectors):
        if not np.isfinite(vec).all():
            continue
        same = kept and min(float(np.dot(kept[-1].vector, vec)), float(np.dot(previous, vec))) >= threshold
        previous = vec
        if same:
            continue
        if kept:
            kept[-1].end = cand.time
        kept.append(Moment(cand.time, max(duration, cand.time), vec, cand.thumb, cand.frame))
    if kept:
        kept[0].start = 0.0  # the first kept frame stands for the opening too
    return kept
