"""Videos on the web page: the moment's frame and time on the tile, the video served in byte
ranges (206) under the same rules as pictures, and Chromium playing it from that second."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .conftest import picfind, shape_files
from .videos import RED_CIRCLE, shapes_video

if TYPE_CHECKING:
    from playwright.sync_api import Page

# the web page -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A VP9 WebM (every Chromium plays it) with a red circle from 0:06, and a photo."""
    lib = tmp_path_factory.mktemp("webvideos") / "lib"
    shapes_video(lib / "clip.webm", {6.0: RED_CIRCLE}, 12, codec="libvpx-vp9", size=(192, 144))
    shape_files("blue", "square", n=1)[0].save(lib / "square.png")
    db = lib.parent / "c.db"
    picfind("index", str(lib), "--db", str(db), "--model", "tiny-shapes", "-q", check=True)  # before the env is set
    return lib, db


def test_the_web_api_serves_a_moment_and_byte_ranges_of_the_indexed_video_only(web_catalog) -> None:
    from starlette.testclient import TestClient

    from picfind.web import app as web

    lib, db = web_catalog
    with TestClient(web.create_app(db, "tiny-shapes"), base_url="http://127.0.0.1:8765") as c:
        hit = c.get("/api/search", params={"q": "a red circle"}).json()["results"][0]
        assert (hit["kind"], hit["time"], hit["duration"]) == ("video", 6.0, 12.0)
        assert hit["thumb"] == f"/thumb/{hit['id']}?t=6" and hit["video"] == f"/video/{hit['id']}"
        frame = c.get(hit["thumb"])
        assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
        assert frame.content != c.get(f"/thumb/{hit['id']}").content  # the moment's frame, not the opening
        data = (lib / "clip.webm").read_bytes()
        part = c.get(hit["video"], headers={"Range": "bytes=100-299"})
        assert part.status_code == 206 and part.content == data[100:300]
        assert part.headers["content-range"] == f"bytes 100-299/{len(data)}"
        assert part.headers["accept-ranges"] == "bytes" and part.headers["content-type"] == "video/webm"
        assert part.headers["x-content-type-options"] == "nosniff"
        assert c.get(hit["video"], headers={"Range": "bytes=-50"}).content == data[-50:]
        whole = c.get(hit["video"])
        assert whole.status_code == 200 and whole.content == data
        assert c.get(hit["video"], headers={"Range": f"bytes={len(data)}-"}).status_code == 416
        photo = c.get("/api/search", params={"q": "a blue square", "kind": "image"}).json()["results"]
        assert [r["kind"] for r in photo] == ["image"] and "video" not in photo[0]
        assert c.get(f"/video/{photo[0]['id']}").status_code == 404  # a picture is not played as a video
        assert c.get(hit["video"], headers={"Host": "evil.example"}).status_code == 403
        like = c.get("/api/similar", params={"id": hit["id"], "t": "7"}).json()["results"]
        assert like and all(r["kind"] == "image" for r in like)  # the video itself left out
        os.utime(lib / "clip.webm", ns=(10**18, 10**18))  # touched, same bytes: still served
        assert c.get(hit["video"], headers={"Range": "bytes=0-9"}).content == data[:10]
        copy = lib.parent / "before.webm"
        shutil.copy(lib / "clip.webm", copy)
        (lib / "clip.webm").write_bytes(data[:-10] + b"0123456789")  # other bytes now: never served
        assert c.get(hit["video"]).status_code == 404
        shutil.copy(copy, lib / "clip.webm")


@contextmanager
def chromium_page(db: Path) -> Iterator[tuple[Page, str]]:
    """A Chromium page, and the address of `picfind serve` on this catalog."""
    from playwright.sync_api import sync_playwright

    from .test_web import CHROMIUM, FLAGS, serving

    with serving(db) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1100, "height": 800}), url
        finally:
            browser.close()


@pytest.mark.slow
def test_clicking_a_video_result_plays_it_from_its_moment_in_chromium(web_catalog) -> None:
    lib, db = web_catalog
    with chromium_page(db) as (page, url):
        ranges: list[str] = []
        page.on("request", lambda r: ranges.append(r.headers.get("range", "")) if "/video/" in r.url else None)
        page.goto(url)
        page.fill("#q", "a red circle")
        page.wait_for_selector(".tile .time")
        assert page.inner_text(".tile >> nth=0").strip().endswith("▶ 0:06")
        page.wait_for_function("() => document.querySelector('.tile img').naturalWidth > 0")  # the frame
        page.click(".tile >> nth=0")
        page.wait_for_selector("#play:not([hidden])")
        page.wait_for_function("() => document.querySelector('#play').currentTime >= 6", timeout=20000)
        assert page.eval_on_selector("#play", "v => v.error") is None
        assert "0:06" in page.inner_text("#facts") and "0:12" in page.inner_text("#facts")  # moment, length
        assert any(r.startswith("bytes=") for r in ranges)  # the browser asked for byte ranges
        page.click(".moment >> nth=-1")  # another moment: the player jumps there
        page.keyboard.press("Escape")
        page.wait_for_function("() => document.querySelector('#play').paused")


