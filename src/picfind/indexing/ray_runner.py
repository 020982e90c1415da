"""Indexing over a Ray cluster: `picfind index ... --ray [ADDRESS]` (`pip install 'picfind[cluster]'`).

The driver (this process) walks the roots, drops unchanged files and writes the catalog, as the
local runner does. The read and embed stages run on the cluster as a Ray Data pipeline: the
files to read become a dataset, and `map_batches` sends each batch to an actor pool, one ONNX
session per actor (`num_gpus=1` per actor when the cluster has GPUs that ONNX Runtime can use,
else one CPU each). An actor reads, hashes and decodes its batch in as many threads as it has
CPUs (a GPU actor has its share of the node's), embeds it (and runs the analyses, OCR and faces,
on contents they have not seen yet, from the same decode) and sends back vectors, image sizes,
thumbnail JPEGs and the analyses' results (texts, face boxes, vectors and small crops), never pixels.
Whether a content already has a vector, or an analysis's result, an actor asks the driver about
the contents it meets, once per batch after hashing its files (`ray_questions.py`), as the local
runner's readers ask the catalog; a known video that an analysis has not seen gets its kept
frames analysed onto the frame keys stored then, with no encoder run. Before embedding, an actor
claims its batch's contents twice over: from the run's `ClaimBook` actor, so copies of one
picture that land in different batches are embedded once, then through the catalog's own
`claims()` (the same call the local indexer makes), so a Ray run and other indexers on a
shared catalog never embed one content twice.

Every node must see the files at the same paths (a shared mount) and have the model installed:
a file a worker cannot read is skipped with its reason and the node's name. With no ADDRESS a
local cluster is started for the run; `auto` joins the running cluster, as Ray's own tools do.
Ctrl-C stops the run and keeps what was written; Ray retries the batches of a worker that dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from hashlib import blake2b
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np

from picfind.indexing.analyses import make_analysis
from picfind.indexing.interrupts import handing_over
from picfind.indexing.ray_questions import VECTORS, Answers, Desk, asking, stored_keys
from picfind.indexing.stages import (
    NO_VECTOR,
    Done,
    IndexOptions,
    IndexReport,
    Phases,
    Progress,
    ReadResult,
    Task,
    Writer,
    auto_workers,
    begin,
    finish,
    indexed_file,
    reading,
    unexpected,
)
from picfind.indexing.videos import analyse_moments, embed_moments, kept_frames, stored_frames
from picfind.media.decode import Meta
from picfind.media.formats import is_video
from picfind.media.thumbnail import encode_thumbnail
from picfind.models.bundle import Bundle
from picfind.models.encoder import Encoder, available_device
from picfind.records import CatalogError

if TYPE_CHECKING:
    from picfind.catalogs.known import KnownContents
    from picfind.catalogs.protocol import Claims

COLUMNS = ("path", "root_id", "size", "mtime_ns", "shown_with")  # a Task's ("": shown with nothing)
HELD_BYTES = 256 << 20  # a batch's pictures wait in memory from hashing to decoding: past this, in parts


class ClaimBook:
    """The contents claimed in this run, as one Ray actor, whatever the catalog: one batch each.
    A batch is known by its files: one that Ray runs again (its worker died) keeps its claims."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}

    def claim(self, batch: str, hashes: list[str]) -> list[str]:
        return [h for h in hashes if self.owner.setdefault(h, batch) == batch]


