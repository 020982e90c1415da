"""Nothing lost (issue 11, section 1): unreachable places are offline, not deleted; indexes and
thumbnails belong to one catalog; picfind never indexes its own files; one index run at a time;
overlapping roots are stable. The real CLI on real folders, with real concurrent processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from picfind.catalogs.lock import index_lock
from picfind.catalogs.sqlite.catalog import Catalog
from picfind.indexing.interrupts import handing_over, waiting
from picfind.indexing.stages import IndexOptions
from picfind.library import Library

from .conftest import picfind, write_shapes

pytestmark = pytest.mark.slow


def index(db: Path, *args: str, **kw) -> dict:
    return json.loads(picfind("index", *args, "--db", str(db), "--json", check=True, **kw).stdout)


def status(db: Path) -> dict:
    return json.loads(picfind("status", "--db", str(db), "--json", check=True).stdout)


def vectors(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT count(*) FROM embeddings").fetchone()[0]


def found(db: Path, query: str = "a red circle") -> set[str]:
    out = picfind("search", query, "--db", str(db), "-n", "100", "--paths-only", check=True).stdout
    return set(out.split())


@pytest.fixture()
def shapes(tmp_path: Path) -> Path:
    lib = tmp_path / "Pictures"
    write_shapes(lib / "usb", 6, seed=1, size=96)
    write_shapes(lib / "home", 4, seed=2, size=96)
    return lib


def test_a_root_moved_away_is_offline_and_comes_back_with_nothing_re_embedded(tmp_path: Path) -> None:
    usb, db = tmp_path / "usb", tmp_path / "c.db"
    write_shapes(usb, 6, seed=1, size=96)
    assert index(db, str(usb))["embedded"] == 6
    away = tmp_path / "elsewhere"
    usb.rename(away)  # the drive is unplugged
    report = index(db)
    assert report["removed"] == 0 and report["offline"] == {str(usb): 6}
    assert vectors(db) == 6  # nothing pruned
    st = status(db)
    assert st["offline"][0]["path"] == str(usb) and st["offline"][0]["files"] == 6
    text = picfind("status", "--db", str(db), check=True).stdout
    assert f"6 files offline under {usb} since 20" in text
    assert found(db) == set()  # left out of results
    usb.mkdir()  # a mount point without its drive: an empty folder
    assert index(db)["offline"] == {str(usb): 6} and vectors(db) == 6
    usb.rmdir()
    away.rename(usb)  # plugged in again
    report = index(db)
    assert (report["embedded"], report["read"], report["unchanged"], report["removed"]) == (0, 0, 6, 0)
    assert status(db)["offline"] == [] and len(found(db)) == 6
    # Only files missing from a folder that was read are removed.
    victim = sorted(usb.iterdir())[0]
    victim.unlink()
    assert index(db)["removed"] == 1 and len(found(db)) == 5


def test_a_drive_unplugged_since_the_last_run_leaves_a_search_its_other_results_and_a_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most of the best results on a drive unplugged since the last run: a search answers at once
    with the pictures that are there and says in one line how many are not, and where (the
    library, the command, the shell and the web API). It asks the index for a bounded number of
    candidates: it used to double its ask until it had walked the whole index."""
    from starlette.testclient import TestClient

    from picfind.web.app import create_app

    lib, db = tmp_path / "Pictures", tmp_path / "c.db"
    write_shapes(lib / "usb", 120, seed=1, size=64)
    write_shapes(lib / "home", 12, seed=2, size=64)
    assert index(db, str(lib))["embedded"] >= 120
    usb = lib / "usb"
    usb.rename(tmp_path / "elsewhere")
    usb.mkdir()  # its mount point, with nothing mounted
    asked: list[int] = []
    with Library(str(db)) as library:
        searcher = library.catalog.searcher

        def counting(model: str, where=None):  # noqa: ANN001, ANN202 - the catalog's own, counted
            found = searcher(model, where)
            top = found.top
            found.top = lambda query, k: (asked.append(k), top(query, k))[1]
            return found
        monkeypatch.setattr(library.catalog, "searcher", counting)
        hits = library.search("a red circle", n=5)
    assert len(asked) == 2 and sum(asked) == 2 * asked[0] < 40  # once, and once more without the drive
    assert len(hits) == 5 and {Path(h.path).parent for h in hits} == {lib / "home"}
    note = hits.note()
    assert note is not None and note.endswith(f" results not shown: {usb} is not there (a drive not connected?)")
    assert int(note.split()[0]) >= 1
    cli = picfind("search", "a red circle", "-n", "5", "--db", str(db), "--paths-only", check=True)
    assert {Path(p).parent for p in cli.stdout.split()} == {lib / "home"}
    assert cli.stderr.strip().splitlines() == [f"picfind: {note}"]
    shell = picfind("shell", "--db", str(db), input="a red circle -n 5\n", check=True)
    assert f"picfind: {note}" in shell.stderr.splitlines()
    with TestClient(create_app(str(db), None), base_url="http://127.0.0.1:8765") as client:
        page = client.get("/api/search", params={"q": "a red circle", "n": 5}).json()
    assert page["missing"].endswith(note.split(" ", 1)[1]) and len(page["results"]) == 5  # (it asks for 6)


