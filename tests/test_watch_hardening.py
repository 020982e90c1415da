"""`picfind watch` under hostile and unlucky conditions (issue 27): files that never stop changing
hold back nothing else, and the watcher's scoped walk gives the catalog `picfind index` gives
(symlink loops, folder links, FIFOs, broken links). Real folders, real events, short settles."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from picfind import Library

from .conftest import shape_files, write_shapes
from .test_watch import MODEL, files, ok_names, until, watching


@contextmanager
def rewritten(*paths: Path, every: float = 0.03) -> Iterator[None]:
    """These files written again and again (a download, a log, `.git/index`) until the block ends."""
    stop = threading.Event()

    def work() -> None:
        k = 0
        while not stop.is_set():
            for p in paths:
                p.parent.mkdir(parents=True, exist_ok=True)
                with open(p, "ab") as f:
                    f.write(b"x" * 1000)
                k += 1
            stop.wait(every)
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def test_a_file_that_never_stops_changing_holds_back_no_other_picture(tmp_path: Path) -> None:
    """Each path settles on its own: a picture copied in while a download keeps growing is read."""
    root, db = tmp_path / "Pictures", tmp_path / "c.db"
    write_shapes(root / "old", 1)
    with watching(db, [str(root)]) as w, Library(db, model=MODEL) as lib, rewritten(root / "download.jpg"):
        time.sleep(0.5)  # the download is under way
        shape_files("red", "circle", n=1)[0].save(root / "copied.png")
        until(lambda: "copied.png" in ok_names(lib), "the copied picture indexed while the download goes on", 8)
        assert "download.jpg" not in files(lib)  # never read half
        assert not any(b.skipped for b in w.batches)


def test_a_folder_moved_in_with_a_busy_unwanted_file_is_indexed(tmp_path: Path) -> None:
    """A file no walk wants (a log, an excluded folder's) is dropped as its event comes: it cannot
    hold back the folder it lies in."""
    root, db = tmp_path / "Pictures", tmp_path / "c.db"
    root.mkdir()
    staged = tmp_path / "staged"
    write_shapes(staged, 2)
    with watching(db, [str(root)]) as w, Library(db, model=MODEL) as lib:
        with rewritten(root / "card" / "transfer.log", root / "card" / ".git" / "index"):
            time.sleep(0.2)
            for p in staged.iterdir():
                shutil.copyfile(p, root / "card" / p.name)
            os.rename(root / "card", root / "phone")  # one event for the folder (its files raise none)
            until(lambda: len([n for n in ok_names(lib) if n.startswith("phone/")]) == 2,
                  "the moved folder's pictures indexed while its log keeps growing", 8)
        assert not any(b.skipped for b in w.batches)


def test_a_steady_sync_is_searchable_while_it_goes_on(tmp_path: Path) -> None:
    """One picture every 0.15 s: the first ones are in the catalog long before the last is written."""
    root, db = tmp_path / "Pictures", tmp_path / "c.db"
    root.mkdir()
    staged = tmp_path / "staged"
    write_shapes(staged, 40)  # 6 s of sync at most: the first ones must be in well before its end
    with watching(db, [str(root)]) as w, Library(db, model=MODEL) as lib:
        for k, p in enumerate(sorted(staged.iterdir())):
            shutil.copyfile(p, root / p.name)
            if k == 3:
                first = p.name
            if k > 3 and first in ok_names(lib):
                break
            time.sleep(0.15)
        assert first in ok_names(lib), "nothing was indexed while the sync went on"
    assert w.batches


def catalog_of(lib: Library) -> dict[str, tuple[str, str | None]]:
    """Every entry under every root: relative name -> (status, skip reason)."""
    out = {}
    for root in lib.roots():
        for path, rec in lib.catalog.files_of_root(root.id).items():
            out[os.path.relpath(path, root.path)] = (rec.status, rec.reason if rec.status != "ok" else None)
    return out


def test_the_watcher_walks_links_fifos_and_loops_as_index_does(tmp_path: Path) -> None:
    """`ln -s . sub/loop` once gave 15 entries for 5 pictures, and `dupes` offered sub/loop/p0 as a
    deletable copy of sub/p0. The watcher's scoped walk and `index` now give one catalog."""
    root, db = tmp_path / "Pictures", tmp_path / "c.db"
    write_shapes(root / "sub", 5)
    outside = tmp_path / "elsewhere"
    write_shapes(outside, 1, seed=8)
    with watching(db, [str(root)]) as w, Library(db, model=MODEL) as lib:
        assert w.batches[0].report.added == 5
        (root / "sub" / "loop").symlink_to(".")
        (root / "sub" / "up").symlink_to("..")
        (root / "again").symlink_to("sub")  # a link to a folder inside the root
        (root / "out").symlink_to(outside)  # a link out of the root: followed, as index does
        os.mkfifo(root / "pipe.jpg")
        (root / "broken.jpg").symlink_to("nowhere.jpg")
        until(lambda: {"sub/loop", "sub/up", "again", "out/" + next(outside.iterdir()).name, "pipe.jpg",
                       "broken.jpg"} <= set(catalog_of(lib)), "every new entry recorded", 10)
        time.sleep(1)  # anything more the watcher would record
        watched = catalog_of(lib)
        assert lib.count() == 6
    assert len([n for n, (status, _) in watched.items() if status == "ok"]) == 6, watched
    assert watched["sub/loop"] == ("skipped", "symlink loop") and watched["sub/up"] == ("skipped", "symlink loop")
    assert watched["again"] == ("skipped", "folder link inside the root")
    assert watched["pipe.jpg"] == ("skipped", "not a regular file")
    assert watched["broken.jpg"] == ("skipped", "broken symlink")

    fresh = tmp_path / "fresh.db"
    with Library(fresh, model=MODEL) as lib:
        lib.index([str(root)])
        assert catalog_of(lib) == watched
        assert not [g for g in lib.dupes(False, 1.0) if len(g.members) > 1]


def test_a_folder_link_inside_the_root_is_never_a_second_copy(tmp_path: Path) -> None:
    """`index` once walked a link that sorts before its target (`a` -> `z`) and skipped the real
    folder: its pictures were listed under the link's path, and which path won hung on names."""
    root, db = tmp_path / "Pictures", tmp_path / "c.db"
    write_shapes(root / "z", 2)
    (root / "a").symlink_to("z")
    with Library(db, model=MODEL) as lib:
        lib.index([str(root)])
        entries = catalog_of(lib)
    assert {n for n, (s, _) in entries.items() if s == "ok"} == {f"z/{p.name}" for p in (root / "z").iterdir()}
    assert entries["a"] == ("skipped", "folder link inside the root")