class EmbedWorker:
    """One actor of the pool: one model session, kept for the whole run."""

    def __init__(self, bundle: str, desk, options: IndexOptions, claims: Claims, book, threads: int,
                 analyses: list[tuple[str, str]] = (), first_run: bool = False) -> None:  # type: ignore[assignment]
        import ray

        self.ray, self.book, self.desk = ray, book, desk
        self.bundle = Bundle.load(bundle)
        threads = min(threads, auto_workers())  # a share of the cluster's CPUs: not more than this node's
        self.encoder = Encoder(self.bundle, threads=threads, spinning=False)
        self.device = self.encoder.active_device  # what the report says: a GPU actor may fall back to its CPU
        self.readers = ThreadPoolExecutor(threads) if threads > 1 else None  # decoding feeds the encoder
        self.known = asking(ray, desk, VECTORS, ask=not first_run)  # the driver answers about the contents met
        # one thread a reader, as the local runner's: the read threads already use the CPUs
        self.analyses = [make_analysis(kind, model, 1 if self.readers else threads) for kind, model in analyses]
        self.done: Done = {kind: asking(ray, desk, kind) for kind, _ in analyses}  # grows: a copy is analysed once
        self.options = options
        self.claims = claims  # this worker's copy: on a shared catalog, its own connection and leases
        self.node = socket.gethostname()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tasks = [Task(os.fsdecode(p), int(r), int(s), int(m), os.fsdecode(w) or None)
                 for p, r, s, m, w in zip(*(batch[c] for c in COLUMNS))]
        results, known = self._read(tasks)
        first: dict[str, ReadResult] = {}  # one model run per content in the batch
        for r in results:
            if r.pixels is not None or r.candidates is not None:
                first.setdefault(r.content_hash, r)
        batch_key = blake2b(b"\0".join(batch["path"]), digest_size=16).hexdigest()
        ours = self.ray.get(self.book.claim.remote(batch_key, list(first)))  # this batch's, in the run
        # known videos read for an analysis only: their stored frames are analysed, nothing embedded
        stale = {h for h in ours if first[h].candidates is not None and h in known}
        stored = stored_keys(self.ray, self.desk, sorted(stale)) if stale else {}
        fresh = [h for h in ours if h not in stale]
        mine = self.claims.claim(self.bundle.name, fresh) if fresh else set()  # no other indexer's
        todo = [r for h, r in first.items() if h in mine and r.pixels is not None]
        vectors = self.encoder.encode_images(np.stack([r.pixels for r in todo])) if todo else []
        by_hash = {r.content_hash: v for r, v in zip(todo, vectors)}
        # a video: its kept moments (key, vector, thumbnail) embedded here, and the analyses of its
        # kept frames (a known one's: those stored), pickled; never its frames
        moments, runs, frames = {}, {}, {}
        for h, r in first.items():
            if r.candidates is None or h not in mine and h not in stale:
                continue
            if h in stale:
                kept = stored_frames(r.candidates, stored.get(h, []))
            else:
                embedded, runs[h] = self._moments(r, len(batch["path"]))
                moments[h] = [(m.key(h), m.vector, m.thumb or b"") for m in embedded]
                kept = kept_frames(h, embedded)
            frames[h] = pickle.dumps(analyse_moments([a for a in self.analyses if a.kind in r.results], kept))
        none = np.zeros(self.bundle.embedding_dim, np.float32)
        carrier = [first.get(r.content_hash or "") is r for r in results]  # the row a content's news rides on
        carries = [c and (r.content_hash in by_hash or r.content_hash in moments) for r, c in zip(results, carrier)]
        return {
            **{c: batch[c] for c in COLUMNS},
            "device": _column(self.device for _ in results),
            "content_hash": _column(r.content_hash or "" for r in results),
            "width": np.array([r.meta.width if r.meta else 0 for r in results], dtype=np.int64),
            "height": np.array([r.meta.height if r.meta else 0 for r in results], dtype=np.int64),
            "taken_at": _column((r.meta and r.meta.taken_at) or "" for r in results),
            "camera": _column((r.meta and r.meta.camera) or "" for r in results),
            "lat": np.array([_position(r.meta and r.meta.lat) for r in results], dtype=np.float64),
            "lon": np.array([_position(r.meta and r.meta.lon) for r in results], dtype=np.float64),
            "skip_reason": _column(r.skip.reason if r.skip else "" for r in results),
            "skip_detail": _column(f"{r.skip.detail} (on {self.node})" if r.skip else "" for r in results),
            # the one result per content that carries its new vector and thumbnail
            "embedded": np.array(carries, bool),
            "vector": np.stack([by_hash.get(r.content_hash, none) for r in results] or [none])[:len(results)],
            "thumb": _column(encode_thumbnail(r.thumb) if carry and r.thumb is not None else b""
                             for r, carry in zip(results, carries)),
            # the analyses' results (kind -> result) and the kinds that failed, pickled: Arrow
            # columns are typed, the results are not
            "results": _column(pickle.dumps((r.results, r.failed)) for r in results),
            "duration": np.array([np.nan if r.duration is None else r.duration for r in results], np.float64),
            "moments": _column(moments.get(r.content_hash, []) if carry else [] for r, carry in zip(results, carries)),
            "frame_results": _column(frames.get(r.content_hash or "", b"") if c else b""
                                     for r, c in zip(results, carrier)),
            "frames": np.array([runs.get(r.content_hash, 0) if carry else 0 for r, carry in zip(results, carries)],
                               np.int64),
        }

    def _moments(self, r: ReadResult, batch_size: int) -> tuple[list, int]:
        return embed_moments(self.encoder.encode_images, self.bundle.preprocessing, r.candidates or [],
                             r.duration or 0.0, batch_size)

    def _read(self, tasks: list[Task]) -> tuple[list[ReadResult], set[str]]:
        """The batch's files read and hashed, then one question to the driver about all their
        contents (and one per analysis), then decoded where that is needed: a question is a Ray
        round trip. Also the contents found to have a vector."""
        results: list[ReadResult] = []
        known: set[str] = set()
        each = self.readers.map if self.readers else map
        for part in _parts(tasks):
            steps = [reading(t, self.bundle.preprocessing, self.options, self.analyses) for t in part]
            hashed = list(each(begin, steps))
            digests = [h for h in hashed if isinstance(h, str)]
            try:
                known |= set(self.known.among(digests))
                asked = (known, {kind: set(seen.among(digests)) for kind, seen in self.done.items()})
            except Exception as e:  # noqa: BLE001 - the driver could not answer: each file's skip says why
                for step in steps:
                    step.close()  # a video's file
                results += [ReadResult(t, skip=unexpected(e)) if isinstance(h, str) else h
                            for t, h in zip(part, hashed)]
                continue
            for result in each(finish, steps, hashed, repeat(asked)):
                for kind in result.results:
                    self.done[kind].add(result.content_hash)  # a copy later in the run is not analysed again
                results.append(result)
        return results, known


