"""End to end: the real `picfind` command on real folders with the tiny-shapes model."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from .conftest import picfind, real_photos, shape_files, write_shapes
from .test_decode_preprocess import _bomb_png

pytestmark = pytest.mark.slow


def index(db: Path, *args: str, check: bool = True) -> dict:
    proc = picfind("index", *args, "--db", str(db), "--json", check=check)
    return json.loads(proc.stdout)


def search(db: Path, query: str, *args: str) -> list[dict]:
    return json.loads(picfind("search", query, "--db", str(db), "--json", *args, check=True).stdout)


@pytest.fixture()
def library(tmp_path: Path, photo_dir: Path) -> Path:
    lib = tmp_path / "Pictures"
    shutil.copytree(photo_dir, lib / "photos")
    (lib / "shapes").mkdir()
    for seed, (colour, shape) in enumerate((("red", "circle"), ("blue", "square"), ("green", "triangle"))):
        for i, img in enumerate(shape_files(colour, shape, n=3, seed=seed)):
            img.save(lib / "shapes" / f"{colour}-{shape}-{i}.png")
    return lib


def add_bad_files(folder: Path) -> dict[str, str]:
    """One file of each bad kind; returns file name -> expected reason."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.fromarray(real_photos()["coffee"])
    buf = io.BytesIO()
    photo.save(buf, "JPEG")
    (folder / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    # fixed bytes: a few random tails make Pillow answer "not an image" instead
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + random.Random(7).randbytes(5000))
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("a shopping list, not a picture\n")
    (folder / "bomb.png").write_bytes(_bomb_png(60_000, 60_000))
    (folder / "loop.jpg").symlink_to("loop.jpg")
    (folder / "sub").mkdir()
    (folder / "sub" / "back").symlink_to("..")
    return {"truncated.jpg": "truncated or corrupt", "corrupt.jpg": "truncated or corrupt",
            "empty.png": "empty file", "notes.png": "not an image", "bomb.png": "too many pixels",
            "loop.jpg": "symlink loop", "back": "symlink loop"}


