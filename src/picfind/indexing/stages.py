"""The indexing stages, each usable on its own: the reader (`read_file`, pure, so a cluster worker
runs it too), the writer (one catalog transaction every couple of seconds) and the local threaded
runner, with the records they pass along (`Task`, `ReadResult`, `IndexReport`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Container, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from PIL import Image

from picfind.analysis import analyse
from picfind.indexing.interrupts import waiting
from picfind.indexing.videos import Candidate, read_video
from picfind.media.decode import DEFAULT_MAX_PIXELS, Meta, SkipFile, decode, probe
from picfind.media.formats import MISSING_DECODERS, RAW_WITH_JPEG, is_raw, is_video
from picfind.media.places import place_at
from picfind.media.safefile import MAX_FILE_BYTES
from picfind.media.thumbnail import SIZE as THUMB_SIZE
from picfind.models.preprocess import Preprocessing
from picfind.records import FileStat, IndexedFile, SkippedFile, content_hasher

if TYPE_CHECKING:
    from picfind.analysis import Analysis
    from picfind.catalogs.known import KnownContents
    from picfind.catalogs.protocol import CatalogBackend

# Skips worth retrying on every run: the file may be readable next time (a video once the
# `video` extra is installed, a RAW once rawpy is, ...).
TRANSIENT = {"permission denied", "vanished", "unreadable", *MISSING_DECODERS}
NO_VECTOR = "no vector"  # the model gave NaN for this picture: nothing is stored that would poison a search
UNEXPECTED = "unexpected error"  # a picfind bug met on one file: that file is skipped, the run goes on
Done = dict[str, "KnownContents | set[str]"]  # analysis kind -> the contents (or video frames) it has analysed


def content_hash(data: bytes) -> str:
    h = content_hasher()
    h.update(data)
    return h.hexdigest()


@dataclass
class IndexOptions:
    batch_size: int = 0  # images per encoder batch; 0 = automatic (16 on a CPU, 64 on a GPU)
    workers: int = 0  # reader threads; 0 = automatic
    max_pixels: int = DEFAULT_MAX_PIXELS
    draft_factor: float = 2.0  # decode JPEGs down to >= this x the model's input size
    commit_seconds: float = 2.0
    thumbnails: bool = True  # write a small cached thumbnail of each new picture


@dataclass(frozen=True)
class Task(FileStat):
    """A file to read; `shown_with`: the indexed picture this RAW or movie is paired with (`indexing.pairs`)."""
    shown_with: str | None = None


class Phases:
    """The files a run reads, in turns: `first`, then once those are read and written, what
    `then` gives (the RAWs and movies that waited for their pictures, `indexing.pairs`).
    `total`: the files to read in all, as far as known (for progress)."""

    def __init__(self, first: list[Task], then: Callable[[], list[Task]] = list, waiting: int = 0) -> None:
        self.first, self.then, self.waiting = first, then, waiting
        self.total = len(first) + waiting

    def __iter__(self) -> Iterator[list[Task]]:
        yield self.first
        more = self.then()
        self.total += len(more) - self.waiting
        if more:
            yield more


@dataclass
class ReadResult:
    task: Task
    content_hash: str | None = None
    meta: Meta | None = None
    pixels: np.ndarray | None = None
    skip: SkipFile | None = None
    thumb: Image.Image | None = None
    results: dict[str, Any] = field(default_factory=dict)  # analysis kind -> its result, for those run now
    failed: list[str] = field(default_factory=list)  # analysis kinds that raised (run again next time)
    duration: float | None = None  # a video's length; None for a picture
    candidates: list[Candidate] | None = None  # a video's frames to embed (`indexing.videos`)


@dataclass
class IndexReport:
    roots: list[str] = field(default_factory=list)
    files_seen: int = 0
    unchanged: int = 0
    read: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: Counter = field(default_factory=Counter)
    removed: int = 0  # files gone (moved ones included)
    added: int = 0  # files new to the catalog, written indexed (moved ones not included)
    updated: int = 0  # files the catalog knew, read again and written indexed
    moved: int = 0  # new files whose content left another file in this run (moved or renamed)
    texts_read: int = 0  # pictures OCR read in this run
    texts_found: int = 0  # of them, those that hold text
    texts_failed: int = 0  # pictures OCR failed on (tried again next run)
    faces_read: int = 0  # pictures and kept video frames searched for faces in this run
    faces_found: int = 0  # the faces found in them
    faces_failed: int = 0  # pictures face finding failed on (tried again next run)
    people: dict = field(default_factory=dict)  # what grouping did after the run (`Library.group_faces`)
    frames_embedded: int = 0  # video frames through the encoder
    frames_kept: int = 0  # of them, those kept as moments
    offline: dict[str, int] = field(default_factory=dict)  # place that could not be read -> files kept there
    seconds: float = 0.0
    interrupted: bool = False
    device: str = "none"  # where the image encoder ran; "none" when nothing needed embedding

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["skipped"] = dict(self.skipped)
        d["skipped_total"] = sum(self.skipped.values())
        return d


Progress = Callable[[IndexReport, int, int], None]  # (report so far, done, total)
# Runs the read and embed stages over the files to read, handing finished work to the writer.
# (files to read, in turns; contents the catalog has, the report, the writer, progress)
Stages = Callable[[Phases, "KnownContents", IndexReport, "Writer", Progress | None], None]


def needed(analyses: list[Analysis], done: Done, key: str) -> list[Analysis]:
    """The analyses that have not seen this content (or video frame) yet."""
    return [a for a in analyses if key not in done.get(a.kind, ())]


def read_file(task: Task, known: Container[str], prep: Preprocessing, options: IndexOptions,
              analyses: list[Analysis] = (), done: Done | None = None) -> ReadResult:  # type: ignore[assignment]
    """The read stage, on whichever machine runs it: read the file once, hash it, and only when
    that content is not in `known`, decode and preprocess it (and keep a small image to make its
    thumbnail from); also run each analysis (OCR, faces) that has not seen this content (`done`),
    from the same decode. Pure: no catalog, no encoder, so a cluster worker can run it."""
    steps = reading(task, prep, options, analyses)
    return finish(steps, begin(steps), (known, done or {}))


Asked = tuple[Container[str], Done]  # what is known of the contents met: those with a vector, each analysis's
Reading = Generator[str, Asked, ReadResult]
Sent = TypeVar("Sent")
Returned = TypeVar("Returned")


def begin(steps: Reading) -> str | ReadResult:
    """A reading run up to its content's hash; its result when the file was skipped before that."""
    try:
        return next(steps)
    except StopIteration as end:
        return end.value