def _parts(tasks: list[Task]) -> list[list[Task]]:
    """The batch in parts of at most `HELD_BYTES` of pictures (videos are streamed), each at least one file."""
    parts: list[list[Task]] = [[]]
    held = 0
    for task in tasks:
        size = 0 if is_video(task.path) else task.size
        if parts[-1] and held + size > HELD_BYTES:
            parts.append([])
            held = 0
        parts[-1].append(task)
        held += size
    return parts


def _position(value: float | None) -> float:
    """A latitude or longitude as a column value: NaN when there is none (Arrow columns are typed)."""
    return float("nan") if value is None else value


def _or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _column(values) -> np.ndarray:
    items = list(values)
    out = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        out[i] = v
    return out


def _connect(address: str | None) -> bool:
    """Join the cluster at `address`, or start a local one; True when this call started Ray."""
    import ray

    if ray.is_initialized():
        return False
    logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 configure_logging=True)
    except Exception as e:  # noqa: BLE001 - ray.init raises a bare Exception when a node times out starting
        reason = str(e).splitlines()[0].split(". Please specify")[0]
        raise CatalogError(f"cannot reach the Ray cluster at {address or 'a new local cluster'}: {reason} "
                           "(start one with `ray start --head`, or give --ray alone for a local one)") from None
    ray.data.DataContext.get_current().enable_progress_bars = False
    return True


def _gpus_unusable(ray, gpus: int) -> str:
    """Why the encoder cannot use the cluster's GPUs ("" when it can). A GPU node may have ONNX
    Runtime's CPU build only: an actor there would hold the GPU and embed on one CPU."""
    probe = ray.remote(num_gpus=1, num_cpus=0)(_node_device).remote()
    plural = "s" if gpus > 1 else ""
    try:
        node, device = ray.get(probe, timeout=120)
    except ray.exceptions.GetTimeoutError:
        ray.cancel(probe)
        return f"the cluster's {gpus} GPU{plural} unused: none was free (or its worker started) in 2 minutes"
    except ray.exceptions.RayError as e:  # picfind or ONNX Runtime missing there, a worker that died
        return f"the cluster's {gpus} GPU{plural} unused: the check on a GPU node failed: {_first_line(e)}"
    if device == "cuda":
        return ""
    return (f"the cluster's {gpus} GPU{plural} unused: ONNX Runtime on {node} has no CUDA provider "
            "(pip install onnxruntime-gpu there)")


def _node_device() -> tuple[str, str]:
    return socket.gethostname(), available_device()


def _first_line(error: Exception) -> str:
    """The cause of a task's failure, as one line (Ray wraps it in a traceback of the worker's)."""
    cause = getattr(error, "cause", None) or error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[-1]


