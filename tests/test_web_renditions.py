"""`/image/ID` of a picture the browser cannot show (camera RAW, HEIC, TIFF; JPEG XL where the
browser does not say it reads it) is a JPEG made as the indexer reads the file: upright, HDR
tone-mapped, the whole picture, at most 2048 px a side. What browsers show goes as its own bytes.
Real files (DNGs by pidng, HEICs by pillow-heif), a real catalog, and the page in Chromium."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from picfind.library import Library
from picfind.media import picture  # noqa: F401 - registers pylibjxl's JPEG XL writer with Pillow
from picfind.web import app as web
from picfind.web import service

from .conftest import real_photos
from .hdr import hdr_signal
from .raws import dng
from .test_web import LOCAL, MODEL, browser, serving  # noqa: F401 - browser: the fixture

pytestmark = pytest.mark.slow
pytest.importorskip("rawpy")
pillow_heif = pytest.importorskip("pillow_heif")
CHROMIUM_ACCEPT = "image/jxl,image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"  # Chromium 156's
FIREFOX_ACCEPT = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"


def _photo(name: str, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(real_photos()[name]).convert("RGB").resize(size)


def _heic(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(img).save(buf, quality=90, **kw)
    return buf.getvalue()


def _hdr_heic(photo: np.ndarray) -> bytes:
    """A 10-bit HEIC whose colour box says PQ, as an HDR camera writes it."""
    buf = io.BytesIO()
    h, w = photo.shape[:2]
    pillow_heif.from_bytes("RGB;16", (w, h), hdr_signal(photo, "pq").tobytes()).save(
        buf, quality=95, nclx_profile={"color_primaries": 9, "transfer_characteristics": 16,
                                       "matrix_coefficients": 9, "full_range_flag": 1})
    return buf.getvalue()


def _like(a: Image.Image, b: Image.Image) -> float:
    """Correlation of two pictures' grey levels, at b's size."""
    x = np.asarray(a.convert("L").resize(b.size), float).ravel()
    return float(np.corrcoef(x, np.asarray(b.convert("L"), float).ravel())[0, 1])


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    lib = tmp_path_factory.mktemp("renditions") / "Pictures"
    lib.mkdir()
    cat = _photo("chelsea", (2400, 1600))
    (lib / "DSC_0001.DNG").write_bytes(dng(cat, orientation=6, preview=cat))  # held upright; full-size preview
    (lib / "DSC_0002.DNG").write_bytes(dng(cat.resize((600, 400)), orientation=8))  # no preview: demosaiced
    (lib / "IMG_0001.HEIC").write_bytes(_heic(_photo("astronaut", (1600, 1200)), thumbnails=[512]))
    (lib / "IMG_0002.jpg").write_bytes(_heic(_photo("astronaut", (640, 480))))  # a HEIC named .jpg
    (lib / "hdr.heic").write_bytes(_hdr_heic(np.asarray(_photo("chelsea", (320, 224)), np.float64)))
    _photo("coffee", (400, 300)).save(lib / "coffee.jpg", quality=85)
    _photo("coffee", (300, 200)).save(lib / "scan.tif")
    _photo("coffee", (320, 240)).save(lib / "art.jxl")
    db = lib.parent / "c.db"
    with Library(db, model=MODEL) as library:
        report = library.index([str(lib)])
        assert not report.skipped, report.skipped
    return lib, db


@pytest.fixture()
def client(catalog) -> Iterator[TestClient]:
    with TestClient(web.create_app(catalog[1], MODEL), base_url=LOCAL) as c:
        yield c


def _image(client: TestClient, name: str, accept: str = CHROMIUM_ACCEPT):
    hits = client.get("/api/search", params={"q": "a photo", "n": 50}).json()["results"]
    hit = next(h for h in hits if Path(h["path"]).name == name)
    return client.get(hit["image"], headers={"Accept": accept})


def _jpeg(response) -> Image.Image:
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg", response.content[:200]
    assert response.headers["x-content-type-options"] == "nosniff"
    img = Image.open(io.BytesIO(response.content))
    assert img.format == "JPEG"
    img.load()
    return img


def test_a_raw_is_shown_upright_and_at_most_2048_pixels(client: TestClient) -> None:
    img = _jpeg(_image(client, "DSC_0001.DNG"))
    assert img.size == (1365, 2048)  # 2400x1600 turned upright, its longer side brought to 2048
    assert _like(img, _photo("chelsea", (2400, 1600)).transpose(Image.Transpose.ROTATE_270).resize((400, 600))) > 0.95
    assert "exif" not in img.info  # upright already: no orientation for a viewer to apply again
    small = _jpeg(_image(client, "DSC_0002.DNG"))
    assert small.size == (200, 300)  # half of 600x400 (LibRaw's half-size demosaic), turned anticlockwise
    assert _like(small, _photo("chelsea", (600, 400)).transpose(Image.Transpose.ROTATE_90).resize((200, 300))) > 0.9


def test_a_heic_is_shown_whole_and_hdr_tone_mapped(client: TestClient) -> None:
    img = _jpeg(_image(client, "IMG_0001.HEIC"))
    assert img.size == (1600, 1200)  # the picture, not the 512 px thumbnail the file also holds
    assert _like(img, _photo("astronaut", (400, 300))) > 0.95
    named = _jpeg(_image(client, "IMG_0002.jpg"))  # its bytes say HEIC, whatever its name says
    assert named.size == (640, 480) and _like(named, _photo("astronaut", (640, 480))) > 0.95
    hdr = np.asarray(_jpeg(_image(client, "hdr.heic")), np.float64)
    assert np.abs(hdr - np.asarray(_photo("chelsea", (320, 224)), np.float64)).mean() < 12  # ~30 cut to 8 bits


def test_what_browsers_show_is_sent_as_it_is(client: TestClient, catalog) -> None:
    lib = catalog[0]
    jpeg = _image(client, "coffee.jpg")
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.content == (lib / "coffee.jpg").read_bytes()
    assert _jpeg(_image(client, "scan.tif")).size == (300, 200)  # TIFF: only Safari shows it
    jxl = _image(client, "art.jxl")  # Chromium says it reads JPEG XL: its bytes
    assert jxl.headers["content-type"] == "image/jxl" and jxl.content == (lib / "art.jxl").read_bytes()
    assert jxl.headers["vary"] == "Accept"
    assert _jpeg(_image(client, "art.jxl", FIREFOX_ACCEPT)).size == (320, 240)  # Firefox does not: a JPEG


def test_renditions_are_bounded(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond RENDITIONS_AT_ONCE under way, the next is told to come back (none here: a cap of 0)."""
    monkeypatch.setattr(service, "RENDITIONS_AT_ONCE", 0)
    busy = _image(client, "DSC_0001.DNG")
    assert busy.status_code == 503 and "busy" in busy.json()["error"] and busy.headers["retry-after"]
    assert _image(client, "coffee.jpg").status_code == 200  # its bytes need no decode


def test_a_raw_opens_large_in_the_page(browser, catalog) -> None:  # noqa: F811 - the fixture
    with serving(catalog[1]) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(url)
        page.fill("#q", "a cat")
        page.wait_for_selector(".tile img")
        page.click(".tile[title^='" + str(catalog[0] / "DSC_0001.DNG") + "']")
        page.wait_for_selector("#viewer[open]")
        size = page.eval_on_selector("#big", "img => new Promise(ok => img.complete ? ok([img.naturalWidth, "
                                     "img.naturalHeight]) : (img.onload = img.onerror = () => ok([img.naturalWidth, "
                                     "img.naturalHeight])))")
        assert size == [1365, 2048]
        page.close()
