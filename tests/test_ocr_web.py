"""OCR text in the web API and page: matched words marked in the viewer, the text escaped.

The text is stored straight into the catalog (as `picfind index --ocr` stores it), so these
tests need no OCR run and can plant text a page must not execute."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from picfind.catalogs.opening import open_catalog
from picfind.indexing.stages import content_hash
from picfind.ocr.reader import DEFAULT_OCR
from picfind.search.textsearch import set_ocr
from picfind.web import app as web

from .conftest import picfind, shape_files
from .test_web import CHROMIUM, FLAGS, LOCAL, free_port

pytestmark = pytest.mark.slow
MODEL = "tiny-shapes"
PLANTED = '<img src=x onerror="window.pwned=1">Receipt\nHotel ADLON café'


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def catalog(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A `--db` value of each kind: three pictures, one of which has text planted."""
    lib = tmp_path_factory.mktemp("ocrweb") / "Pictures"
    lib.mkdir()
    for i, img in enumerate(shape_files("blue", "square", n=3, seed=2)):
        img.save(lib / f"blue-square-{i}.png")
    if request.param == "sqlite":
        db = str(lib.parent / "c.db")
    else:
        server = request.getfixturevalue("pg_server")
        name = f"picfind_ocrweb_{uuid.uuid4().hex[:12]}"  # module scope: pg_url's per-test database will not do
        server.psql(f"CREATE DATABASE {name};")
        db = server.get_uri(name)
    picfind("index", str(lib), "--db", db, "--model", MODEL, "--quiet", check=True)
    cat = open_catalog(db)
    receipt = content_hash((lib / "blue-square-2.png").read_bytes())
    cat.put_texts(DEFAULT_OCR, {h: (PLANTED if h == receipt else "") for h in cat.embedded_hashes(MODEL)})
    set_ocr(cat, True)
    cat.close()
    return db, "blue-square-2.png"


def test_api_returns_text_and_matched_words(catalog) -> None:
    db, receipt = catalog
    with TestClient(web.create_app(db, MODEL), base_url=LOCAL) as client:
        body = client.get("/api/search", params={"q": "hotel adlon"}).json()
        first = body["results"][0]
        assert Path(first["path"]).name == receipt and first["matched"] == ["hotel", "adlon"]
        assert first["ocr_text"] == PLANTED and len(body["results"]) == 3
        assert all(r["matched"] == [] and r["ocr_text"] == "" for r in body["results"][1:])
        only = client.get("/api/search", params={"q": "adlon", "ocr_only": "1"}).json()["results"]
        assert [Path(r["path"]).name for r in only] == [receipt]
        # combined queries: one added text term's words suffice; a subtracted term's never match
        both = client.get("/api/search", params={"q": '"hotel adlon" + "a red circle"'}).json()["results"]
        assert Path(both[0]["path"]).name == receipt and both[0]["matched"] == ["hotel", "adlon"]
        minus = client.get("/api/search", params={"q": '"a blue square" - "adlon"'}).json()["results"]
        assert not any(r["matched"] for r in minus)
        # filters hold for text matches too
        other = client.get("/api/search", params={"q": "adlon", "ext": "jpg"}).json()["results"]
        assert other == []
        spec = client.get("/api/openapi.json").json()
        assert {"ocr_text", "matched"} <= set(spec["components"]["schemas"]["Result"]["properties"])


def test_the_viewer_marks_matched_words_and_runs_nothing_from_the_text(catalog) -> None:
    from playwright.sync_api import sync_playwright

    db, receipt = catalog
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "serve", "--db", str(db), "--model", MODEL,
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert f":{port}/" in proc.stdout.readline()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#q", "hotel cafe")
            page.wait_for_function("() => document.querySelectorAll('.tile').length === 3")
            assert Path(page.get_attribute(".tile >> nth=0", "title").split("\n")[0]).name == receipt
            page.click(".tile >> nth=0")
            page.wait_for_selector("#viewer[open] .ocr")
            assert page.eval_on_selector_all("#facts mark", "ms => ms.map(m => m.textContent)") == ["Hotel", "café"]
            assert page.eval_on_selector_all("#facts img", "xs => xs.length") == 0
            assert "<img src=x" in page.inner_text("#facts .ocr")  # shown as text
            assert page.evaluate("window.pwned") is None
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_json_carries_the_text_and_the_terminal_a_snippet(catalog) -> None:
    db, receipt = catalog
    hits = json.loads(picfind("search", "ADLÖN", "--db", str(db), "--json", "-n", "1", check=True).stdout)
    assert Path(hits[0]["path"]).name == receipt and hits[0]["matched"] == ["adlon"]
    out = picfind("search", "adlon", "--db", str(db), "-n", "1", check=True).stdout.splitlines()
    assert receipt in out[0] and out[1].strip().startswith("text: ") and "ADLON" in out[1]
    shell = picfind("shell", "--db", str(db), input="hotel adlon --ocr-only\n", check=True).stdout.splitlines()
    ranked = [line for line in shell if line.strip()[:1].isdigit()]
    assert len(ranked) == 1 and receipt in ranked[0], shell  # the shell takes --ocr-only on a line
