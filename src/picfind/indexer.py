"""The indexing job: reader -> embedder -> writer.

* reader (a pool of threads, see `Runner`): read the file once, hash it, and only when that
  content has no vector yet, decode and preprocess it;
* embedder: batches of preprocessed pictures through the image encoder;
* writer: one catalog transaction every couple of seconds, so a kill loses at most that batch.

Decoding and hashing release the GIL, so reader threads run while the encoder computes.
The stages meet in a bounded queue of futures, so memory stays flat for any library size.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .crawl import Found, Unreachable, identities, walk
from .decode import DEFAULT_MAX_PIXELS, Meta, SkipFile, decode, probe
from .embed import Encoder
from .models import models_dir
from .preprocess import Preprocessing
from .records import FileStat, IndexedFile, SkippedFile
from .safefile import MAX_FILE_BYTES
from .thumbs import SIZE as THUMB_SIZE
from .thumbs import encode_thumbnail

if TYPE_CHECKING:
    from .backend import CatalogBackend
    from .ocr import TextReader

# Skips worth retrying on every run: the file may be readable next time.
TRANSIENT = {"permission denied", "vanished", "unreadable"}
# Decode for OCR at least this big on the short side (JPEG draft stays coarse): decoding at CLIP's
# size alone costs less but misses a quarter of the words 1/60 of the height tall (ocr.py --sweep).
OCR_MIN_SIDE = 1024


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class IndexOptions:
    batch_size: int = 0  # images per encoder batch; 0 = automatic (16 on a CPU, 64 on a GPU)
    workers: int = 0  # reader threads; 0 = automatic
    max_pixels: int = DEFAULT_MAX_PIXELS
    draft_factor: float = 2.0  # decode JPEGs down to >= this x the model's input size
    commit_seconds: float = 2.0
    thumbnails: bool = True  # write a small cached thumbnail of each new picture


Task = FileStat  # a file to read


@dataclass
class ReadResult:
    task: Task
    content_hash: str | None = None
    meta: Meta | None = None
    pixels: np.ndarray | None = None
    skip: SkipFile | None = None
    thumb: Image.Image | None = None
    text: str | None = None  # read by OCR now ('' for none); None when not read
    text_failed: bool = False  # OCR raised on this picture (its text is read again next run)


@dataclass
class IndexReport:
    roots: list[str] = field(default_factory=list)
    files_seen: int = 0
    unchanged: int = 0
    read: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: Counter = field(default_factory=Counter)
    removed: int = 0
    texts_read: int = 0  # pictures OCR read in this run
    texts_found: int = 0  # of them, those that hold text
    texts_failed: int = 0  # pictures OCR failed on (tried again next run)
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
# (files to read, contents the catalog has, the report, the writer, progress)
Stages = Callable[[list[Task], set[str], IndexReport, "Writer", Progress | None], None]


def read_file(task: Task, known: set[str] | frozenset[str], prep: Preprocessing, options: IndexOptions,
              ocr: TextReader | None = None, texts: set[str] | frozenset[str] = frozenset()) -> ReadResult:
    """The read stage, on whichever machine runs it: read the file once, hash it, and only when
    that content is not in `known`, decode and preprocess it (and keep a small image to make its
    thumbnail from); with `ocr`, also read the text of a content not in `texts` (from the same
    decode). Pure: no catalog, no encoder, so a cluster worker can run it."""
    try:
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
        need_text = ocr is not None and digest not in texts
        if digest in known and not need_text:
            try:
                meta = probe(data)
            except Exception:  # noqa: BLE001 - the content decoded before; sizes are a nicety
                meta = None
            return ReadResult(task, digest, meta)
        min_side = int(prep.size * options.draft_factor)
        # One decode serves both: OCR wants more pixels than CLIP (small text).
        decoded = decode(data, max(min_side, OCR_MIN_SIDE) if need_text else min_side, options.max_pixels)
        text, failed = None, False
        if need_text:
            try:
                text = ocr.read(np.asarray(decoded.image))
            except Exception:  # noqa: BLE001 - one odd picture must not stop the run; read again next time
                failed = True
        if digest in known:
            return ReadResult(task, digest, decoded.meta, text=text, text_failed=failed)
        image = decoded.image
        if need_text and min(image.size) >= 2 * min_side:
            # decoded big for OCR: box-reduce the encoder's copy to about the size it is decoded at
            # without OCR (as the JPEG draft would), so its resize costs what it does then
            image = image.reduce(min(image.size) // min_side)
        resized = prep.resize(image)
        # the thumbnail from the small image already made when big enough: nearly free
        small_enough = prep.keeps_aspect and min(resized.size) >= THUMB_SIZE * 3 // 4  # same proportions
        thumb = (resized if small_enough else decoded.image) if options.thumbnails else None
        return ReadResult(task, digest, decoded.meta, prep.tensor(resized), thumb=thumb, text=text,
                          text_failed=failed)
    except SkipFile as skip:
        return ReadResult(task, skip=skip)


class Writer:
    """The write stage: finished files, their new vectors and skipped files, written in one
    catalog transaction every `commit_seconds` (a kill loses at most that batch)."""

    def __init__(self, catalog: CatalogBackend, model: str, commit_seconds: float,
                 indexed_before: set[str] | frozenset[str] = frozenset(), ocr_model: str | None = None,
                 texts_read: set[str] | None = None) -> None:
        self.catalog, self.model, self.commit_seconds = catalog, model, commit_seconds
        self.indexed_before = indexed_before  # files read again that had a vector
        self.ocr_model = ocr_model  # the OCR model whose texts `texts` holds
        self.texts_read = set() if texts_read is None else texts_read  # contents whose text it has read
        self.ready: list[IndexedFile] = []
        self.vectors: dict[str, np.ndarray] = {}
        self.skipped: list[SkippedFile] = []
        self.texts: dict[str, str] = {}  # content hash -> text read in this batch
        self.last_commit = time.monotonic()

    def skip(self, t: Task, reason: str, detail: str) -> None:
        # A passing failure (permissions, a flaky drive) keeps what was indexed before: its
        # vector is not pruned, and the next run reads the file again.
        if reason not in TRANSIENT or t.path not in self.indexed_before:
            self.skipped.append(SkippedFile(t.path, t.root_id, t.size, t.mtime_ns, reason, detail))

    def text(self, digest: str | None, text: str | None, failed: bool, report: IndexReport) -> None:
        """Keep the text OCR read from a picture (None: not read), once per content."""
        report.texts_failed += failed
        if digest is not None and text is not None and digest not in self.texts_read:
            self.texts[digest] = text
            self.texts_read.add(digest)
            report.texts_read += 1
            report.texts_found += bool(text)

    def due(self) -> bool:
        return (time.monotonic() - self.last_commit >= self.commit_seconds
                or len(self.ready) + len(self.skipped) >= 4096)

    def commit(self) -> None:
        self.catalog.write_batch(self.model, self.ready, self.vectors, self.skipped)
        if self.texts:
            self.catalog.put_texts(self.ocr_model, self.texts)
            self.texts.clear()
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
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    yield from (f.result() for f in done)
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def auto_workers() -> int:
    """Reader threads for this machine: one per core, since they wait on the GIL-free parts."""
    return max(1, os.cpu_count() or 1)


class Indexer:
    def __init__(self, catalog: CatalogBackend, encoder: Encoder, options: IndexOptions | None = None,
                 stages: Stages | None = None, ocr: TextReader | None = None) -> None:
        self.catalog = catalog
        self.stages = stages  # how read and embed run; None: threads here (`_local`)
        self.ocr = ocr  # read each content's text too, once per OCR model
        self.encoder = encoder
        self.encoder.spinning = False  # idle encoder threads must not steal the decoders' cores
        self.options = options or IndexOptions()
        self.thumbs = catalog.thumbnails if self.options.thumbnails else None
        self.model = encoder.bundle.name
        self.prep = encoder.bundle.preprocessing
        self._known: set[str] = set()
        self._texts: set[str] = set()  # contents whose text the OCR model has read
        self._indexed_before: set[str] = set()  # files to read again that had a vector

    def read(self, task: Task) -> ReadResult:
        result = read_file(task, self._known, self.prep, self.options, self.ocr, self._texts)
        if result.thumb is not None:
            if self.thumbs is not None:
                self.thumbs.store(result.content_hash, encode_thumbnail(result.thumb))
            result.thumb = None
        return result

    def plan(self, roots: list, report: IndexReport) -> tuple[list[Task], list[SkippedFile], list[str]]:
        """Walk the roots; return the files to read, the unreachable places, the files gone.
        Files known under a place that could not be read are not gone: they are marked offline."""
        todo: list[Task] = []
        unreachable: list[SkippedFile] = []
        gone: list[str] = []
        all_roots = self.catalog.roots()
        own = identities([*self.catalog.own_files(), str(models_dir())])
        for root in roots:
            # Never picfind's own files; and an inner root's files are the inner root's.
            skip = own | identities([r.path for r in all_roots if r.id != root.id])
            known = self.catalog.files_of_root(root.id)
            seen: set[str] = set()
            places: set[str] = set()
            for item in walk(root.path, root.extensions, root.excludes, skip):
                if isinstance(item, Unreachable):
                    if item.place:
                        places.add(item.path)
                    if not item.place or item.reason != "broken symlink":  # a link to a folder is not a file
                        seen.add(item.path)
                        unreachable.append(SkippedFile(item.path, root.id, 0, 0, item.reason, item.detail))
                    continue
                assert isinstance(item, Found)
                seen.add(item.path)
                report.files_seen += 1
                rec = known.get(item.path)
                if (rec is not None and rec.size == item.size and rec.mtime_ns == item.mtime_ns
                        and (rec.status == "ok" and rec.content_hash in self._known and rec.meta_read
                             and (self.ocr is None or rec.content_hash in self._texts)
                             or rec.status == "skipped" and rec.content_hash is None
                             and rec.reason not in TRANSIENT)):
                    report.unchanged += 1
                    continue
                if rec is not None and rec.status == "ok":
                    self._indexed_before.add(item.path)
                todo.append(Task(item.path, root.id, item.size, item.mtime_ns))
            if not seen and _unmounted(root.path, known):
                places.add(root.path)
            offline: dict[str, list[str]] = {}
            for path, rec in known.items():
                if path in seen:
                    continue
                folder = rec.status == "skipped" and rec.size == rec.mtime_ns == 0  # an unreadable folder's row
                place = None if folder else _place_of(path, places, root.path)
                if place is None:
                    gone.append(path)
                    report.removed += not folder
                else:
                    offline.setdefault(place, []).append(path)
            self.catalog.mark_offline(root.id, offline)
            report.offline.update({place: len(files) for place, files in offline.items()})
        return todo, unreachable, gone

    def run(self, roots: list, progress: Progress | None = None) -> IndexReport:
        started = time.monotonic()
        report = IndexReport(roots=[r.path for r in roots])
        self._known = self.catalog.embedded_hashes(self.model)
        self._texts = self.catalog.texts_read(self.ocr.model.name) if self.ocr else set()
        todo, unreachable, gone = self.plan(roots, report)
        for u in unreachable:
            report.skipped[u.reason] += 1
        self.catalog.write_batch(self.model, [], {}, unreachable, gone)

        writer = Writer(self.catalog, self.model, self.options.commit_seconds, self._indexed_before,
                        self.ocr.model.name if self.ocr else None, self._texts)
        try:
            (self.stages or self._local)(todo, self._known, report, writer, progress)
            writer.commit()
            if gone:
                # Only now: a picture moved or renamed in this run has its new file written, so
                # its vector is not an orphan. (An interrupted run prunes next time.)
                self.catalog.thumbnails.remove(self.catalog.prune_embeddings())
        except KeyboardInterrupt:
            report.interrupted = True
            writer.commit()  # keep every file that is complete
        report.seconds = time.monotonic() - started
        return report

    def _local(self, todo: list[Task], known: set[str], report: IndexReport, writer: Writer,
               progress: Progress | None) -> None:
        """Read in a pool of threads (they consult `known`), embed here in batches."""
        opts = self.options
        batch_size = opts.batch_size or (64 if self.encoder.device == "cuda" else 16)
        workers = opts.workers or auto_workers()
        to_embed: list[ReadResult] = []
        waiting: list[ReadResult] = []  # copies of content that is in `to_embed`, not yet embedded
        pending: set[str] = set()  # content hashes in `to_embed`

        def embed() -> None:
            if not to_embed:
                return
            # On a shared catalog another indexer may be embedding some of these contents now: it
            # writes their vectors; this run writes only the files.
            mine = self.catalog.claim(self.model, [r.content_hash for r in to_embed])
            batch = [r for r in to_embed if r.content_hash in mine]
            theirs = [_indexed(r) for r in to_embed if r.content_hash not in mine]
            report.reused += len(theirs)
            writer.ready.extend(theirs)
            if batch:
                report.device = self.encoder.active_device
                out = self.encoder.encode_images(np.stack([r.pixels for r in batch]))
                for r, v in zip(batch, out):
                    writer.vectors[r.content_hash] = v
                    known.add(r.content_hash)
                    writer.ready.append(_indexed(r))
                report.embedded += len(batch)
            to_embed.clear()
            pending.clear()
            writer.ready.extend(_indexed(r) for r in waiting)
            waiting.clear()

        inflight = max(2 * batch_size, 4 * workers)
        for result in Runner(workers).imap(self.read, todo, inflight):
            report.read += 1
            writer.text(result.content_hash, result.text, result.text_failed, report)
            if result.skip is not None:
                report.skipped[result.skip.reason] += 1
                writer.skip(result.task, result.skip.reason, result.skip.detail)
            elif result.content_hash in pending:
                report.reused += 1
                waiting.append(result)
            elif result.pixels is None:
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
                progress(report, report.read, len(todo))
        embed()


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


def _unmounted(root: str, known: dict) -> bool:
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
    t, m = r.task, r.meta
    if m is None:
        return IndexedFile(t.path, t.root_id, t.size, t.mtime_ns, r.content_hash, 0, 0)
    return IndexedFile(t.path, t.root_id, t.size, t.mtime_ns, r.content_hash, m.width, m.height, m.taken_at, m.camera)