def test_a_linked_folder_whose_drive_is_gone_keeps_its_files(shapes: Path, tmp_path: Path) -> None:
    """~/Pictures/usb -> /media/usb/photos, and the drive is not mounted: a broken link."""
    db, media = tmp_path / "c.db", tmp_path / "media"
    (shapes / "usb").rename(media)
    (shapes / "usb").symlink_to(media, target_is_directory=True)
    assert index(db, str(shapes))["embedded"] == 10
    media.rename(tmp_path / "unplugged")
    report = index(db)
    assert report["removed"] == 0 and report["offline"] == {str(shapes / "usb"): 6} and vectors(db) == 10
    assert not report["skipped"]  # a broken link to a folder is not a skipped picture
    (tmp_path / "unplugged").rename(media)
    report = index(db)
    assert (report["embedded"], report["read"], report["unchanged"]) == (0, 0, 10)


def _without_root_file_powers() -> None:
    """In the child, before exec: drop the two capabilities that let root read any folder
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from the bounding set, so permissions apply to it."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            os._exit(97)


def index_as_a_user(db: Path, *args: str) -> dict:
    """`picfind index` for which permissions apply: as root, without the powers that skip them."""
    as_root = os.geteuid() == 0
    proc = subprocess.run([sys.executable, "-m", "picfind", "index", *args, "--db", str(db), "--json"],
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=_without_root_file_powers if as_root else None)
    if proc.returncode == 97:
        pytest.skip("cannot drop root's file capabilities here (no CAP_SETPCAP)")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_sub_folder_that_cannot_be_read_keeps_its_files(shapes: Path, tmp_path: Path) -> None:
    """Permissions changed on a sub-folder. Root reads every folder whatever its mode, so as root
    the runs go without the capabilities that allow that."""
    db = tmp_path / "c.db"

    def run(*args: str) -> dict:
        return index_as_a_user(db, *args)

    assert run(str(shapes))["embedded"] == 10
    (shapes / "usb").chmod(0o000)
    try:
        report = run()
    finally:
        (shapes / "usb").chmod(0o755)
    assert report["removed"] == 0 and report["offline"] == {str(shapes / "usb"): 6}
    assert report["skipped"] == {"permission denied": 1} and vectors(db) == 10
    report = run()
    assert (report["embedded"], report["read"], report["removed"]) == (0, 0, 0)
    assert status(db)["offline"] == []


def test_a_file_that_cannot_be_read_for_a_while_keeps_its_vector(shapes: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"

    def run() -> dict:
        return index_as_a_user(db, str(shapes))

    assert run()["embedded"] == 10
    locked = sorted((shapes / "home").iterdir())[0]
    locked.chmod(0o000)
    os.utime(locked)  # changed: it must be read again
    sorted((shapes / "home").iterdir())[1].unlink()  # and a deletion, so this run prunes vectors
    try:
        report = run()
    finally:
        locked.chmod(0o644)
    assert report["skipped"] == {"permission denied": 1} and report["removed"] == 1 and vectors(db) == 9
    report = run()
    assert (report["embedded"], report["read"], report["skipped"]) == (0, 1, {})


def _forget_catalog(db: Path) -> None:
    """What the README says starts over: delete the catalog file (and its WAL)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def test_a_catalog_made_again_at_the_same_path_never_reads_the_old_index(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    write_shapes(tmp_path / "old", 24, seed=5, size=96)
    index(db, str(tmp_path / "old"))
    old_thumbs = {p.name for p in Path(f"{db}.thumbs").rglob("*.jpg")}
    _forget_catalog(db)
    write_shapes(tmp_path / "new", 9, seed=6, size=96)
    index(db, str(tmp_path / "new"))
    with Library(db) as lib:
        _, ids, matrix = lib.catalog.vectors(lib.model)
        query = lib.embed_text("a red circle")
        hits = lib.search_vector(query, n=9)
        hashes = lib.catalog.hashes_for_ids(list(ids))
        exact = {hashes[int(i)]: float(v @ query) for i, v in zip(ids, matrix)}
    assert len(hits) == 9 and all(Path(h.path).parent == tmp_path / "new" for h in hits)
    assert [h.content_hash for h in hits] == sorted(exact, key=lambda h: -exact[h])
    assert all(abs(h.score - exact[h.content_hash]) < 1e-5 for h in hits)
    assert not old_thumbs & {p.name for p in Path(f"{db}.thumbs").rglob("*.jpg")}  # the old catalog's went


def test_picfind_never_indexes_its_own_files(tmp_path: Path) -> None:
    """The catalog, its index and thumbnails, and the models folder inside the indexed folder."""
    home = tmp_path / "home"
    write_shapes(home / "Pictures", 5, size=96)
    db = home / ".local" / "picfind" / "catalog.db"
    models = home / ".cache" / "models"
    builtin = Path(__file__).parents[1] / "src" / "picfind" / "models" / "bundles"
    shutil.copytree(builtin / "tiny-shapes", models / "other")
    (models / "other" / "preview.png").write_bytes((home / "Pictures" / next(iter(
        sorted(os.listdir(home / "Pictures"))))).read_bytes())
    env = {"PICFIND_MODELS_DIR": str(models)}
    counts = [index(db, str(home), env=env)["files_seen"] for _ in range(3)]
    assert counts == [5, 5, 5]
    assert status(db)["images_indexed"] == 5


def test_a_second_index_run_waits_for_the_first_and_says_for_whom(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    write_shapes(tmp_path / "pics", 4, size=96)
    Catalog(db).close()
    env = {**os.environ, "PICFIND_PROGRESS": "0"}
    with index_lock(db):  # this test process is "the first run"
        proc = subprocess.Popen([sys.executable, "-m", "picfind", "index", str(tmp_path / "pics"), "--db", str(db)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = proc.stderr.readline()
        assert line.strip() == f"waiting for pid {os.getpid()}, which is indexing {db}, to finish"
        time.sleep(0.5)
        assert proc.poll() is None  # still waiting
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "4 embedded" in out and "Traceback" not in err
    quiet = subprocess.Popen([sys.executable, "-m", "picfind", "index", "--db", str(db), "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with index_lock(db):
        pass
    assert quiet.communicate(timeout=300) == ("", "") and quiet.returncode == 0


def test_two_index_runs_at_once_embed_each_picture_once(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    write_shapes(tmp_path / "pics", 30, size=96)
    args = [sys.executable, "-m", "picfind", "index", str(tmp_path / "pics"), "--db", str(db), "--json",
            "--batch-size", "1"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    assert sorted(r["embedded"] for r in reports) == [0, 30]


def _open_new(path: str, barrier) -> None:
    barrier.wait(60)
    Catalog(path).close()


def test_two_processes_creating_one_catalog_at_once(tmp_path: Path) -> None:
    # Spawned, not forked: a child forked from pytest (whose other threads may hold a lock at the
    # fork) can hang holding the catalog's write lock, failing the others; and daemons that are
    # killed when late, or pytest would wait for them at exit.
    ctx = multiprocessing.get_context("spawn")
    for attempt in range(8):
        path = str(tmp_path / f"c{attempt}.db")
        barrier = ctx.Barrier(4)
        procs = [ctx.Process(target=_open_new, args=(path, barrier), daemon=True) for _ in range(4)]
        for p in procs:
            p.start()
        try:
            for p in procs:
                p.join(90)
            assert [p.exitcode for p in procs] == [0, 0, 0, 0], f"attempt {attempt}"
        finally:
            for p in procs:
                if p.exitcode is None:
                    p.kill()
                    p.join()


def test_a_ctrl_c_inside_a_locks_own_release_stays_a_ctrl_c() -> None:
    """A Ctrl-C raised between a lock's release and its bookkeeping (CPython's `Condition.wait`)
    made the lock's exit fail with "release unlocked lock": an index run stopped by Ctrl-C ended
    with that error and exit 1 instead of its "interrupted" line and 130 (seen once in CI)."""
    def wait_hit_by_ctrl_c() -> None:
        try:
            raise KeyboardInterrupt
        finally:
            raise RuntimeError("release unlocked lock")
    with pytest.raises(KeyboardInterrupt):
        waiting(wait_hit_by_ctrl_c)
    with pytest.raises(RuntimeError):  # any other error stays what it is
        waiting(lambda: (_ for _ in ()).throw(RuntimeError("other")))
    assert waiting(max, 3, 4) == 4


def test_a_ctrl_c_while_a_file_is_handed_over_comes_right_after_it() -> None:
    """An interrupted run's report counts exactly the files it kept: a Ctrl-C between counting a
    file and handing it to the writer waits for the hand-over, then stops the run as before."""
    before = signal.getsignal(signal.SIGINT)
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with handing_over():
            steps.append("counted")
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the signal arrives here: held, not raised
            steps.append("handed to the writer")
    assert steps == ["counted", "handed to the writer"]
    assert signal.getsignal(signal.SIGINT) is before
    with handing_over():  # no Ctrl-C: nothing happens
        steps.append("next")
    assert steps[-1] == "next"


def test_roots_remove_during_an_index_run(tmp_path: Path) -> None:
    """`picfind roots remove` from another connection while the run is half-way (deterministic:
    from the run's progress callback)."""
    db, pics = tmp_path / "c.db", tmp_path / "pics"
    write_shapes(pics, 12, size=64)
    removed = []

    def progress(report, done: int, total: int) -> None:
        if done == 4 and not removed:
            other = Catalog(db)  # as a second process would
            removed.append(other.remove_root(str(pics)))
            other.close()

    with Library(db) as lib:
        report = lib.index([str(pics)], options=IndexOptions(batch_size=1, commit_seconds=0, workers=1),
                           progress=progress)
    assert removed and not report.interrupted
    assert status(db)["files_seen"] == 0 and status(db)["roots"] == []


def test_overlapping_roots_are_stable_and_removing_the_outer_keeps_the_inner(shapes: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    assert index(db, str(shapes))["embedded"] == 10
    inner = shapes / "usb"
    report = index(db, str(inner))
    assert (report["read"], report["embedded"], report["removed"]) == (0, 0, 0)  # taken over, not re-hashed

    def owners() -> dict[str, str]:
        with sqlite3.connect(db) as con:
            return {os.fsdecode(p): os.fsdecode(r) for p, r in con.execute(
                "SELECT f.path, r.path FROM files f JOIN roots r ON r.id = f.root_id")}

    before = owners()
    assert {r for p, r in before.items() if p.startswith(f"{inner}/")} == {str(inner)}
    for _ in range(2):
        report = index(db)
        assert (report["read"], report["unchanged"], report["removed"]) == (0, 10, 0)
        assert owners() == before
    picfind("roots", "remove", str(shapes), "--db", str(db), check=True)
    assert len(owners()) == 6 and set(owners().values()) == {str(inner)}
    assert vectors(db) == 6 and len(found(db)) == 6
    report = index(db)
    assert (report["read"], report["unchanged"]) == (0, 6)
    report = index(db, str(shapes))  # the outer again: it reads its own 4 files only
    assert (report["read"], report["unchanged"], report["files_seen"]) == (4, 0, 4)
    out = picfind("roots", "remove", str(inner), "--db", str(db), check=True).stdout
    assert "its 0 files" in out  # the inner one: the outer takes its files, keeping their vectors
    assert vectors(db) == 10
    report = index(db)
    assert (report["read"], report["unchanged"], report["removed"]) == (0, 10, 0)


def test_web_pages_sorted_by_date_partition_one_ordering(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from picfind.web import app as web

    pics, db = tmp_path / "pics", tmp_path / "c.db"
    write_shapes(pics, 24, seed=8, size=64)
    for day, f in enumerate(sorted(pics.iterdir())):  # dates unrelated to the ranking
        when = 1.6e9 + ((day * 7) % 24) * 86400
        os.utime(f, (when, when))
    index(db, str(pics))
    with TestClient(web.create_app(db, "tiny-shapes"), base_url="http://127.0.0.1") as client:
        def page(offset: int, n: int) -> dict:
            r = client.get("/api/search", params={"q": "a red circle", "sort": "date", "offset": offset, "n": n})
            assert r.status_code == 200, r.text
            return r.json()

        whole = page(0, 24)["results"]
        pages = [page(offset, 5) for offset in range(0, 25, 5)]
    assert [p["more"] for p in pages] == [True, True, True, True, False]
    assert [h["path"] for p in pages for h in p["results"]] == [h["path"] for h in whole]
    taken = [h["taken"] for h in whole]
    assert len(whole) == 24 and taken == sorted(taken, reverse=True)


def test_ctrl_c_while_the_vector_index_is_built_still_reports_the_run(tmp_path: Path) -> None:
    # `index --json` printed nothing when Ctrl-C came after the pictures were written, while the
    # index was being built: the interrupt skipped the report
    write_shapes(tmp_path / "lib", 6)

    def ctrl_c(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with Library(tmp_path / "c.db", model="tiny-shapes") as lib:
        report = lib.index([str(tmp_path / "lib")], ann="hnsw", build_progress=ctrl_c)
        assert report.interrupted and report.read == 6
        again = lib.index()  # nothing embedded was lost; the index is built now
        assert again.unchanged == 6 and again.embedded == 0 and not again.interrupted
        assert len(lib.search("a red circle", n=3)) == 3