def test_index_then_search_finds_the_right_pictures(library: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    report = index(db, str(library))
    assert report["embedded"] == 7 + 9 and not report["skipped"]
    assert report["device"] == "cpu"  # no GPU here; the run says where the encoder ran
    hits = search(db, "a red circle", "-n", "3")
    assert [Path(h["path"]).name.startswith("red-circle") for h in hits] == [True, True, True]
    for h in hits:
        assert {"path", "score", "duplicates", "width", "height", "mtime"} <= set(h)
        assert (h["width"], h["height"]) == (160, 160)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    text = picfind("search", "a blue square", "--db", str(db), "-n", "2", check=True).stdout
    assert "blue-square" in text.splitlines()[0]
    paths = picfind("search", "a green triangle", "--db", str(db), "-n", "2", "--paths-only", check=True).stdout
    assert [Path(p).name.startswith("green-triangle") for p in paths.splitlines()] == [True, True]
    assert search(db, "a red circle", "--min-score", "0.99") == []


def test_rescan_embeds_nothing_rename_reuses_delete_vanishes_copies_group(library: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    index(db, str(library))
    again = index(db)  # no path: re-scan remembered roots
    assert again["embedded"] == 0 and again["read"] == 0 and again["unchanged"] == 16

    red = sorted((library / "shapes").glob("red-circle-*.png"))
    red[0].rename(library / "renamed red.png")
    shutil.copy(red[1], library / "photos" / "copy of red.png")
    shutil.copy(red[1], library / "copy two.png")
    red[2].unlink()
    report = index(db)
    assert report["embedded"] == 0
    assert report["reused"] == 3 and report["removed"] == 2

    hits = search(db, "a red circle", "-n", "5")
    names = [Path(h["path"]).name for h in hits]
    assert "red-circle-2.png" not in " ".join(names)
    assert "renamed red.png" in names  # a moved picture keeps its vector and is still found
    grouped = next(h for h in hits if Path(h["path"]).name == "red-circle-1.png")
    assert sorted(Path(p).name for p in grouped["duplicates"]) == ["copy of red.png", "copy two.png"]
    assert len({h["path"] for h in hits}) == len(hits)
    st = json.loads(picfind("status", "--db", str(db), "--json", check=True).stdout)
    assert st["images_indexed"] == 17 and st["unique_contents"] == 15 and st["duplicate_copies"] == 2
    assert st["embedded_with_model"] == 15


def test_a_file_deleted_after_indexing_never_shows_even_before_a_rescan(library: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    index(db, str(library))
    top = search(db, "a blue square", "-n", "1")[0]["path"]
    os.unlink(top)
    assert top not in [h["path"] for h in search(db, "a blue square", "-n", "20")]


def test_bad_files_are_skipped_with_reasons_and_the_run_finishes(library: Path, tmp_path: Path) -> None:
    expected = add_bad_files(library / "bad")
    odd = library / "odd names"
    odd.mkdir()
    img, other = shape_files("yellow", "circle", n=2)
    img.save(odd / "spaces and ünïcode 🙂.png")
    img.save(odd / "line\nbreak.png")
    raw = os.fsencode(str(odd)) + b"/latin1-caf\xe9.png"
    with open(raw, "wb") as f:
        other.save(f, "PNG")
    Image.new("RGB", (40, 40), "white").save(library / "mislabelled.jpg", "PNG")  # a PNG named .jpg
    db = tmp_path / "c.db"
    report = index(db, str(library))
    assert report["skipped_total"] == len(expected)
    st = json.loads(picfind("status", "--db", str(db), "--skipped", "--json", check=True).stdout)
    got = {Path(f["path"]).name: f["reason"] for f in st["skipped_files"]}
    assert got == expected
    assert sum(st["skipped_by_reason"].values()) == len(expected)
    # two odd names hold one picture: one result, the other as its copy
    names = [Path(p).name for h in search(db, "a yellow circle", "-n", "40") for p in [h["path"], *h["duplicates"]]]
    assert "spaces and ünïcode 🙂.png" in names and "line\nbreak.png" in names
    assert any(n.startswith("latin1-caf") for n in names)
    assert "mislabelled.jpg" in names
    raw_paths = subprocess.run([sys.executable, "-m", "picfind", "search", "a yellow circle", "--db", str(db),
                                "--paths-only", "-n", "40"], capture_output=True, check=True).stdout
    assert raw in raw_paths.split(b"\n")  # the real bytes, usable in a pipe
    # unchanged bad files are not re-read on the next run
    assert index(db)["read"] == 0


def _without_root_file_access() -> list[str]:
    """A command prefix under which even root obeys file permissions (or none needed)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("root ignores file permissions and setpriv (util-linux) is missing")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_unreadable_files_and_folders_are_skipped_as_permission_denied(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write_shapes(lib, 3)
    shutil.copy(next(lib.iterdir()), lib / "secret.png")
    (lib / "secret.png").chmod(0)
    (lib / "locked").mkdir()
    write_shapes(lib / "locked", 2)
    (lib / "locked").chmod(0)
    proc = subprocess.run([*_without_root_file_access(), sys.executable, "-m", "picfind", "index", str(lib),
                           "--db", str(tmp_path / "c.db"), "--json"], capture_output=True, text=True, timeout=300)
    (lib / "locked").chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["skipped"] == {"permission denied": 2} and report["embedded"] == 3
    st = json.loads(picfind("status", "--db", str(tmp_path / "c.db"), "--skipped", "--json", check=True).stdout)
    assert sorted(Path(f["path"]).name for f in st["skipped_files"]) == ["locked", "secret.png"]


def test_a_file_that_vanishes_mid_run_is_skipped_and_the_run_finishes(tmp_path: Path) -> None:
    from picfind import Library
    from picfind.indexing.stages import IndexOptions

    lib = tmp_path / "lib"
    write_shapes(lib, 40)
    victim = sorted(lib.iterdir())[-1]

    def progress(report, done, total):
        if victim.exists():
            victim.unlink()

    with Library(tmp_path / "c.db", model="tiny-shapes") as library:
        report = library.index([str(lib)], options=IndexOptions(batch_size=1, workers=1), progress=progress)
    assert report.skipped == {"vanished": 1}
    assert report.embedded == 39 and not report.interrupted


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lib = tmp_path_factory.mktemp("big") / "lib"
    write_shapes(lib, 1200, size=256)
    return lib


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_keeps_its_work_and_resumes_to_the_same_final_state(big_folder: Path, tmp_path: Path,
                                                                           sig: signal.Signals) -> None:
    lib = big_folder
    db = tmp_path / "stopped.db"
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "index", str(lib), "--db", str(db), "-q",
                             "--batch-size", "4", "--workers", "1", "--commit-seconds", "0.05"],
                            stderr=subprocess.PIPE, text=True,
                            # as from a terminal: a background runner (nohup, &) may have SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    sent = False
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
        try:
            with sqlite3.connect(db, timeout=1) as con:
                committed = con.execute("SELECT count(*) FROM files").fetchone()[0]
        except sqlite3.Error:
            continue
        if committed >= 20:  # early: on a fast machine the whole run takes a few seconds
            proc.send_signal(sig)
            sent = True
            break
    assert sent, f"indexing ended (rc {proc.returncode}) before the test saw 20 files committed"
    stopped_at = time.monotonic()
    proc.wait(timeout=30)
    assert time.monotonic() - stopped_at < 3, "indexing did not stop promptly"
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL, "indexing finished before it could be killed"
    else:
        assert proc.returncode == 130, proc.stderr.read()
        assert "again to continue" in proc.stderr.read()
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        partial = con.execute("SELECT count(*) FROM files").fetchone()[0]
    assert 20 <= partial < 1200
    resumed = index(db)
    assert resumed["unchanged"] == partial and resumed["read"] == 1200 - partial
    fresh = tmp_path / "fresh.db"
    index(fresh, str(lib))

    def state(path: Path) -> list:
        with sqlite3.connect(path) as con:
            return con.execute("SELECT path, size, content_hash, status FROM files ORDER BY path").fetchall()

    assert state(db) == state(fresh)
    def same(hits: list[dict]) -> list[dict]:  # file ids are per catalog
        return [{k: v for k, v in h.items() if k != "id"} for h in hits]
    assert same(search(db, "a red circle", "-n", "10")) == same(search(fresh, "a red circle", "-n", "10"))


def test_shell_answers_queries_until_exit(library: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    index(db, str(library))
    for word in ("exit", "quit"):
        proc = picfind("--db", str(db), input=f"a red circle\n{word}\na blue square\n", timeout=120)
        assert proc.returncode == 0
        lines = proc.stdout.splitlines()
        assert len(lines) == 10 and "red-circle" in lines[0]  # one query answered, then it left
    proc = picfind("shell", "--db", str(db), input="a blue square\n", timeout=120)  # Ctrl-D (EOF) leaves
    assert proc.returncode == 0 and "blue-square" in proc.stdout


def test_contact_sheet_and_open(library: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    index(db, str(library))
    sheet = tmp_path / "sheet.png"
    log = tmp_path / "opened.txt"
    opener = f"{sys.executable} -c \"import sys; open({str(log)!r}, 'a').write(sys.argv[1] + chr(10))\""
    picfind("search", "a green triangle", "--db", str(db), "-n", "6", "--sheet", str(sheet), "--open",
            env={"PICFIND_OPENER": opener}, check=True)
    img = Image.open(sheet)
    assert img.width > 600 and img.height > 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 5):
        time.sleep(0.1)
    opened = log.read_text().splitlines()  # the viewers start together, so in any order
    top5 = picfind("search", "a green triangle", "--db", str(db), "-n", "5", "--paths-only", check=True).stdout
    assert sorted(opened) == sorted(top5.splitlines()) and Path(top5.split()[0]).name.startswith("green-triangle")


def test_thumbnails_are_cached_once_per_picture_unless_switched_off(library: Path, tmp_path: Path) -> None:
    shutil.copy(library / "photos" / "coffee.jpg", library / "coffee copy.jpg")
    db = tmp_path / "c.db"
    index(db, str(library))
    thumbs = sorted(Path(f"{db}.thumbs").rglob("*.jpg"))
    assert len(thumbs) == 16  # 17 files, one a copy
    for t in thumbs:
        with Image.open(t) as img:
            assert max(img.size) <= 256
    red = search(db, "a red circle", "-n", "1")[0]["content_hash"]
    with Image.open(next(t for t in thumbs if t.stem == red)) as img:
        r, g, b = img.convert("RGB").resize((1, 1)).getpixel((0, 0))
    assert r > b  # the thumbnail is of the red picture
    st = json.loads(picfind("status", "--db", str(db), "--json", check=True).stdout)
    assert st["thumbnails_bytes"] > 0
    bare = tmp_path / "bare.db"
    picfind("index", str(library), "--db", str(bare), "--no-thumbnails", "-q", check=True)
    assert not Path(f"{bare}.thumbs").exists()


def test_roots_are_listed_and_removed(library: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    index(db, str(library / "photos"), "--ext", "jpg")
    index(db, str(library / "shapes"), "--ext", "PNG,.png")
    roots = json.loads(picfind("roots", "--db", str(db), "--json", check=True).stdout)
    assert {Path(r["path"]).name: r["extensions"] for r in roots} == {"photos": ["jpg"], "shapes": ["png"]}
    st = json.loads(picfind("status", "--db", str(db), "--json", check=True).stdout)
    assert st["images_indexed"] == 4 + 9  # only the jpgs of photos/
    picfind("roots", "remove", str(library / "shapes"), "--db", str(db), check=True)
    assert all("shapes" not in h["path"] for h in search(db, "a red circle"))
    assert (library / "shapes").is_dir()  # nothing on disk touched


@pytest.mark.parametrize("args, message", [
    (["search", "a cat", "-n", "zero"], "not a whole number"),
    (["search", "a cat", "--min-score", "7"], "out of range: use -1 to 1"),
    (["search", "   "], "query is empty"),
    (["index", "/no/such/folder"], "no such folder"),
    (["frobnicate"], "invalid choice"),
    (["index"], "no catalog at"),  # nothing made: a mistyped --db stays unmade
    (["index", ".", "--max-megapixels", "inf"], "out of range"),  # was an OverflowError traceback
    (["index", ".", "--max-megapixels", "nan"], "out of range"),
    (["index", ".", "--max-megapixels", "-5"], "out of range"),  # skipped every picture, silently
    (["index", ".", "--commit-seconds", "nan"], "out of range"),
    (["search", "a cat", "--sheet", "out.txt"], "name a .png"),  # was "unknown file extension", after the results
    (["search", "a cat", "--sheet", "."], "name a .png"),
])
def test_wrong_arguments_get_one_clear_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = picfind(*args, "--db", str(tmp_path / "c.db"))
    assert proc.returncode in (1, 2)
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_unreadable_and_newer_catalogs_get_one_clear_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    proc = picfind("status", "--db", str(junk))
    assert proc.returncode == 1 and "cannot open catalog" in proc.stderr
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as con:
        con.execute("PRAGMA user_version = 999")
    proc = picfind("status", "--db", str(newer))
    assert proc.returncode == 1 and "newer than this picfind" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = picfind("status", "--db", str(tmp_path))
    assert proc.returncode == 1 and "is a folder" in proc.stderr


def test_a_model_switch_re_embeds_cleanly_and_never_mixes_vectors(library: Path, tmp_path: Path,
                                                                    exported: dict[str, Path]) -> None:
    db = tmp_path / "c.db"
    index(db, str(library))
    other = str(exported["split"])
    switched = json.loads(picfind("index", "--db", str(db), "--model", other, "--json", check=True).stdout)
    assert switched["embedded"] == 16 and switched["unchanged"] == 0
    again = json.loads(picfind("index", "--db", str(db), "--model", other, "--json", check=True).stdout)
    assert again["embedded"] == 0
    kept = index(db)  # the catalog now remembers the other model: a re-scan keeps it
    assert kept["embedded"] == 0 and kept["read"] == 0
    back = index(db, "--model", "tiny-shapes")  # tiny-shapes again: its vectors are still there
    assert back["embedded"] == 0 and back["read"] == 0
    with sqlite3.connect(db) as con:
        per_model = dict(con.execute("SELECT model, count(*) FROM embeddings GROUP BY model").fetchall())
    assert per_model == {"tiny-shapes": 16, "random-split": 16}
    hits = search(db, "a red circle", "-n", "3")
    assert all(Path(h["path"]).name.startswith("red-circle") for h in hits)  # tiny-shapes' vectors only
    st = json.loads(picfind("status", "--db", str(db), "--model", other, "--json", check=True).stdout)
    assert st["model"] == "random-split" and st["embedded_with_model"] == 16


def test_catalog_is_wal_with_numbered_schema(library: Path, tmp_path: Path) -> None:
    from picfind.catalogs.sqlite.schema import SCHEMA_VERSION

    db = tmp_path / "c.db"
    index(db, str(library))
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        models_in = {m for (m,) in con.execute("SELECT DISTINCT model FROM embeddings")}
    assert models_in == {"tiny-shapes"}