# Live Photos: the still's motion, played in the viewer ----------------------------------------------

@pytest.fixture(scope="module")
def live_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A Live Photo (a still and its 3 s VP9 motion, in MP4, which every Chromium plays), a plain
    photo, and a still whose same-named video is long: a video of its own, not a motion."""
    lib = tmp_path_factory.mktemp("live") / "lib"
    lib.mkdir()
    shape_files("red", "circle", n=1, seed=9)[0].save(lib / "IMG_0001.JPG")
    shapes_video(lib / "IMG_0001.MP4", {0.0: RED_CIRCLE}, 3, codec="libvpx-vp9", size=(192, 144))
    shape_files("blue", "square", n=1, seed=9)[0].save(lib / "IMG_0002.JPG")
    db = lib.parent / "c.db"
    picfind("index", str(lib), "--db", str(db), "--model", "tiny-shapes", "-q", check=True)
    return lib, db


def test_the_motion_of_a_live_photo_is_served_by_its_still_only_while_unchanged(live_catalog) -> None:
    from starlette.testclient import TestClient

    from picfind.web import app as web

    lib, db = live_catalog
    with TestClient(web.create_app(db, "tiny-shapes"), base_url="http://127.0.0.1:8765") as c:
        hits = {Path(h["path"]).name: h for h in c.get("/api/search", params={"q": "a red circle"}).json()["results"]}
        live, plain = hits["IMG_0001.JPG"], hits["IMG_0002.JPG"]
        assert live["motion_video"] == f"/motion/{live['id']}" and "motion_video" not in plain
        data, indexed = (lib / "IMG_0001.MP4").read_bytes(), (lib / "IMG_0001.MP4").stat()
        part = c.get(live["motion_video"], headers={"Range": "bytes=10-109"})
        assert part.status_code == 206 and part.content == data[10:110]
        assert part.headers["content-type"] == "video/mp4" and part.headers["x-content-type-options"] == "nosniff"
        assert c.get(live["motion_video"]).content == data
        assert c.get(f"/motion/{plain['id']}").status_code == 404  # no motion beside it
        assert c.get("/motion/999999").status_code == 404
        assert c.get(live["motion_video"], headers={"Host": "evil.example"}).status_code == 403
        (lib / "IMG_0002.MP4").write_bytes(data)  # a motion put beside a still after indexing: never served
        assert c.get(f"/motion/{plain['id']}").status_code == 404
        (lib / "IMG_0002.MP4").unlink()
        (lib / "IMG_0001.MP4").write_bytes(data[:-10] + b"0123456789")  # other bytes now: never served
        assert c.get(live["motion_video"]).status_code == 404
        (lib / "IMG_0001.MP4").write_bytes(data)  # the same bytes, a new time: not the file indexed
        assert c.get(live["motion_video"]).status_code == 404  # (no content hash to tell it is the same)
        os.utime(lib / "IMG_0001.MP4", ns=(indexed.st_atime_ns, indexed.st_mtime_ns))
        assert c.get(live["motion_video"]).content == data  # as indexed again


TOP = "() => document.querySelector('.tile') && document.querySelector('.tile').title.includes('%s')"


@pytest.mark.slow
def test_a_live_photo_plays_its_motion_in_the_viewer_in_chromium(live_catalog) -> None:
    lib, db = live_catalog
    with chromium_page(db) as (page, url):
        page.goto(url)
        page.fill("#q", "a blue square")
        page.wait_for_function(TOP % "IMG_0002.JPG")  # this query's results, not the last one's
        page.click(".tile >> nth=0")
        page.wait_for_selector("#big:not([hidden])")
        assert page.is_hidden("#motion")  # a plain photo: nothing to play
        page.keyboard.press("Escape")
        page.fill("#q", "a red circle")
        page.wait_for_function(TOP % "IMG_0001.JPG")
        page.click(".tile >> nth=0")
        page.wait_for_selector("#motion:not([hidden])")
        assert page.is_visible("#big") and page.is_hidden("#play")  # the still first
        page.click("#motion")
        page.wait_for_selector("#play:not([hidden])")
        page.wait_for_function("() => document.querySelector('#play').currentTime > 0.5", timeout=20000)
        assert page.eval_on_selector("#play", "v => v.error") is None
        assert "/motion/" in page.eval_on_selector("#play", "v => v.currentSrc")
        page.wait_for_selector("#big:not([hidden])", timeout=20000)  # ended: the still again
        assert page.is_hidden("#play")