@dataclass
class RayStages:
    """The read and embed stages on a Ray cluster (see `indexer.Stages`)."""

    address: str | None  # None: start a local cluster for this run
    bundle: Bundle
    options: IndexOptions

    def __call__(self, phases: Phases, known: KnownContents, report: IndexReport, writer: Writer,
                 progress: Progress | None) -> None:
        ray, started = None, False
        try:
            for todo in phases:  # one cluster for every turn; none when nothing changed
                # Ray prints cluster events (a worker died, ...) on stdout, which is the JSON report's
                with contextlib.redirect_stdout(sys.stderr):
                    if todo and ray is None:
                        ray, started = self._join()
                    if todo:
                        self._run(ray, todo, phases, known, report, writer, progress)
        finally:
            if started:
                with contextlib.redirect_stdout(sys.stderr):
                    ray.shutdown()

    def _join(self) -> tuple[object, bool]:  # Ray, and whether this run started its cluster
        os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")  # the run's own progress bar says how it goes
        try:
            import ray
        except ImportError:
            raise CatalogError("--ray needs the cluster extra: pip install 'picfind[cluster]'") from None
        return ray, _connect(self.address)

    def _run(self, ray, todo: list[Task], phases: Phases, known: KnownContents, report: IndexReport, writer: Writer,
             progress: Progress | None) -> None:
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        unused = _gpus_unusable(ray, gpus) if gpus else ""
        if unused:
            gpus = 0
        workers = self.options.workers or (gpus or cpus)
        threads = max(1, cpus // workers)  # each actor's share of the CPUs: its read threads, and its encoder's
        batch_size = self.options.batch_size or (64 if gpus else 16)
        rows = [{"path": os.fsencode(t.path), "root_id": t.root_id, "size": t.size, "mtime_ns": t.mtime_ns,
                 "shown_with": os.fsencode(t.shown_with or "")} for t in todo]
        blocks = min(len(rows), max(workers, min(len(rows) // batch_size, 4 * workers)))
        book = ray.remote(num_cpus=0)(ClaimBook).remote()
        desk = ray.remote(num_cpus=0)(Desk).remote()
        first_run = not writer.catalog.count_vectors(self.bundle.name)  # only what the run embeds can be known
        answers = Answers(ray, desk, writer.catalog, self.bundle.name, known, writer.done)
        answers.start()
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        ds = ds.map_batches(EmbedWorker, batch_size=batch_size, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=workers),
                            num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1,
                            fn_constructor_kwargs={"bundle": str(self.bundle.path), "desk": desk,
                                                   "options": self.options, "claims": writer.catalog.claims(),
                                                   "book": book, "threads": threads,
                                                   "analyses": [(a.kind, a.model) for a in writer.analyses.values()],
                                                   "first_run": first_run})
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
                for i in range(len(batch["path"])):
                    with handing_over():  # counted and kept together, or neither
                        self._take(batch, i, known, report, writer)
                    if progress:
                        progress(report, report.read, phases.total)
                if report.embedded:
                    report.device = (f"ray ({workers} {'GPU' if gpus else 'CPU'} worker{'s' * (workers != 1)}, "
                                     f"encoder on {batch['device'][0]}{'; ' + unused if unused else ''})")
                if writer.due():
                    writer.commit()
        finally:
            answers.stop()

    @staticmethod
    def _take(batch: dict[str, np.ndarray], i: int, known: KnownContents, report: IndexReport,
              writer: Writer) -> None:
        """One file's result into the writer."""
        report.read += 1
        path = os.fsdecode(batch["path"][i])
        stat = (int(batch["root_id"][i]), int(batch["size"][i]), int(batch["mtime_ns"][i]))
        if batch["skip_reason"][i]:
            report.skipped[batch["skip_reason"][i]] += 1
            writer.skip(Task(path, *stat), batch["skip_reason"][i], batch["skip_detail"][i])
            return
        digest = batch["content_hash"][i]
        results, failed = pickle.loads(batch["results"][i])
        writer.take(ReadResult(Task(path, *stat), digest, results=results, failed=failed), report)
        moments = list(batch["moments"][i])  # Ray may hand a list back as an array
        vectors = [batch["vector"][i]] if not moments else [m[1] for m in moments]
        # a video none of whose frames had a finite vector: `keep_moments` kept none
        no_frame = not moments and not np.isnan(batch["duration"][i])
        if batch["embedded"][i] and (no_frame or not all(np.isfinite(v).all() for v in vectors)):
            report.skipped[NO_VECTOR] += 1
            writer.skip(Task(path, *stat), NO_VECTOR, "the model's vector for it is not finite (NaN)")
            return
        if batch["embedded"][i]:
            report.embedded += 1
            report.frames_embedded += int(batch["frames"][i])
            report.frames_kept += len(moments)
            if digest not in known:  # a copy embedded by another actor too: one vector is kept
                for key, vector, thumb in moments:
                    writer.vectors[key] = vector
                    if thumb:
                        writer.catalog.thumbnails.store(key, bytes(thumb))
                if batch["frame_results"][i]:
                    writer.frames(*pickle.loads(batch["frame_results"][i]), report)
                if moments:  # a video's own thumbnail: its opening
                    batch["thumb"][i] = moments[0][2]
                else:
                    writer.vectors[digest] = batch["vector"][i]
                known.add(digest)
            if batch["thumb"][i]:
                writer.catalog.thumbnails.store(digest, bytes(batch["thumb"][i]))
        else:
            report.reused += 1
            if batch["frame_results"][i]:  # a known video's stored frames, analysed now
                writer.frames(*pickle.loads(batch["frame_results"][i]), report)
        meta = Meta(int(batch["width"][i]), int(batch["height"][i]), batch["taken_at"][i] or None,
                    batch["camera"][i] or None, _or_none(batch["lat"][i]), _or_none(batch["lon"][i]))
        writer.ready.append(indexed_file(Task(path, *stat), digest, meta, _or_none(batch["duration"][i])))
