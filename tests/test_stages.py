"""The indexer's stages on their own, in milliseconds: the reader (`read_file`), the writer, the
threaded runner, and the indexer's bookkeeping (copies, renames, an interrupted run) on a real
SQLite catalog. A small stand-in encoder is used only there, where what counts is which pictures
reach the model, not what it answers; the real model's runs are in the end-to-end tests."""

from __future__ import annotations

import io
import os
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from picfind.catalogs.opening import open_catalog
from picfind.catalogs.protocol import CatalogBackend
from picfind.indexing.indexer import Indexer
from picfind.indexing.ray_runner import ClaimBook
from picfind.indexing.stages import (
    IndexOptions,
    IndexReport,
    ReadResult,
    Runner,
    Task,
    Writer,
    content_hash,
    read_file,
)
from picfind.media.formats import EXTENSIONS
from picfind.media.safefile import MAX_FILE_BYTES
from picfind.models.preprocess import Preprocessing
from picfind.records import IndexedFile, SkippedFile

PREP = Preprocessing(size=32)
MODEL = "stand-in"


def picture(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> Task:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    st = path.stat()
    return Task(str(path), 1, st.st_size, st.st_mtime_ns)


def task_of(path: Path) -> Task:
    st = path.stat()
    return Task(str(path), 1, st.st_size, st.st_mtime_ns)


# --- the reader ---------------------------------------------------------------------------------

def test_new_content_is_hashed_decoded_and_preprocessed(tmp_path: Path) -> None:
    task = picture(tmp_path / "a.png", (200, 10, 10))
    result = read_file(task, set(), PREP, IndexOptions())
    assert result.skip is None and result.content_hash == content_hash(Path(task.path).read_bytes())
    assert result.pixels is not None and result.pixels.shape == (3, 32, 32) and result.pixels.dtype == np.float32
    assert (result.meta.width, result.meta.height) == (96, 64)
    assert result.thumb is not None and result.results == {} and not result.failed
    assert read_file(task, set(), PREP, IndexOptions(thumbnails=False)).thumb is None


def test_known_content_is_only_probed(tmp_path: Path) -> None:
    task = picture(tmp_path / "a.png", (10, 200, 10))
    known = {content_hash(Path(task.path).read_bytes())}
    result = read_file(task, known, PREP, IndexOptions())
    assert result.content_hash in known and result.pixels is None and result.thumb is None
    assert (result.meta.width, result.meta.height) == (96, 64)  # its size, from the header alone
    # known bytes whose header no longer probes: still the content's file, without sizes
    odd = tmp_path / "odd.png"
    odd.write_bytes(b"not an image at all")
    result = read_file(task_of(odd), {content_hash(odd.read_bytes())}, PREP, IndexOptions())
    assert result.skip is None and result.meta is None and result.pixels is None


def test_a_file_past_the_size_limit_is_skipped_unread(tmp_path: Path) -> None:
    nowhere = Task(str(tmp_path / "never-made.jpg"), 1, MAX_FILE_BYTES + 1, 0)
    result = read_file(nowhere, set(), PREP, IndexOptions())
    assert result.skip.reason == "file too large"  # not "vanished": it was never opened


@pytest.mark.parametrize(("make", "reason"), [
    (lambda p: None, "vanished"),
    (lambda p: p.write_bytes(b"hello, not a picture"), "not an image"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(_png()[:200]), "truncated or corrupt"),
    (lambda p: p.mkdir(), "unreadable"),
])
def test_a_file_that_cannot_be_indexed_is_skipped_with_its_reason(tmp_path: Path, make, reason: str) -> None:
    path = tmp_path / "x.png"
    make(path)
    result = read_file(Task(str(path), 1, 10, 0), set(), PREP, IndexOptions())
    assert result.skip is not None and result.skip.reason == reason and result.skip.detail
    assert result.content_hash is None and result.pixels is None


def _png() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((64, 64), 40).convert("RGB").save(out, "PNG")
    return out.getvalue()


def test_a_file_nobody_may_read_is_skipped_as_permission_denied(tmp_path: Path) -> None:
    task = picture(tmp_path / "locked.png", (1, 2, 3))
    Path(task.path).chmod(0o000)
    try:
        reason = _skip_reason_as_a_user(task)
    finally:
        Path(task.path).chmod(0o644)
    assert reason == "permission denied"


def _skip_reason_as_a_user(task: Task) -> str | None:
    """`read_file`'s skip reason in a process for which permissions apply: as root, a forked
    child that has become `nobody` (root reads any file whatever its mode)."""
    if os.geteuid() != 0:
        result = read_file(task, set(), PREP, IndexOptions())
        return result.skip.reason if result.skip else None
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        try:
            os.setgid(65534)
            os.setuid(65534)
            result = read_file(task, set(), PREP, IndexOptions())
            os.write(writable, pickle.dumps(result.skip.reason if result.skip else None))
        finally:
            os._exit(0)
    os.close(writable)
    with os.fdopen(readable, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    return pickle.loads(answer)


# --- the writer ---------------------------------------------------------------------------------

@pytest.fixture()
def catalog(tmp_path: Path) -> Iterator[CatalogBackend]:
    opened = open_catalog(tmp_path / "catalog.db")
    yield opened
    opened.close()


def _indexed(task: Task, digest: str) -> IndexedFile:
    return IndexedFile(task.path, task.root_id, task.size, task.mtime_ns, digest, 8, 8)


def test_the_writer_commits_when_due_and_starts_afresh(catalog: CatalogBackend, tmp_path: Path) -> None:
    root = catalog.add_root(str(tmp_path), list(EXTENSIONS), [])
    writer = Writer(catalog, MODEL, commit_seconds=3600)
    assert not writer.due()
    task = Task(str(tmp_path / "a.png"), root.id, 1, 1)
    writer.ready.append(_indexed(task, "ha"))
    writer.vectors["ha"] = np.ones(4, np.float32) / 2
    writer.skip(Task(str(tmp_path / "b.png"), root.id, 1, 1), "not an image", "bytes")
    assert not writer.due()  # neither time nor size says so yet
    writer.last_commit -= 3600
    assert writer.due()
    writer.commit()
    assert not writer.due() and not (writer.ready or writer.vectors or writer.skipped)
    files = catalog.files_of_root(root.id)
    assert files[task.path].content_hash == "ha" and files[str(tmp_path / "b.png")].reason == "not an image"
    assert catalog.embedded_hashes(MODEL) == {"ha"}
    writer.ready.extend(_indexed(Task(f"{tmp_path}/{i}.png", root.id, 1, 1), "ha") for i in range(4096))
    assert writer.due()  # a big batch is written whatever the clock says
    assert Writer(catalog, MODEL, commit_seconds=0).due()


def test_a_passing_failure_keeps_a_file_indexed_before(catalog: CatalogBackend, tmp_path: Path) -> None:
    root = catalog.add_root(str(tmp_path), list(EXTENSIONS), [])
    before, new = Task(str(tmp_path / "a.png"), root.id, 1, 1), Task(str(tmp_path / "b.png"), root.id, 1, 1)
    catalog.write_batch(MODEL, [_indexed(before, "ha")], {"ha": np.ones(4, np.float32) / 2}, [])
    writer = Writer(catalog, MODEL, 2.0, indexed_before={before.path})
    for reason in ("permission denied", "vanished", "unreadable"):
        writer.skip(before, reason, "for now")  # retried next run: the file and its vector stay
    writer.skip(new, "permission denied", "never indexed")  # nothing to keep: recorded
    writer.commit()
    files = catalog.files_of_root(root.id)
    assert (files[before.path].status, files[before.path].content_hash) == ("ok", "ha")
    assert files[new.path].reason == "permission denied"
    assert catalog.prune_embeddings() == [] and catalog.embedded_hashes(MODEL) == {"ha"}
    writer.skip(before, "not an image", "for good")  # a lasting reason replaces it
    writer.commit()
    assert catalog.files_of_root(root.id)[before.path].status == "skipped"


def test_the_writer_keeps_each_contents_text_once(catalog: CatalogBackend) -> None:
    ocr = SimpleNamespace(kind="texts", model="ocr", found=lambda text: int(bool(text)))
    writer, report = Writer(catalog, MODEL, 2.0, analyses=[ocr], done={"texts": {"known"}}), IndexReport()
    writer.result("texts", "ha", "EXIT", report)
    writer.result("texts", "ha", "EXIT", report)  # a copy read in the same run
    writer.result("texts", "hb", "", report)  # read, nothing found
    writer.result("texts", "known", "old", report)  # read by an earlier run
    writer.failed("texts", report)  # OCR failed on hc: read again next run
    writer.commit()
    assert (report.texts_read, report.texts_found, report.texts_failed) == (2, 1, 1)
    assert catalog.texts_read("ocr") == {"ha", "hb"} and catalog.texts_of("ocr", ["ha", "hb"]) == {"ha": "EXIT"}


# --- the runner ---------------------------------------------------------------------------------

def _result(task: Task) -> ReadResult:
    return ReadResult(task, content_hash=task.path)


def test_the_runner_yields_in_completion_order() -> None:
    second_done = threading.Event()
    release_first = threading.Event()

    def read(task: Task) -> ReadResult:
        if task.path == "first":  # runs beside the second, and ends only once the second was yielded
            assert second_done.wait(10) and release_first.wait(10), "the second task never ran beside the first"
        else:
            second_done.set()
        return _result(task)

    tasks = [Task("first", 1, 0, 0), Task("second", 1, 0, 0)]
    results = Runner(2).imap(read, tasks, inflight=4)
    order = [next(results).task.path]
    release_first.set()
    order += [r.task.path for r in results]
    assert order == ["second", "first"]
    assert [r.task.path for r in Runner(0).imap(_result, tasks, inflight=4)] == ["first", "second"]  # in place


def test_the_runner_keeps_at_most_inflight_tasks_in_the_air() -> None:
    taken, yielded, most = 0, 0, 0

    def tasks() -> Iterator[Task]:
        nonlocal taken
        for i in range(200):
            taken += 1
            yield Task(str(i), 1, 0, 0)

    for _ in Runner(8).imap(_result, tasks(), inflight=5):
        yielded += 1
        most = max(most, taken - yielded + 1)
    assert yielded == 200 and most <= 5


def test_a_runner_left_early_reads_no_further() -> None:
    calls = 0
    lock = threading.Lock()

    def read(task: Task) -> ReadResult:
        nonlocal calls
        with lock:
            calls += 1
        return _result(task)

    results = Runner(2).imap(read, (Task(str(i), 1, 0, 0) for i in range(1000)), inflight=4)
    next(results)
    results.close()  # the consumer stopped (Ctrl-C): queued reads are cancelled
    assert calls <= 8


def test_a_ray_runs_claim_book_gives_each_content_to_one_batch_and_keeps_a_retried_batchs() -> None:
    book = ClaimBook()
    assert book.claim("batch-1", ["a", "b"]) == ["a", "b"]
    assert book.claim("batch-2", ["b", "c"]) == ["c"]  # b is batch-1's copy
    assert book.claim("batch-1", ["a", "b"]) == ["a", "b"]  # batch-1 again (its worker died)


# --- the indexer's bookkeeping, with a stand-in encoder -----------------------------------------

class StandInEncoder:
    """What the indexer needs of `Encoder`: its bundle's name and preprocessing, a device, and
    `encode_images`. A unit vector per picture from its pixels; counts what reached it."""

    def __init__(self, fail_on_call: int = 0) -> None:
        self.bundle = SimpleNamespace(name=MODEL, preprocessing=PREP)
        self.device = self.active_device = "cpu"
        self.spinning = True
        self.embedded: list[np.ndarray] = []
        self.calls, self.fail_on_call = 0, fail_on_call

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt  # Ctrl-C while the model runs
        self.embedded.extend(pixels)
        flat = pixels.reshape(len(pixels), -1)[:, ::97].astype(np.float32) + 3.0
        return flat / np.linalg.norm(flat, axis=1, keepdims=True)


def index(catalog: CatalogBackend, encoder: StandInEncoder, folder: Path, **options) -> IndexReport:
    root = catalog.add_root(str(folder), list(EXTENSIONS), [])
    opts = IndexOptions(**{"workers": 2, "batch_size": 2, "commit_seconds": 3600, **options})
    return Indexer(catalog, encoder, opts).run([root])  # type: ignore[arg-type]


def colours(n: int) -> list[tuple[int, int, int]]:
    return [(20 * i, 255 - 20 * i, (60 * i) % 256) for i in range(n)]


def test_copies_and_renames_reuse_their_vector(catalog: CatalogBackend, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for i, colour in enumerate(colours(3)):
        picture(lib / f"p{i}.png", colour)
    (lib / "copy.png").write_bytes((lib / "p1.png").read_bytes())
    encoder = StandInEncoder()
    report = index(catalog, encoder, lib)
    assert (report.read, report.embedded, report.reused, len(encoder.embedded)) == (4, 3, 1, 3)
    assert catalog.count_vectors(MODEL) == 3 and len(list(catalog.thumbnails.folder.rglob("*.jpg"))) == 3

    (lib / "p0.png").rename(lib / "renamed.png")
    (lib / "sub").mkdir()
    (lib / "sub" / "copy2.png").write_bytes((lib / "p2.png").read_bytes())
    encoder = StandInEncoder()
    report = index(catalog, encoder, lib)
    assert (report.unchanged, report.read, report.removed) == (3, 2, 1)
    assert (report.embedded, report.reused, encoder.embedded) == (0, 2, [])  # no model run at all
    assert catalog.count_vectors(MODEL) == 3 and catalog.stats(MODEL)["images_indexed"] == 5
    assert catalog.prune_embeddings() == []  # the renamed picture's vector was not orphaned

    (lib / "renamed.png").unlink()
    report = index(catalog, StandInEncoder(), lib)
    assert report.removed == 1 and catalog.count_vectors(MODEL) == 2  # the run pruned its vector


def test_an_interrupted_run_keeps_what_it_committed(catalog: CatalogBackend, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for i, colour in enumerate(colours(6)):
        picture(lib / f"p{i}.png", colour)
    (lib / "bad.png").write_bytes(b"not a picture")
    # one reader, batches of 2, a commit after each: the second batch is interrupted in the model
    report = index(catalog, StandInEncoder(fail_on_call=2), lib, workers=1, commit_seconds=0)
    assert report.interrupted and report.embedded == 2
    stats = catalog.stats(MODEL)
    assert (stats["images_indexed"], stats["embedded_with_model"], stats["skipped"]) == (2, 2, 1)
    assert catalog.count_vectors(MODEL) == 2

    encoder = StandInEncoder()
    report = index(catalog, encoder, lib)
    assert not report.interrupted and report.unchanged == 3  # two pictures and the non-picture
    assert report.read == report.embedded == len(encoder.embedded) == 4
    stats = catalog.stats(MODEL)
    assert (stats["images_indexed"], stats["embedded_with_model"], stats["skipped"]) == (6, 6, 1)


def test_a_file_skipped_for_a_passing_reason_is_read_again_and_a_lasting_one_is_not(
        catalog: CatalogBackend, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    picture(lib / "ok.png", (9, 9, 9))
    (lib / "bad.png").write_bytes(b"not a picture")
    assert index(catalog, StandInEncoder(), lib).skipped == {"not an image": 1}
    back = picture(lib / "back.png", (1, 1, 1))  # gone while the last run read it, back unchanged since
    root = catalog.roots()[0]
    catalog.write_batch(MODEL, [], {}, [SkippedFile(back.path, root.id, back.size, back.mtime_ns, "vanished")])
    report = index(catalog, StandInEncoder(), lib)
    assert (report.unchanged, report.read, report.embedded) == (2, 1, 1)  # bad.png is not read again


def test_a_rescan_passes_over_unchanged_files_in_the_walk_and_takes_back_those_still_wanting(
        catalog: CatalogBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-scan's unchanged files never leave the walk (a million would each cost a hand-over);
    one that still wants something (here the text OCR now asked for) is read though unchanged."""
    from picfind.indexing import rescan
    from picfind.indexing.stages import TRANSIENT
    lib = tmp_path / "lib"
    for i, colour in enumerate(colours(4)):
        picture(lib / f"p{i}.png", colour)
    index(catalog, StandInEncoder(), lib)
    picture(lib / "new.png", (1, 2, 3))
    yielded: list = []

    def counted(*args, **kwargs):
        for item in walk(*args, **kwargs):
            yielded.append(item)
            yield item
    walk = rescan.walk
    monkeypatch.setattr(rescan, "walk", counted)
    root = catalog.roots()[0]
    c = rescan.compare(catalog, root, set(), None, MODEL, [], TRANSIENT)
    assert [os.path.basename(f.path) for f, known in c.changed] == ["new.png"] and (c.files, c.unchanged) == (5, 4)
    assert [os.path.basename(item.path) for item in yielded] == ["new.png"]
    c = rescan.compare(catalog, root, set(), None, MODEL, [("texts", "ocr-m")], TRANSIENT)
    assert sorted(os.path.basename(f.path) for f, known in c.changed if known) == [f"p{i}.png" for i in range(4)]
    assert (c.files, c.unchanged) == (5, 0)


# --- the walk ahead of the planner ----------------------------------------------------------------

def test_a_walk_ahead_yields_in_order_raises_where_the_walk_did_and_stops_when_closed() -> None:
    from picfind.indexing.ahead import Ahead

    assert list(Ahead(iter(range(2000)))) == list(range(2000))

    def failing():
        yield from range(700)
        raise PermissionError("the drive went away")
    got: list[int] = []
    with pytest.raises(PermissionError, match="went away"):
        for item in Ahead(failing()):
            got.append(item)
    assert got == list(range(700))  # everything found before the error, then the error

    walked = []

    def endless():
        while True:
            walked.append(1)
            yield len(walked)
    ahead = Ahead(endless())
    assert next(iter(ahead)) == 1
    ahead.close()
    ahead._thread.join(5)
    assert not ahead._thread.is_alive()  # a planner that stops early does not leave a walk running
