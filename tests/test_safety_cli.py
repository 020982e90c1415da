"""Bad situations through the real `picfind` command: one clear line, a non-zero exit, the catalog
intact. Full disks and read-only drives are real: small tmpfs mounts (tests run as root in CI;
where mounting is not allowed those cases are skipped and say why)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import picfind, write_shapes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("safety") / "pics"
    write_shapes(folder, 60, size=96)
    return folder


@pytest.fixture(scope="module")
def catalog(pictures: Path) -> Path:
    db = pictures.parent / "c.db"
    picfind("index", str(pictures), "--db", str(db), "--model", "tiny-shapes", "-q", check=True)
    return db


class Mounts:
    """tmpfs mounts and immutable files made for a test, undone after it (root ignores chmod, so
    read-only is made the way it happens: a read-only mount, or `chattr +i`)."""

    def __init__(self, base: Path) -> None:
        self.base, self.made, self.frozen = base, [], []

    def immutable(self, path: Path) -> None:
        proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if proc.returncode:
            pytest.skip(f"cannot make a file immutable here ({proc.stderr.strip()})")
        self.frozen.append(path)

    def tmpfs(self, size: str) -> Path:
        where = self.base / f"mnt{len(self.made)}"
        where.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if proc.returncode:
            pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip()}): needs root with CAP_SYS_ADMIN")
        self.made.append(where)
        return where

    def remount(self, where: Path, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


@pytest.fixture()
def mounts(tmp_path: Path) -> Iterator[Mounts]:
    m = Mounts(tmp_path)
    yield m
    for path in m.frozen:
        subprocess.run(["chattr", "-i", str(path)], check=False)
    for where in reversed(m.made):
        subprocess.run(["umount", "-l", str(where)], check=False)


def _intact(db: Path) -> None:
    mode = "mode=ro" if os.access(db.parent, os.W_OK) else "immutable=1"  # on a read-only mount
    with sqlite3.connect(f"{db.resolve().as_uri()}?{mode}", uri=True) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# Each case: (setup -> (args, what stderr must say)); the setup may also check what else is true.
Case = Callable[[Path, Path, Path, Mounts], tuple[list[str], str]]


def disk_full_thumbnails(pictures: Path, catalog: Path, tmp: Path, mounts: Mounts) -> tuple[list[str], str]:
    db = mounts.tmpfs("750k") / "c.db"  # room for the catalog (OCR and face tables too), not for every thumbnail
    return ["index", str(pictures), "--db", str(db)], "the disk is full, writing"


def disk_full_sqlite(pictures: Path, catalog: Path, tmp: Path, mounts: Mounts) -> tuple[list[str], str]:
    db = mounts.tmpfs("400k") / "c.db"
    return ["index", str(pictures), "--db", str(db), "--no-thumbnails"], "the disk holding catalog"


def _damaged(command: list[str]) -> Case:
    def setup(pictures: Path, catalog: Path, tmp: Path, mounts: Mounts) -> tuple[list[str], str]:
        db = tmp / "damaged.db"
        shutil.copy(catalog, db)
        with sqlite3.connect(db) as con:  # the files table's first page, in the middle of the file
            page = con.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'files'").fetchone()[0]
            size = con.execute("PRAGMA page_size").fetchone()[0]
            assert 1 < page < con.execute("PRAGMA page_count").fetchone()[0]
        with open(db, "r+b") as f:
            f.seek((page - 1) * size)
            f.write(bytes(range(256)) * (size // 256))
        return [*command, "--db", str(db)], "is damaged (database disk image is malformed): move it aside"
    return setup


def _read_only(command: list[str], message: str) -> Case:
    def setup(pictures: Path, catalog: Path, tmp: Path, mounts: Mounts) -> tuple[list[str], str]:
        where = mounts.tmpfs("8m")
        for p in catalog.parent.glob(catalog.name + "*"):
            (shutil.copytree if p.is_dir() else shutil.copy)(p, where / p.name)
        mounts.remount(where, "ro")
        return [*command, "--db", str(where / catalog.name)], message
    return setup


def _immutable_file(command: list[str]) -> Case:
    def setup(pictures: Path, catalog: Path, tmp: Path, mounts: Mounts) -> tuple[list[str], str]:
        db = tmp / "c.db"
        shutil.copy(catalog, db)
        mounts.immutable(db)
        return [*command, "--db", str(db)], "is read-only: searching works, but `index` has to write"
    return setup


def _in_the_way(name: str, command: list[str]) -> Case:
    def setup(pictures: Path, catalog: Path, tmp: Path, mounts: Mounts) -> tuple[list[str], str]:
        db = tmp / "c.db"
        shutil.copy(catalog, db)
        Path(f"{db}{name}").write_text("not a folder")
        if "NEW" in command:  # pictures not seen before, so thumbnails are written
            write_shapes(tmp / "new", 3, seed=11, size=96)
        args = [str(tmp / "new") if a == "NEW" else a for a in command]
        return [*args, "--db", str(db)], f"c.db{name} is a file where picfind keeps a folder"
    return setup


def _similar(make: Callable[[Path], str], message: str) -> Case:
    def setup(pictures: Path, catalog: Path, tmp: Path, mounts: Mounts) -> tuple[list[str], str]:
        return ["similar", make(tmp), "--db", str(catalog)], message
    return setup


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "pipe.jpg")  # nobody writes: reading it blocked for ever
    return str(tmp / "pipe.jpg")


def _huge(tmp: Path) -> str:
    with open(tmp / "huge.jpg", "wb") as f:
        f.truncate((1 << 30) + 1)  # sparse: 1 GiB and a byte, past the limit
    return str(tmp / "huge.jpg")


CASES: dict[str, Case] = {
    "disk full: thumbnails": disk_full_thumbnails,
    "disk full: catalog": disk_full_sqlite,
    "damaged: status": _damaged(["status"]),
    "damaged: search": _damaged(["search", "a red circle"]),
    "damaged: index": _damaged(["index"]),
    "read-only: index": _read_only(["index"], "is read-only: searching works, but `index` has to write"),
    "read-only: roots remove": _read_only(["roots", "remove", "/x"], "is read-only"),
    "read-only file: index": _immutable_file(["index"]),
    "index folder is a file": _in_the_way(".index", ["search", "a red circle"]),
    "thumbs folder is a file": _in_the_way(".thumbs", ["index", "NEW"]),
    "similar on a FIFO": _similar(_fifo, "pipe.jpg is not a regular file"),
    "similar on a device": _similar(lambda tmp: "/dev/zero", "/dev/zero is not a regular file"),
    "similar on a folder": _similar(str, "is a folder: name an image file"),
    "similar on a huge file": _similar(_huge, "huge.jpg is too large (1,073,741,825 bytes; the limit is "),
    "search with a device": _similar(lambda tmp: "/dev/zero", "/dev/zero is not a regular file"),
    "index an empty path": lambda pictures, catalog, tmp, mounts: (["index", "", "--db", str(tmp / "n.db")],
                                                                   "an empty folder name"),
    "an empty --db": lambda pictures, catalog, tmp, mounts: (["status", "--db", ""], "--db is empty"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_bad_situation_is_one_line_and_the_catalog_survives(case: str, pictures: Path, catalog: Path,
                                                                  tmp_path: Path, mounts: Mounts) -> None:
    args, message = CASES[case](pictures, catalog, tmp_path, mounts)
    if case == "search with a device":
        args = ["search", "a red", "+", "/dev/zero", *args[2:]]
    proc = picfind(*args, "--model", "tiny-shapes", "-q", timeout=120)
    assert proc.returncode == (2 if "--db" in message else 1), proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr
    db = Path(args[args.index("--db") + 1])
    if db.is_file() and "damaged" not in case:
        _intact(db)
    if case.startswith("disk full"):  # room again: the run finishes, nothing committed was lost
        mounts.remount(db.parent, "size=16m")
        picfind(*args, "--model", "tiny-shapes", "-q", check=True)
        assert '"images_indexed": 60' in picfind("status", "--db", str(db), "--json", check=True).stdout


@pytest.mark.parametrize("how", ["read-only mount", "immutable file"])
def test_a_read_only_catalog_still_answers_reads(how: str, catalog: Path, tmp_path: Path, mounts: Mounts) -> None:
    setup = _read_only(["status"], "") if how == "read-only mount" else _immutable_file(["status"])
    db = setup(catalog.parent, catalog, tmp_path, mounts)[0][-1]
    assert "60 pictures" in picfind("status", "--db", db, check=True).stdout
    found = picfind("search", "a red circle", "-n", "3", "--db", db, "--paths-only", check=True).stdout
    assert len(found.splitlines()) == 3
    from starlette.testclient import TestClient

    from picfind.web import app as web
    with TestClient(web.create_app(Path(db), "tiny-shapes"), base_url="http://127.0.0.1:8765") as c:  # serve
        hit = c.get("/api/search", params={"q": "a red circle", "n": 1}).json()["results"][0]
        assert c.get(hit["thumb"]).status_code == c.get(hit["image"]).status_code == 200
    _intact(Path(db))


def test_read_only_without_a_stored_index_searches_from_memory(catalog: Path, tmp_path: Path,
                                                               mounts: Mounts) -> None:
    where = mounts.tmpfs("8m")
    shutil.copy(catalog, where / "c.db")  # no c.db.index: it cannot be written here
    mounts.remount(where, "ro")
    found = picfind("search", "a red circle", "-n", "3", "--db", str(where / "c.db"), "--paths-only", check=True)
    assert len(found.stdout.splitlines()) == 3 and not (where / "c.db.index").exists()


def test_names_cannot_drive_the_terminal_and_null_separates_paths(tmp_path: Path) -> None:
    from .conftest import shape_files

    lib = tmp_path / "pics\x1b[0m"  # a root whose own name holds an escape
    lib.mkdir()
    names = ["evil\x1b]0;pwned\x07\x1b[2J.png", "two\nlines.png", "tab\there.png"]
    for name, img in zip(names, shape_files("red", "circle", n=3, seed=1)):
        img.save(lib / name)
    shutil.copy(lib / names[0], lib / "copy\x9b2J.png")  # C1 control: a copy, for `dupes`
    (lib / "bad\x1b[31m.png").write_text("a note, not a picture")  # skipped: `status --skipped`
    db = str(tmp_path / "c.db")
    picfind("index", str(lib), "--db", db, "-q", check=True)
    outputs = {" ".join(c): picfind(*c, "--db", db, check=True).stdout for c in (
        ["search", "a red circle"], ["similar", str(lib / names[1])], ["dupes"], ["status", "--skipped"], ["roots"])}
    for command, out in outputs.items():
        assert not any(ch in out for ch in "\x1b\x07\t\x9b"), command
        assert "pics\\x1b[0m" in out, command
    assert len(outputs["search a red circle"].splitlines()) == 4  # 3 pictures and a copy's line, whatever the names
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J.png" in outputs["search a red circle"]
    assert "two\\nlines.png" in outputs["search a red circle"] and "copy\\x9b2J.png" in outputs["dupes"]
    assert "bad\\x1b[31m.png" in outputs["status --skipped"]
    sheet = picfind("search", "a red circle", "--db", db, "--sheet", str(tmp_path / "sheet\x1b[2J.png"), check=True)
    assert "contact sheet: " in sheet.stderr and "\x1b" not in sheet.stderr  # chatter on stderr, too
    missing = picfind("similar", str(lib / "gone\x1b[2J\n.png"), "--db", db)
    assert missing.returncode == 1 and "\x1b" not in missing.stderr and len(missing.stderr.splitlines()) == 1
    hits = json.loads(picfind("search", "a red circle", "--db", db, "--json", check=True).stdout)
    for flags in (["-0"], ["--paths-only", "--null"]):  # for xargs -0, as find -print0
        raw = subprocess.run([sys.executable, "-m", "picfind", "search", "a red circle", "--db", db, *flags],
                             capture_output=True, check=True).stdout
        assert raw.endswith(b"\0") and sorted(raw.split(b"\0")[:-1]) == sorted(os.fsencode(h["path"]) for h in hits)
        assert os.fsencode(lib / "two\nlines.png") in raw.split(b"\0")  # names exactly as they are


def test_shell_help_says_what_can_be_typed(catalog: Path) -> None:
    proc = picfind("--db", str(catalog), input='help\n?\n"help"\nexit\n', timeout=120, check=True)
    assert proc.stdout.count("Combine text and image files") == 2
    results = [line for line in proc.stdout.splitlines() if line.lstrip()[:1].isdigit()]
    assert len(results) == 10  # "help" in quotes is searched for
