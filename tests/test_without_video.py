"""picfind without PyAV (issue 28: PyAV's wheels bundle GPL encoders, so it is the `video` extra).
The real command runs where `av` truly cannot be imported (a `sitecustomize` on PYTHONPATH refuses
it), on real pictures and real videos PyAV wrote here: pictures are indexed and found, each video
is skipped with the reason that says what to install, tried again by every run, and read by the
first run after PyAV is back; a catalog that holds videos still answers for them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from picfind.media.formats import NO_VIDEO_SUPPORT, VIDEO_EXTRA

from .conftest import picfind, real_photos, shape_files
from .unimportable import without
from .videos import BLUE_SQUARE, RED_CIRCLE, shapes_video

MODEL = "tiny-shapes"


@pytest.fixture()
def no_av(tmp_path: Path) -> dict[str, str]:
    """The environment of a Python that cannot import av."""
    return without(tmp_path / "no-av", "av")


def _folder(root: Path) -> Path:
    """Real photos, shape pictures, a video, and a Live Photo (its still and its 2 s motion)."""
    root.mkdir()
    for name, arr in list(real_photos().items())[:2]:
        Image.fromarray(arr).save(root / f"{name}.jpg", quality=90)
    shape_files("red", "circle", n=1)[0].save(root / "red.png")
    shape_files("green", "triangle", n=1, seed=4)[0].save(root / "IMG_0001.JPG")
    shapes_video(root / "IMG_0001.MOV", {0.0: BLUE_SQUARE}, 2, size=(96, 64))
    shapes_video(root / "clip.mp4", {2.0: BLUE_SQUARE}, 8)
    return root


def _hits(query: str, db: Path, env: dict[str, str] | None = None, *more: str) -> list[dict]:
    out = picfind("search", query, "--db", str(db), "--model", MODEL, "--json", *more, env=env, check=True)
    return json.loads(out.stdout)


@pytest.mark.slow
def test_without_pyav_pictures_are_indexed_and_each_video_is_skipped_with_what_to_install(tmp_path: Path,
                                                                                        no_av: dict) -> None:
    root, db = _folder(tmp_path / "Phone"), tmp_path / "c.db"
    run = picfind("index", str(root), "--db", str(db), "--model", MODEL, env=no_av)
    assert run.returncode == 0, run.stderr
    assert f"1 skipped (1 {NO_VIDEO_SUPPORT})" in run.stdout and "4 embedded" in run.stdout
    assert "1 Live Photo motion (shown with the still)" in run.stdout  # told by its header, with no PyAV
    assert "Traceback" not in run.stderr and run.stderr.strip().splitlines() == [
        "`picfind status --skipped` lists the skipped files and why"]

    st = json.loads(picfind("status", "--json", "--skipped", "--db", str(db), env=no_av, check=True).stdout)
    assert st["video_support"] is False and st["images_indexed"] == 4 and st["live_photo_motions"] == 1
    assert st["skipped_by_reason"] == {NO_VIDEO_SUPPORT: 1}
    assert [(Path(f["path"]).name, f["reason"]) for f in st["skipped_files"]] == [("clip.mp4", NO_VIDEO_SUPPORT)]
    text = picfind("status", "--skipped", "--db", str(db), env=no_av, check=True).stdout
    assert f"videos    not read here: {VIDEO_EXTRA}" in text and f"{NO_VIDEO_SUPPORT}: {root / 'clip.mp4'}" in text

    assert Path(_hits("a red circle", db, no_av)[0]["path"]).name == "red.png"
    live = _hits("a green triangle", db, no_av)[0]
    assert Path(live["path"]).name == "IMG_0001.JPG" and Path(live["motion"]).name == "IMG_0001.MOV"
    similar = picfind("similar", f"{root / 'clip.mp4'}@0:03", "--db", str(db), "--model", MODEL, env=no_av)
    assert similar.returncode == 1 and "Traceback" not in similar.stderr
    assert similar.stderr.strip().splitlines() == [
        f"picfind: error: {root / 'clip.mp4'} is not indexed with {MODEL}: videos need {VIDEO_EXTRA}, "
        "then `picfind index` on its folder"]

    again = picfind("index", "--db", str(db), "--model", MODEL, env=no_av, check=True)
    assert f"1 skipped (1 {NO_VIDEO_SUPPORT})" in again.stdout  # not remembered as a bad file

    after = picfind("index", "--db", str(db), "--model", MODEL, check=True)  # PyAV installed again
    assert "1 embedded" in after.stdout and "0 skipped" in after.stdout
    found = _hits("a blue square", db, None, "--kind", "video")
    assert Path(found[0]["path"]).name == "clip.mp4" and 2 <= found[0]["time"] < 6
    st = json.loads(picfind("status", "--json", "--db", str(db), check=True).stdout)
    assert st["video_support"] is True and st["skipped"] == 0 and st["videos"] == 1


@pytest.mark.slow
def test_watch_without_pyav_lists_the_video_it_skips(tmp_path: Path, no_av: dict) -> None:
    root, db = tmp_path / "Videos", tmp_path / "c.db"
    root.mkdir()
    shape_files("red", "circle", n=1)[0].save(root / "red.png")
    shapes_video(root / "clip.mp4", {0.0: RED_CIRCLE}, 4)
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "watch", str(root), "--db", str(db), "--model", MODEL],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **no_av})
    try:
        line = proc.stdout.readline()
        assert f"start ({root} re-scanned): 1 added" in line and f"1 skipped (1 {NO_VIDEO_SUPPORT})" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert "Traceback" not in proc.stderr.read()


@pytest.mark.slow
def test_a_catalog_with_videos_still_answers_for_them_without_pyav(tmp_path: Path, no_av: dict) -> None:
    """Indexed where PyAV was (or before it was removed): searched, compared, served and kept, with
    nothing to decode."""
    root, db = _folder(tmp_path / "Phone"), tmp_path / "c.db"
    picfind("index", str(root), "--db", str(db), "--model", MODEL, "-q", check=True)
    clip = _hits("a blue square", db, no_av, "--kind", "video")[0]
    assert Path(clip["path"]).name == "clip.mp4"
    like = [picfind("similar", f"{root / 'clip.mp4'}@0:03", "--db", str(db), "--model", MODEL, "--json", env=env,
                    check=True).stdout for env in (None, no_av)]
    assert like[0] == like[1] and json.loads(like[1])  # the moment's vector is the catalog's: no decoding
    status = picfind("status", "--db", str(db), "--model", MODEL, env=no_av, check=True).stdout
    assert "holds     4 pictures, 1 video (" in status and f"videos    not read here: {VIDEO_EXTRA}" in status
    again = picfind("index", "--db", str(db), "--model", MODEL, env=no_av, check=True)
    assert "6 unchanged" in again.stdout and "0 skipped" in again.stdout  # nothing dropped, nothing read
    web = f'''
from starlette.testclient import TestClient
from picfind.web.app import create_app
with TestClient(create_app({str(db)!r}, {MODEL!r}), base_url="http://127.0.0.1:8765") as c:
    hit = c.get("/api/search", params={{"q": "a blue square", "kind": "video"}}).json()["results"][0]
    live = c.get("/api/search", params={{"q": "a green triangle"}}).json()["results"][0]
    print(c.get(hit["video"]).status_code, len(c.get(hit["video"]).content), c.get(hit["thumb"]).status_code,
          c.get(live["motion_video"]).status_code)
'''
    served = subprocess.run([sys.executable, "-c", web], env={**os.environ, **no_av}, capture_output=True, text=True,
                            timeout=120)
    assert served.returncode == 0, served.stderr
    assert served.stdout.split() == ["200", str((root / "clip.mp4").stat().st_size), "200", "200"]
