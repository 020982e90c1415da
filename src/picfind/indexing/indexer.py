"""The indexing job: reader -> embedder -> writer (the stages are in `stages.py`).

* reader (a pool of threads, see `Runner`): read the file once, hash it, and only when that
  content has no vector yet, decode and preprocess it;
* embedder: batches of preprocessed pictures through the image encoder;
* writer: one catalog transaction every couple of seconds, so a kill loses at most that batch.

Decoding and hashing release the GIL, so reader threads run while the encoder computes.
The stages meet in a bounded queue of futures, so memory stays flat for any library size.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from picfind.catalogs.known import KnownContents
from picfind.indexing.crawl import identities
from picfind.indexing.pairs import Pairs
from picfind.indexing.quarantine import CRASHED, Quarantine, trial
from picfind.indexing.rescan import compare
from picfind.indexing.stages import (
    NO_VECTOR,
    TRANSIENT,
    Done,
    IndexOptions,
    IndexReport,
    Phases,
    Progress,
    ReadResult,
    Runner,
    Stages,
    Tally,
    Task,
    Writer,
    auto_workers,
    indexed_file,
    read_file,
)
from picfind.indexing.videos import analyse_moments, embed_moments, kept_frames, stored_frames
from picfind.media.formats import is_video
from picfind.media.thumbnail import encode_thumbnail
from picfind.models.encoder import Encoder
from picfind.models.paths import models_dir
from picfind.records import FileRecord, IndexedFile, SkippedFile, fs

Scope = dict[int, list[str]]  # root id -> the files and folders in it that changed

if TYPE_CHECKING:
    from picfind.analysis import Analysis
    from picfind.catalogs.protocol import CatalogBackend, Claims


VIDEOS_AT_ONCE = 2  # videos whose candidate frames are held (up to 90 MB each) between read and embed
BY_PATH_UPTO = 5_000  # records a re-scan reads by path; past this, the root's whole


class Indexer:
    def __init__(self, catalog: CatalogBackend, encoder: Encoder, options: IndexOptions | None = None,
                 stages: Stages | None = None, analyses: list[Analysis] = ()) -> None:  # type: ignore[assignment]
        self.catalog = catalog
        self.stages = stages  # how read and embed run; None: threads here (`_local`)
        self.analyses = list(analyses)  # OCR, faces: each content analysed once per analysis model
        self.encoder = encoder
        self.encoder.spinning = False  # idle encoder threads must not steal the decoders' cores
        self.options = options or IndexOptions()
        self.thumbs = catalog.thumbnails if self.options.thumbnails else None
        self.model = encoder.bundle.name
        self.prep = encoder.bundle.preprocessing
        self._known = KnownContents(lambda hashes: set())  # the catalog's, from `run`
        self._done: Done = {}  # per analysis kind, the contents (and video frames) it has analysed
        self._indexed_before: set[str] = set()  # files to read again that had a vector
        self._departed: Counter[str] = Counter()  # contents of the files gone in this run
        self._replaced: set[str] = set()  # contents of the files read again (changed, maybe)
        self._videos = threading.BoundedSemaphore(VIDEOS_AT_ONCE)
        self._quarantine: Quarantine | None = None  # the run's journal of files being decoded, from `run`
        self._pairs = Pairs()  # RAW+JPEG and Live Photos: what is shown with its picture

    def read(self, task: Task) -> ReadResult:
        if is_video(task.path):  # a video's candidates wait in memory until embedded: a few at once
            self._videos.acquire()
        assert self._quarantine is not None
        result = self._quarantine.read(task, self._read)
        if is_video(task.path) and result.candidates is None:
            self._videos.release()
        if result.thumb is not None:
            if self.thumbs is not None:
                self.thumbs.store(result.content_hash, encode_thumbnail(result.thumb))
            result.thumb = None
        return result

    def _read(self, task: Task) -> ReadResult:
        return read_file(task, self._known, self.prep, self.options, self.analyses, self._done)

    def _trial(self, task: Task) -> str | None:
        return trial(task, self.prep, self.options)

    def plan(self, roots: list, report: IndexReport,
             scope: Scope | None = None) -> tuple[list[Task], list[SkippedFile], list[str]]:
        """Walk the roots; return the files to read, the unreachable places, the files gone.
        Files known under a place that could not be read are not gone: they are marked offline.
        `scope`: per root id, only these files and folders changed (None: the whole root), so a
        watcher re-walks what changed, by the same rules as a full run."""
        todo: list[Task] = []
        unreachable: list[SkippedFile] = []
        gone: list[str] = []
        all_roots = self.catalog.roots()
        own = identities([*self.catalog.own_files(), str(models_dir())])
        for root in roots:
            begun = len(todo), len(gone)
            # Never picfind's own files; and an inner root's files are the inner root's.
            skip = own | identities([r.path for r in all_roots if r.id != root.id])
            starts = (scope or {}).get(root.id)
            c = compare(self.catalog, root, skip, starts, self.model,
                        [(a.kind, a.model) for a in self.analyses], TRANSIENT)
            report.files_seen += c.files
            report.unchanged += c.unchanged
            unreachable += [SkippedFile(u.path, root.id, 0, 0, u.reason, u.detail) for u in c.unreachable]
            changed, places = set(starts or ()), c.places
            left = list(map(fs, c.left))  # not met by the walk
            if not c.met and starts is None and _unmounted(root.path, left):
                places.add(root.path)
            records = self._records(root.id, starts, [f.path for f, known in c.changed if known] + left)
            for item, known in c.changed:
                rec = records.get(item.path) if known else None
                if rec is not None and rec.reason == CRASHED and self._quarantine is not None:
                    self._quarantine.suspect(item.path)  # changed since it crashed a decoder: alone first
                if rec is not None and rec.status == "ok":
                    self._indexed_before.add(item.path)
                    self._replaced.add(rec.content_hash)  # may lose its last file: pruned then
                todo.append(Task(item.path, root.id, item.size, item.mtime_ns))
            offline: dict[str, list[str]] = {}
            for path in left:  # gone, or offline
                rec = records.get(path) or FileRecord(path, 1, 1, "gone", None, None)  # (gone meanwhile)
                folder = rec.status == "skipped" and rec.size == rec.mtime_ns == 0  # an unreadable folder's row
                place = None if folder else _place_of(path, places, root.path)
                if place is None:
                    gone.append(path)
                    report.removed += not folder
                    if rec.status == "ok" and rec.content_hash:
                        self._departed[rec.content_hash] += 1
                else:
                    offline.setdefault(place, []).append(path)
            if starts is not None:  # places outside what changed stay as they were
                for place in self.catalog.offline_places():
                    path = place["path"]
                    if _place_of(path, {root.path}, root.path) and not _place_of(path, changed, root.path):
                        offline.setdefault(path, [])
            self.catalog.mark_offline(root.id, offline)
            self._pairs.note(root.id, todo[begun[0]:], gone[begun[1]:], starts)
            report.offline.update({place: len(files) for place, files in offline.items()})
        return todo, unreachable, gone

    def _records(self, root_id: int, starts: list[str] | None, paths: list[str]) -> dict[str, FileRecord]:
        """The catalog's records of these paths (changed, or not met by the walk), and what is
        known of their contents asked at once: a re-scan reads them by path, or the whole root's
        when they are many (a first run with another model)."""
        if not paths:
            return {}
        whole = starts is None and len(paths) > BY_PATH_UPTO
        records = self.catalog.files_of_root(root_id, None if whole else starts or paths)
        for seen in (self._known, *self._done.values()):
            seen.prefetch(records[p].content_hash for p in paths if p in records and records[p].status == "ok")
        return records

    def run(self, roots: list, progress: Progress | None = None, scope: Scope | None = None) -> IndexReport:
        """Index the roots (`scope`: only what changed in them, see `plan`)."""
        started = time.monotonic()
        report = IndexReport(roots=[r.path for r in roots])
        self._known = self.catalog.known_contents(self.model)  # asked per content met, not read whole
        self._done = {a.kind: self.catalog.analysed(a.kind, a.model) for a in self.analyses}
        # files a run was decoding when its process died: read alone first (Ray workers: not yet)
        self._quarantine = None if self.stages else Quarantine(self.catalog.journal_folder(), self._trial)
        written = False
        try:
            self._run(roots, report, progress, scope)
            written = True
        finally:
            if self._quarantine is not None:
                self._quarantine.close(written, whole=scope is None and not report.interrupted)
        report.seconds = time.monotonic() - started
        return report

    def _run(self, roots: list, report: IndexReport, progress: Progress | None, scope: Scope | None) -> None:
        with collector_paused():
            todo, unreachable, gone = self.plan(roots, report, scope)
        for u in unreachable:
            report.skipped[u.reason] += 1
        self.catalog.write_batch(self.model, [], {}, unreachable, gone)

        writer = Writer(self.catalog, self.model, self.options.commit_seconds, self._indexed_before,
                        self.analyses, self._done, Tally(report, self._indexed_before, self._departed))
        first = self._pairs.first(todo)  # the RAWs and movies beside pictures wait for them

        def then() -> list[Task]:
            if not self._pairs:
                return []
            writer.commit()  # the pictures' rows say which are indexed
            return self._pairs.then(self.catalog, report, self._indexed_before, self._replaced)
        try:
            (self.stages or self._local)(Phases(first, then, self._pairs.waiting), self._known, report, writer,
                                         progress)
            writer.commit()
            if gone or self._replaced:
                # Only now: a picture moved or renamed in this run has its new file written, so
                # its vector is not an orphan. (An interrupted run's orphans wait for a whole run
                # that finds a file gone.) Only the
                # contents this run's files held are looked at; a whole run with files gone, every vector.
                whole = scope is None and gone
                self.catalog.thumbnails.remove(self.catalog.prune_embeddings(
                    None if whole else {*self._departed, *self._replaced}))
        except KeyboardInterrupt:
            report.interrupted = True
            writer.commit()  # keep every file that is complete

    def _local(self, phases: Phases, known: KnownContents, report: IndexReport, writer: Writer,
               progress: Progress | None) -> None:
        for todo in phases:
            self._turn(todo, phases, known, report, writer, progress)

    def _turn(self, todo: list[Task], phases: Phases, known: KnownContents, report: IndexReport, writer: Writer,
              progress: Progress | None) -> None:
        """Read in a pool of threads (they consult `known`), embed here in batches."""
        opts = self.options
        batch_size = opts.batch_size or (64 if self.encoder.device == "cuda" else 16)
        workers = opts.workers or auto_workers()
        to_embed: list[ReadResult] = []
        waiting: list[ReadResult] = []  # copies of content that is in `to_embed`, not yet embedded
        pending: set[str] = set()  # content hashes in `to_embed`
        claims = self.catalog.claims()

        def embed() -> None:
            if not to_embed:
                return
            # On a shared catalog another indexer may be embedding some of these contents now: it
            # writes their vectors; this run writes only the files.
            mine = claims.claim(self.model, [r.content_hash for r in to_embed])
            batch = [r for r in to_embed if r.content_hash in mine]
            theirs = [_indexed(r) for r in to_embed if r.content_hash not in mine]
            report.reused += len(theirs)
            writer.ready.extend(theirs)
            if batch:
                report.device = self.encoder.active_device
                out = self.encoder.encode_images(np.stack([r.pixels for r in batch]))
                for r, v in zip(batch, out):
                    if not np.isfinite(v).all():  # a model that gives NaN for a picture: never stored
                        report.skipped[NO_VECTOR] += 1
                        writer.skip(r.task, NO_VECTOR, "the model's vector for it is not finite (NaN)")
                        continue
                    writer.vectors[r.content_hash] = v
                    known.add(r.content_hash)
                    writer.ready.append(_indexed(r))
                    report.embedded += 1
            to_embed.clear()
            pending.clear()
            for r in waiting:  # copies: indexed with their content, or skipped with it
                if r.content_hash in known:
                    writer.ready.append(_indexed(r))
                else:
                    report.skipped[NO_VECTOR] += 1
                    writer.skip(r.task, NO_VECTOR, "the model's vector for it is not finite (NaN)")
            waiting.clear()

        inflight = max(2 * batch_size, 4 * workers)
        for result in Runner(workers).imap(self.read, todo, inflight):
            report.read += 1
            if result.candidates is not None:
                self._videos.release()  # embedded below, or a copy of one embedded before
            # kinds still to analyse in this content (a video: in its kept frames)
            wanted = [k for k in result.results if result.content_hash not in writer.done[k]]
            writer.take(result, report)
            if result.skip is not None:
                report.skipped[result.skip.reason] += 1
                writer.skip(result.task, result.skip.reason, result.skip.detail)
            elif result.candidates is not None and (result.content_hash not in known or wanted):
                # new, or known but its frames are to be analysed (indexed before without --ocr or
                # --faces; not a copy of a video whose frames this run has just analysed)
                if self._embed_video(result, writer, report, batch_size, claims, wanted,
                                     fresh=result.content_hash not in known):
                    known.add(result.content_hash)
            elif result.content_hash in pending:
                report.reused += 1
                waiting.append(result)
            elif result.pixels is None or result.content_hash in known:  # known (a copy, a rename, a video read
                # again), or embedded since this copy was read
                report.reused += 1
                writer.ready.append(_indexed(result))
            else:
                to_embed.append(result)
                pending.add(result.content_hash)
            if len(to_embed) >= batch_size:
                embed()
            if not to_embed and writer.due():
                writer.commit()
            if progress:
                progress(report, report.read, phases.total)
        embed()

    def _embed_video(self, result: ReadResult, writer: Writer, report: IndexReport, batch_size: int,
                     claims: Claims, wanted: list[str], fresh: bool) -> bool:
        """A video's candidate frames through the encoder; the frames kept (`keep_moments`) are
        written with its file, in one batch: a kill never leaves half a video. The kept frames are
        analysed by the `wanted` kinds; a video embedded before gets only that, onto the frames
        stored then (not `fresh`). False: no frame had a finite vector (the video is skipped)."""
        digest = result.content_hash
        assert result.candidates is not None and digest is not None
        if not fresh:
            stored = self.catalog.frame_keys(self.model, digest)
            self._analyse_frames(stored_frames(result.candidates, stored), wanted, writer, report)
            result.candidates = None
            report.reused += 1
            writer.ready.append(_indexed(result))
            return True
        if digest not in claims.claim(self.model, [digest]):
            report.reused += 1
            writer.ready.append(_indexed(result))
            return True
        report.device = self.encoder.active_device
        cands = result.candidates
        moments, runs = embed_moments(self.encoder.encode_images, self.prep, cands, result.duration or 0.0,
                                      batch_size)
        result.candidates = None
        if not moments:  # every frame's vector was NaN (`keep_moments` keeps none of those)
            report.skipped[NO_VECTOR] += 1
            writer.skip(result.task, NO_VECTOR, "the model's vectors for its frames are not finite (NaN)")
            return False
        for m in moments:
            writer.vectors[m.key(digest)] = m.vector
            if self.thumbs is not None and m.thumb is not None:
                self.thumbs.store(m.key(digest), m.thumb)
        if self.thumbs is not None and moments[0].thumb is not None:
            self.thumbs.store(digest, moments[0].thumb)  # the video's own: its opening
        self._analyse_frames(kept_frames(digest, moments), wanted, writer, report)
        report.embedded += 1
        report.frames_embedded += runs
        report.frames_kept += len(moments)
        writer.ready.append(_indexed(result))
        return True

    def _analyse_frames(self, frames: dict[str, bytes | None], wanted: list[str], writer: Writer,
                        report: IndexReport) -> None:
        """The `wanted` analyses' results for these kept frames (by frame key), into the writer."""
        writer.frames(*analyse_moments([a for a in self.analyses if a.kind in wanted], frames), report)


def _place_of(path: str, places: set[str], root: str) -> str | None:
    """The place among `places` that holds `path`, if any."""
    while places:
        if path in places:
            return path
        parent = os.path.dirname(path)
        if path == root or parent == path:
            return None
        path = parent
    return None


def _unmounted(root: str, known: list[str]) -> bool:
    """A root that held files and is now an empty folder: most likely a mount point whose drive is
    not mounted. Its files are kept offline; `picfind roots remove` forgets them on purpose."""
    if not any(p != root for p in known):
        return False
    try:
        with os.scandir(root) as it:
            return next(it, None) is None
    except OSError:
        return False


def _indexed(r: ReadResult) -> IndexedFile:
    return indexed_file(r.task, r.content_hash, r.meta, r.duration)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector, off while a re-scan builds its maps of a million files and
    contents: it would walk them again and again as they grow (a tenth of a 1M re-scan's CPU),
    and they hold no cycles (reference counting frees them as before)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