def finish(steps: Reading, hashed: str | ReadResult, asked: Asked) -> ReadResult:
    """A reading begun (`hashed`: what `begin` gave) run to its end with what is known."""
    return hashed if isinstance(hashed, ReadResult) else resume(steps, asked)


def resume(steps: Generator[object, Sent, Returned], answer: Sent) -> Returned:
    """A generator that waits once for `answer`, run to its end: its return value."""
    try:
        steps.send(answer)
    except StopIteration as end:
        return end.value
    raise RuntimeError("a reading waits once")


def reading(task: Task, prep: Preprocessing, options: IndexOptions, analyses: list[Analysis] = ()) -> Reading:  # type: ignore[assignment]
    """`read_file` in two steps, so that a Ray worker asks about a whole batch's contents at once:
    it yields the content's hash once the file is read (a video's stays open), is sent what is
    known (`Asked`), and returns the result. A file skipped before it is hashed yields nothing."""
    try:
        if is_raw(task.path) and task.shown_with is not None:  # RAW+JPEG: one photograph, never read
            raise SkipFile(RAW_WITH_JPEG, f"shown with {os.path.basename(task.shown_with)}, the camera's JPEG "
                           "beside it")
        if is_raw(task.path):
            _check_raw_support()
        if is_video(task.path):
            side = max((a.min_side for a in analyses), default=0)
            with closing(read_video(task, prep, options.max_pixels, options.thumbnails, side,
                                    task.shown_with)) as video:
                digest = next(video)
                known, done = yield digest
                wanted = needed(analyses, done, digest)
                v = resume(video, (digest in known, bool(wanted)))
            # the video's own content is recorded as analysed (its kept frames are analysed where
            # they are embedded, `analyse_moments`), so a re-scan does not read it again
            return ReadResult(task, v.content_hash, v.meta, duration=v.duration, candidates=v.candidates,
                              results={a.kind: a.empty() for a in wanted})
        if task.size > MAX_FILE_BYTES:
            raise SkipFile("file too large", f"{task.size / 2**20:.0f} MiB")
        try:
            with open(task.path, "rb") as f:
                data = f.read()
        except PermissionError as e:
            raise SkipFile("permission denied", e.strerror or str(e)) from None
        except FileNotFoundError:
            raise SkipFile("vanished", "deleted while picfind was indexing") from None
        except IsADirectoryError:
            raise SkipFile("unreadable", "is a folder") from None
        except OSError as e:
            raise SkipFile("unreadable", e.strerror or str(e)) from None
        digest = content_hash(data)
        known, done = yield digest
        wanted = needed(analyses, done, digest)
        if digest in known and not wanted:
            try:
                meta = probe(data)
            except SkipFile:  # the content decoded before; sizes are a nicety
                meta = None
            return ReadResult(task, digest, meta)
        min_side = int(prep.size * options.draft_factor)
        # One decode serves all: OCR and faces want more pixels than CLIP (small text, small faces).
        decoded = decode(data, max([min_side, *(a.min_side for a in wanted)]), options.max_pixels)
        results, failed = analyse(wanted, np.asarray(decoded.image))
        if digest in known:
            return ReadResult(task, digest, decoded.meta, results=results, failed=failed)
        image = decoded.image
        if wanted and min(image.size) >= 2 * min_side:
            # decoded big for an analysis: box-reduce the encoder's copy to about the size it is
            # decoded at without one (as the JPEG draft would), so its resize costs what it does then
            image = image.reduce(min(image.size) // min_side)
        resized = prep.resize(image)
        # the thumbnail from the small image already made when big enough: nearly free
        small_enough = prep.keeps_aspect and min(resized.size) >= THUMB_SIZE * 3 // 4  # same proportions
        thumb = (resized if small_enough else decoded.image) if options.thumbnails else None
        return ReadResult(task, digest, decoded.meta, prep.tensor(resized), thumb=thumb, results=results,
                          failed=failed)
    except SkipFile as skip:
        return ReadResult(task, skip=skip)
    except Exception as e:  # noqa: BLE001 - whatever one file does, it is that file's skip and the run goes on
        return ReadResult(task, skip=unexpected(e))


def _check_raw_support() -> None:
    """Without rawpy a RAW is skipped by its name, before it is read: most RAWs are TIFF inside, and
    Pillow would index the small thumbnail some keep first (or call the file corrupt, for good)."""
    from picfind.media import raw  # rawpy, only once a RAW is met

    if not raw.supported():
        raise raw.unsupported()


def unexpected(error: BaseException) -> SkipFile:
    """An error picfind did not foresee on one file, as that file's skip (named, so it can be reported)."""
    text = " ".join(str(error).split())[:200]
    return SkipFile(UNEXPECTED, f"{type(error).__name__}: {text}" if text else type(error).__name__)


@dataclass
class Tally:
    """Counts the files a run writes as added, updated or moved (what a watcher reports)."""
    report: IndexReport
    indexed_before: set[str]  # files read again that were indexed (a file skipped before is added now)
    departed: Counter  # content hashes of the files gone in this run

    def __call__(self, files: list[IndexedFile]) -> None:
        for f in files:
            if f.path in self.indexed_before:
                self.report.updated += 1
            elif self.departed[f.content_hash] > 0:
                self.departed[f.content_hash] -= 1
                self.report.moved += 1
            else:
                self.report.added += 1


def indexed_file(stat: FileStat, digest: str, meta: Meta | None, duration: float | None = None) -> IndexedFile:
    """A read file as the catalog stores it, its GPS position named (`picfind.media.places`);
    `duration`: a video's length."""
    if meta is None:
        return IndexedFile(stat.path, stat.root_id, stat.size, stat.mtime_ns, digest, 0, 0, duration=duration)
    return IndexedFile(stat.path, stat.root_id, stat.size, stat.mtime_ns, digest, meta.width, meta.height,
                       meta.taken_at, meta.camera, meta.lat, meta.lon, place_at(meta.lat, meta.lon), duration)


class Writer:
    """The write stage: finished files, their new vectors, skipped files and the analyses'
    results, written in one catalog transaction every `commit_seconds` (a kill loses at most that
    batch)."""

    def __init__(self, catalog: CatalogBackend, model: str, commit_seconds: float,
                 indexed_before: set[str] | frozenset[str] = frozenset(), analyses: list[Analysis] = (),
                 done: Done | None = None, tally: Tally | None = None) -> None:  # type: ignore[assignment]
        self.catalog, self.model, self.commit_seconds = catalog, model, commit_seconds
        self.indexed_before = indexed_before  # files read again that had a vector
        self.analyses = {a.kind: a for a in analyses}
        self.done: Done = {a.kind: set() for a in analyses} | (done or {})  # contents each has analysed
        self.ready: list[IndexedFile] = []
        self.vectors: dict[str, np.ndarray] = {}
        self.skipped: list[SkippedFile] = []
        self.results: dict[str, dict[str, Any]] = {kind: {} for kind in self.analyses}  # this batch's, by key
        self.tally = tally
        self.last_commit = time.monotonic()

    def skip(self, t: Task, reason: str, detail: str) -> None:
        # A passing failure (permissions, a flaky drive) keeps what was indexed before: its
        # vector is not pruned, and the next run reads the file again.
        if reason not in TRANSIENT or t.path not in self.indexed_before:
            self.skipped.append(SkippedFile(t.path, t.root_id, t.size, t.mtime_ns, reason, detail))

    def result(self, kind: str, key: str | None, result: Any, report: IndexReport) -> None:
        """Keep one analysis's result for a content or video frame, once per key (a copy read in
        the same run, or by an earlier one, is not counted again)."""
        if key is None or kind not in self.analyses or key in self.done[kind]:
            return
        self.results[kind][key] = result
        self.done[kind].add(key)
        setattr(report, f"{kind}_read", getattr(report, f"{kind}_read") + 1)
        setattr(report, f"{kind}_found", getattr(report, f"{kind}_found") + self.analyses[kind].found(result))

    def take(self, r: ReadResult, report: IndexReport) -> None:
        """A read file's analysis results and failures."""
        for kind, result in r.results.items():
            self.result(kind, r.content_hash, result, report)
        for kind in r.failed:
            self.failed(kind, report)

    def frames(self, results: dict[str, dict[str, Any]], failed: Counter, report: IndexReport) -> None:
        """A video's kept frames' analyses (kind -> frame key -> result; failures by kind), from
        `videos.analyse_moments` here or on a Ray worker."""
        for kind, by_key in results.items():
            for key, value in by_key.items():
                self.result(kind, key, value, report)
        for kind, n in failed.items():
            self.failed(kind, report, n)

    @staticmethod
    def failed(kind: str, report: IndexReport, n: int = 1) -> None:
        setattr(report, f"{kind}_failed", getattr(report, f"{kind}_failed") + n)

    def due(self) -> bool:
        return (time.monotonic() - self.last_commit >= self.commit_seconds
                or len(self.ready) + len(self.skipped) >= 4096)

    def commit(self) -> None:
        self.catalog.write_batch(self.model, self.ready, self.vectors, self.skipped)
        if self.tally is not None:
            self.tally(self.ready)
        for kind, results in self.results.items():
            if results:
                self.catalog.put_analysed(kind, self.analyses[kind].model, results)
                results.clear()
        self.ready.clear()
        self.vectors.clear()
        self.skipped.clear()
        self.last_commit = time.monotonic()


class Runner:
    """Runs the reader over tasks with at most `inflight` in the air; yields in completion order.
    The local, threaded runner; a process pool or a cluster runner can take its place."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def imap(self, fn: Callable[[Task], ReadResult], tasks: Iterable[Task], inflight: int) -> Iterator[ReadResult]:
        if self.workers <= 0:
            yield from map(fn, tasks)
            return
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="picfind-read")
        running: set[Future] = set()
        it = iter(tasks)
        try:
            for task in it:
                running.add(pool.submit(fn, task))
                if len(running) >= inflight:
                    done, running = waiting(wait, running, return_when=FIRST_COMPLETED)
                    yield from (f.result() for f in done)
            while running:
                done, running = waiting(wait, running, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def auto_workers() -> int:
    """Reader threads for this machine: one per core, since they wait on the GIL-free parts."""
    return max(1, os.cpu_count() or 1)
