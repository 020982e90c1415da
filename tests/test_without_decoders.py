"""picfind without the decoder of one kind of picture (rawpy for camera RAW, pi-heif for HEIC,
pylibjxl for JPEG XL), as a distribution that left one out or a broken install has it. The real
command runs where they truly cannot be imported (tests/unimportable.py), on real files of each
kind: the other pictures are indexed, each of those files is skipped with the reason naming the pip
command (which `similar` gives too), tried again by every run, and read by the first run after its
decoder is back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from picfind.media import picture  # noqa: F401 - registers pylibjxl's JPEG XL writer with Pillow
from picfind.media.formats import NO_HEIC_SUPPORT, NO_JXL_SUPPORT, NO_RAW_SUPPORT

from .conftest import picfind, shape_files
from .raws import dng
from .unimportable import without

MODEL = "tiny-shapes"
DECODERS = ("rawpy", "pi_heif", "pillow_heif", "pylibjxl")  # pillow-heif: heif.py reads HEIC with it too


def _folder(root: Path) -> Path:
    """A PNG and an ordinary TIFF (Pillow's), a DNG pidng wrote, a HEIC and a JPEG XL."""
    pillow_heif = pytest.importorskip("pillow_heif")
    root.mkdir()
    red, blue, green = (shape_files(c, s, n=1, seed=9)[0].resize((320, 320))
                        for c, s in (("red", "circle"), ("blue", "square"), ("green", "triangle")))
    red.save(root / "red.png")
    shape_files("red", "circle", n=1, seed=3)[0].save(root / "scan.tif")
    (root / "DSC_0001.DNG").write_bytes(dng(green))
    pillow_heif.from_pillow(blue).save(root / "IMG_0002.HEIC")
    blue.save(root / "blue.jxl", "JXL")
    return root


def _status(db: Path, env: dict[str, str] | None = None) -> dict:
    return json.loads(picfind("status", "--json", "--skipped", "--db", str(db), env=env, check=True).stdout)


@pytest.mark.slow
def test_without_a_pictures_decoder_its_files_are_skipped_naming_the_command_and_read_once_installed(
        tmp_path: Path) -> None:
    root, db = _folder(tmp_path / "Camera"), tmp_path / "c.db"
    bare = without(tmp_path / "bare", *DECODERS)
    run = picfind("index", str(root), "--db", str(db), "--model", MODEL, env=bare)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert "2 embedded" in run.stdout and "3 skipped" in run.stdout
    st = _status(db, bare)
    assert st["images_indexed"] == 2  # the PNG, and the TIFF: Pillow's, though a RAW is TIFF inside
    assert st["skipped_by_reason"] == {NO_RAW_SUPPORT: 1, NO_HEIC_SUPPORT: 1, NO_JXL_SUPPORT: 1}
    assert sorted((Path(f["path"]).name, f["reason"]) for f in st["skipped_files"]) == [
        ("DSC_0001.DNG", NO_RAW_SUPPORT), ("IMG_0002.HEIC", NO_HEIC_SUPPORT), ("blue.jxl", NO_JXL_SUPPORT)]
    assert {f["reason"].split(" need ")[1] for f in st["skipped_files"]} == {
        "pip install rawpy", "pip install pi-heif", "pip install pylibjxl"}
    text = picfind("status", "--skipped", "--db", str(db), env=bare, check=True).stdout
    assert f"{NO_RAW_SUPPORT}: {root / 'DSC_0001.DNG'}" in text
    for name, reason in (("DSC_0001.DNG", NO_RAW_SUPPORT), ("IMG_0002.HEIC", NO_HEIC_SUPPORT),
                         ("blue.jxl", NO_JXL_SUPPORT)):  # a picture to compare with says it too
        like = picfind("similar", str(root / name), "--db", str(db), "--model", MODEL, env=bare)
        assert like.returncode == 1 and len(like.stderr.strip().splitlines()) == 1, like.stderr
        assert f"{reason} (" in like.stderr and "Traceback" not in like.stderr

    again = picfind("index", "--db", str(db), "--model", MODEL, env=bare, check=True)
    assert "3 skipped" in again.stdout and "2 unchanged" in again.stdout  # tried again, not remembered as bad

    after = picfind("index", "--db", str(db), "--model", MODEL, check=True)  # the decoders installed again
    assert "3 embedded" in after.stdout and "0 skipped" in after.stdout
    st = _status(db)
    assert st["images_indexed"] == 5 and st["skipped"] == 0
    found = json.loads(picfind("search", "a green triangle", "--db", str(db), "--model", MODEL, "--json",
                               check=True).stdout)
    assert Path(found[0]["path"]).name == "DSC_0001.DNG"


@pytest.mark.slow
def test_a_raw_an_earlier_picfind_skipped_for_want_of_rawpy_is_read_now(tmp_path: Path) -> None:
    """Earlier picfinds remembered such a RAW as "RAW support missing", for good."""
    root, db = _folder(tmp_path / "Camera"), tmp_path / "c.db"
    picfind("index", str(root), "--db", str(db), "--model", MODEL, env=without(tmp_path / "bare", "rawpy"),
            check=True)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE files SET reason = 'RAW support missing', detail = 'install rawpy: pip install rawpy' "
                    "WHERE reason = ?", (NO_RAW_SUPPORT,))
    assert _status(db)["skipped_by_reason"] == {"RAW support missing": 1}
    after = picfind("index", "--db", str(db), "--model", MODEL, check=True)
    assert "1 embedded" in after.stdout and "0 skipped" in after.stdout
