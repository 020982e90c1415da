"""`picfind watch` and `serve --watch`: real file events (watchfiles) on real folders, waited for by
polling the catalog with a deadline (never a sleep taken as the answer)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from picfind import Library
from picfind.catalogs.lock import index_lock
from picfind.indexing import changes
from picfind.indexing.stages import content_hash
from picfind.indexing.watch import Batch, WatchOptions
from picfind.records import Root

from .conftest import picfind, shape_files, write_shapes
from .test_web import browser, free_port  # noqa: F401 - browser: the fixture

MODEL = "tiny-shapes"
QUICK = WatchOptions(settle=0.3, check_every=0.3)


def until(check: Callable[[], object], what: str, seconds: float = 30) -> object:
    """Poll `check` until it answers something true; fail saying `what` did not happen."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds:g} s: {what}")


def lines(proc: subprocess.Popen) -> Callable[[], str]:
    """The process's output lines, each waited for with a deadline (a silent process fails the test)."""
    got: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [got.put(line) for line in proc.stdout], daemon=True).start()

    def next_line(seconds: float = 30) -> str:
        try:
            return got.get(timeout=seconds)
        except queue.Empty:
            raise AssertionError(f"no output line within {seconds:g} s") from None
    return next_line


@dataclass
class Watching:
    batches: list[Batch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def since(self, k: int) -> list[Batch]:
        return self.batches[k:]


@contextmanager
def watching(db: str | Path, paths: list[str] | None = None, options: WatchOptions = QUICK) -> Iterator[Watching]:
    """`Library.watch` on a thread of its own (as `serve --watch` runs it) until the block ends."""
    w, stop, errors = Watching(), threading.Event(), []

    def work() -> None:
        try:
            with Library(db, model=MODEL) as lib:
                lib.watch(paths, on_batch=w.batches.append, on_note=w.notes.append, stop=stop, options=options,
                          waiting=lambda holder: w.notes.append(f"waiting for {holder}"))
        except BaseException as e:  # noqa: BLE001 - handed to the test below
            errors.append(e)
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    until(lambda: w.batches or errors, "the first scan")
    try:
        yield w
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive(), "the watcher did not stop"
    assert not errors, errors


def files(lib: Library) -> dict[str, tuple[str, str | None]]:
    """Every file the catalog holds: name relative to its root -> (status, content hash)."""
    out = {}
    for root in lib.roots():
        for path, rec in lib.catalog.files_of_root(root.id).items():
            out[os.path.relpath(path, root.path)] = (rec.status, rec.content_hash)
    return out


def ok_names(lib: Library) -> set[str]:
    return {name for name, (status, _) in files(lib).items() if status == "ok"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def db(request, tmp_path: Path) -> str:
    return str(tmp_path / "c.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_new_changed_moved_and_deleted_pictures_reach_the_catalog(tmp_path: Path, db: str) -> None:
    root = tmp_path / "Pictures"
    write_shapes(root / "a", 3)
    with watching(db, [str(root)]) as w, Library(db, model=MODEL) as lib:
        assert w.batches[0].reason == "start" and w.batches[0].report.added == 3
        write_shapes(root / "b", 4, seed=9)  # a folder of new pictures
        until(lambda: len([n for n in ok_names(lib) if n.startswith("b/")]) == 4, "4 new pictures")

        first = sorted((root / "a").iterdir())[0]
        before = files(lib)[f"a/{first.name}"][1]
        shape_files("red", "circle", n=1, seed=11)[0].save(first)  # changed in place
        until(lambda: files(lib)[f"a/{first.name}"][1] not in (before, None), "the changed picture read again")
        until(lambda: any(b.report.updated == 1 for b in w.batches), "the change reported")

        k = len(w.batches)
        (root / "b").rename(root / "moved")  # a folder moved: nothing is embedded again
        until(lambda: {n for n in ok_names(lib) if n.startswith(("b/", "moved/"))} ==
              {f"moved/{p.name}" for p in (root / "moved").iterdir()}, "the moved folder's pictures")
        until(lambda: sum(b.report.moved for b in w.since(k)) == 4, "the move reported")
        moved = next(b for b in w.since(k) if b.report.moved)
        assert moved.reason == "changes" and "0 added, 0 updated, 4 moved, 0 removed; 0 embedded" in moved.line()
        assert sum(b.report.embedded for b in w.since(k)) == 0 and lib.count() == 7

        (root / "a" / first.name).unlink()
        shutil.rmtree(root / "moved")
        until(lambda: ok_names(lib) == {f"a/{p.name}" for p in (root / "a").iterdir()}, "deleted pictures gone")
        until(lambda: lib.count() == 2, "their vectors gone with them")  # pruned once the batch's files are written


def test_a_picture_written_in_pieces_is_read_once_whole(tmp_path: Path) -> None:
    """A copy in progress (chunks with pauses) is waited for, never read half and skipped as damaged."""
    root, db = tmp_path / "Pictures", tmp_path / "c.db"
    root.mkdir()
    whole = tmp_path / "whole.png"
    shape_files("blue", "square", n=1, size=400, seed=2)[0].save(whole)
    data = whole.read_bytes()
    with watching(db, [str(root)], WatchOptions(settle=0.4, check_every=0.5)) as w, Library(db, model=MODEL) as lib:
        with open(root / "arriving.png", "wb") as f:
            for k in range(0, len(data), len(data) // 6 + 1):
                f.write(data[k:k + len(data) // 6 + 1])
                f.flush()
                time.sleep(0.25)
        until(lambda: files(lib).get("arriving.png", (None,))[0] == "ok", "the picture indexed")
        assert files(lib)["arriving.png"][1] == content_hash(data)
        assert not any(b.skipped for b in w.batches), [b.as_dict() for b in w.batches]


def test_a_video_written_into_a_watched_root_is_indexed_and_moved_without_a_model_run(tmp_path: Path) -> None:
    from .videos import RED_CIRCLE, shapes_video

    root, db = tmp_path / "Phone", tmp_path / "c.db"
    write_shapes(root, 1)
    with watching(db, [str(root)]) as w, Library(db, model=MODEL) as lib:
        shapes_video(root / "clip.mp4", {0.0: RED_CIRCLE}, duration=2.0)  # written in place, as a copy is
        until(lambda: files(lib).get("clip.mp4", (None,))[0] == "ok", "the video indexed")
        # its batch is reported after its commit: counted before the rename, not after it
        until(lambda: sum(b.report.embedded for b in w.batches) == 2, "the picture's and the video's batches")
        k = len(w.batches)
        (root / "clip.mp4").rename(root / "renamed.mp4")
        until(lambda: "renamed.mp4" in ok_names(lib) and "clip.mp4" not in files(lib), "the renamed video")
        until(lambda: sum(b.report.moved for b in w.since(k)) == 1, "the rename reported")
        assert sum(b.report.embedded for b in w.since(k)) == 0
        assert not any(b.skipped for b in w.batches)


def test_a_root_that_disappears_is_kept_offline_and_comes_back(tmp_path: Path) -> None:
    root, db = tmp_path / "Drive", tmp_path / "c.db"
    write_shapes(root, 3)
    with watching(db, [str(root)]) as w, Library(db, model=MODEL) as lib:
        k = len(w.batches)
        root.rename(tmp_path / "elsewhere")  # unplugged
        until(lambda: lib.status()["offline"], "the root's files kept offline")
        assert lib.status()["offline"][0]["path"] == str(root) and lib.status()["offline"][0]["files"] == 3
        assert lib.count() == 3 and any("is gone" in n for n in w.notes)
        (tmp_path / "elsewhere").rename(root)  # plugged in again
        until(lambda: not lib.status()["offline"], "the root back online")
        until(lambda: any(b.reason == "root back" for b in w.batches), "the root's return reported")
        assert len(ok_names(lib)) == 3 and sum(b.report.embedded for b in w.since(k)) == 0
        write_shapes(root / "new", 1, seed=5)  # and it is watched again
        until(lambda: len(ok_names(lib)) == 4, "a picture added after the root came back")


def test_a_batch_keeps_places_offline_outside_what_changed(tmp_path: Path) -> None:
    """Only what changed is walked: a drive (behind a link) that is not plugged in stays offline, its
    files kept, while a picture is added elsewhere in the root."""
    root, usb, db = tmp_path / "Pictures", tmp_path / "usb", tmp_path / "c.db"
    write_shapes(root / "home", 2)
    write_shapes(usb, 3, seed=6)
    (root / "drive").symlink_to(usb)
    with Library(db, model=MODEL) as lib:
        lib.index([str(root)])
        usb.rename(tmp_path / "unplugged")
        lib.index()
        assert [(p["path"], p["files"]) for p in lib.status()["offline"]] == [(str(root / "drive"), 3)]
        with watching(db) as w:
            write_shapes(root / "home" / "new", 1, seed=7)
            until(lambda: len(ok_names(lib)) == 6, "the new picture beside the offline ones")
            until(lambda: any(b.reason == "changes" for b in w.batches), "the batch reported")
            assert [(p["path"], p["files"]) for p in lib.status()["offline"]] == [(str(root / "drive"), 3)]
            assert all(b.removed == 0 for b in w.batches)


def test_an_index_run_in_progress_makes_the_watcher_wait_and_say_for_whom(tmp_path: Path) -> None:
    """The watcher holds the index lock only while it applies a batch: an index run that holds it
    meanwhile is waited for (and named), and runs at once while the watcher idles."""
    root, db = tmp_path / "Pictures", tmp_path / "c.db"
    write_shapes(root, 2)
    with watching(db, [str(root)]) as w, Library(db, model=MODEL) as lib:
        assert picfind("index", "--db", str(db), "-q", timeout=60).returncode == 0  # not blocked by the watcher
        with index_lock(db):
            write_shapes(root / "late", 2, seed=8)
            until(lambda: any(f"pid {os.getpid()}" in n for n in w.notes), "the watcher waiting for this process")
            assert len(ok_names(lib)) == 2
        until(lambda: len(ok_names(lib)) == 4, "the batch applied once the lock was free")


def test_changed_paths_become_each_roots_scope(tmp_path: Path) -> None:
    outer, inner = str(tmp_path / "p"), str(tmp_path / "p" / "phone")
    os.makedirs(os.path.join(inner, "dcim"))
    Path(outer, "notes.txt").write_text("x")
    roots = [Root(1, outer, ["jpg", "png"], [".git"]), Root(2, inner, ["jpg"], [])]
    changed = {f"{outer}/a.jpg", f"{outer}/gone", f"{outer}/gone/b.png", f"{outer}/notes.txt", f"{outer}/.git/c.jpg",
               f"{inner}/dcim", f"{inner}/dcim/d.jpg", f"{outer}/c.db-wal", f"{outer}/c.db.thumbs/e.jpg"}
    scope, whole = changes.scopes(changed, roots, [f"{outer}/c.db-wal", f"{outer}/c.db.thumbs"])
    assert scope == {1: [f"{outer}/a.jpg", f"{outer}/gone"], 2: [f"{inner}/dcim"]} and whole == set()
    assert changes.scopes({inner}, roots, [])[1] == {2}
    assert changes._unescape(r"/media/my\040photos") == "/media/my photos"
    assert changes.on_network("/mnt/nas/photos", {"/": "ext4", "/mnt/nas": "nfs4"})
    assert not changes.on_network("/home/me", {"/": "ext4", "/mnt/nas": "nfs4"})


def test_two_threads_of_one_process_save_the_vector_index_at_once(tmp_path: Path) -> None:
    """`serve --watch`: the watcher saves the index after a batch while a search catches it up;
    they once wrote the same temporary file ("cannot save the exact index ...")."""
    from picfind.catalogs.sqlite.index_store import IndexStore

    write_shapes(tmp_path / "p", 20, size=64)
    with Library(tmp_path / "c.db", model=MODEL) as lib:
        lib.index([str(tmp_path / "p")])
    errors, together = [], threading.Barrier(2)

    def save_often() -> None:
        with Library(tmp_path / "c.db", model=MODEL) as lib:
            store = IndexStore(lib.catalog)
            index = store.open(lib.model)
            for _ in range(50):
                together.wait()
                try:
                    store._save(lib.model, index)
                except Exception as e:  # noqa: BLE001 - collected for the assertion
                    errors.append(e)
    threads = [threading.Thread(target=save_often) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


@pytest.mark.slow
def test_watch_command_prints_json_lines_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    root, db = tmp_path / "Pictures", tmp_path / "c.db"
    write_shapes(root, 2)
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "watch", str(root), "--db", str(db), "--model", MODEL,
                             "--json", "--settle", "0.3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = lines(proc)
    try:
        start = json.loads(line())
        assert start["reason"] == "start" and start["added"] == 2
        write_shapes(root / "new", 3, seed=4)
        batches = []
        while sum(b["added"] for b in batches) < 3:  # one burst, or several when the writer paused
            batches.append(json.loads(line()))
        assert {b["reason"] for b in batches} == {"changes"} and sum(b["embedded"] for b in batches) == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    with Library(db, model=MODEL) as lib:
        assert lib.count() == 5 and lib.catalog.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_serve_watch_makes_a_new_picture_searchable_without_a_restart(tmp_path: Path, browser) -> None:  # noqa: F811
    """Through the API, and on the open page, which offers to search again."""
    root, db = tmp_path / "Pictures", tmp_path / "c.db"
    root.mkdir()
    for i, img in enumerate(shape_files("blue", "square", n=3, seed=1)):
        img.save(root / f"blue-{i}.png")
    picfind("index", str(root), "--db", str(db), "--model", MODEL, "-q", check=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "serve", "--watch", "--db", str(db), "--model", MODEL,
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    page = None

    def get(path: str, **params: str) -> dict:
        with urllib.request.urlopen(url + path + "?" + urllib.parse.urlencode(params), timeout=30) as r:
            return json.load(r)
    try:
        assert url in lines(proc)()
        until(lambda: get("api/watch")["batches"] >= 1, "the watcher's first scan")
        page = browser.new_page()
        page.goto(url)
        page.fill("#q", "a red circle")
        page.wait_for_function("() => document.querySelectorAll('.tile').length === 3")
        page.wait_for_function("() => changesSeen !== null")  # the page knows the count before the change
        shape_files("red", "circle", n=1, seed=5)[0].save(root / "red-new.png")
        until(lambda: Path(get("api/search", q="a red circle", n="1")["results"][0]["path"]).name == "red-new.png",
              "the new picture found by a search")
        assert get("api/status")["watch"]["changes"] >= 1
        page.click("#fresh", timeout=30_000)  # shown at the page's next look at /api/watch
        page.wait_for_function("() => document.querySelectorAll('.tile').length === 4")
        assert page.eval_on_selector(".tile", "t => t.title").startswith(str(root / "red-new.png"))
        page.close()
    except Exception as e:
        seen = page.evaluate("[changesSeen, !!current]") if page is not None else None
        state = get("api/watch")
        proc.terminate()
        raise AssertionError(f"page saw {seen}, server {state}; it said: {proc.communicate(timeout=30)[1]}") from e
    finally:
        proc.terminate()
        proc.wait(30)
