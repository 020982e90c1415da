"""`picfind serve` against a hostile page and an unlucky client (issue 23, items 2-5 and the token):
no request makes the server look at a path, queries are capped, other sites' pages are refused,
a stalled upload gives its slot back, and a heavy search does not hold up pictures."""

from __future__ import annotations

import io
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from picfind.indexing.stages import content_hash
from picfind.library import Library
from picfind.ocr.reader import DEFAULT_OCR
from picfind.search.query import MAX_QUERY_CHARS, MAX_TERMS
from picfind.search.textsearch import set_ocr
from picfind.web import app as web
from picfind.web import service

from .conftest import picfind, shape_files
from .test_web import LOCAL, free_port, upload_part
from .test_web import browser as browser  # the fixture

MODEL = "tiny-shapes"


def _make(folder: Path, db: str) -> str:
    folder.mkdir()
    for i, img in enumerate(shape_files("blue", "square", n=3, seed=2)):
        img.save(folder / f"blue-square-{i}.png")
    with Library(db, model=MODEL) as lib:
        lib.index([str(folder)])
        receipt = content_hash((folder / "blue-square-2.png").read_bytes())
        lib.catalog.put_texts(DEFAULT_OCR, {h: ("HAMMOCK receipt" if h == receipt else "")
                                            for h in lib.catalog.embedded_hashes(MODEL)})
        set_ocr(lib.catalog, True)
    return db


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def catalog(request, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A catalog of each kind that reads text: three pictures, one saying HAMMOCK."""
    folder = tmp_path_factory.mktemp("hard") / "Pictures"
    if request.param == "sqlite":
        return _make(folder, str(folder.parent / "c.db"))
    server = request.getfixturevalue("pg_server")
    name = f"picfind_hard_{uuid.uuid4().hex[:12]}"
    server.psql(f"CREATE DATABASE {name};")
    return _make(folder, server.get_uri(name))


@pytest.fixture()
def client(catalog: str) -> Iterator[TestClient]:
    with TestClient(web.create_app(catalog, MODEL), base_url=LOCAL) as c:
        yield c


# --- item 2: one parse, files disallowed ---------------------------------------------------

@pytest.mark.parametrize("params", [{"q": "hammock"}, {"q": "hammock", "ocr_only": "1"},
                                    {"q": "hammock + receipt"}, {"q": "2:hammock - receipt"}])
def test_the_answer_is_the_same_whether_a_same_named_file_exists(client: TestClient, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  params: dict) -> None:
    monkeypatch.chdir(tmp_path)
    before = client.get("/api/search", params=params)
    os.mkfifo(tmp_path / "hammock")
    shape_files("red", "circle", n=1)[0].save(tmp_path / "receipt", "PNG")
    after = client.get("/api/search", params=params)
    assert (after.status_code, after.json()) == (before.status_code, before.json()) and before.status_code == 200
    assert "HAMMOCK" in before.json()["results"][0]["ocr_text"]


def test_one_misread_word_does_not_hide_the_picture(client: TestClient) -> None:
    """Issue 23, item 8, on both catalogs: OCR read only HAMMOCK; `Quartz HAMMOCK` lifts it."""
    for params in ({"q": "Quartz HAMMOCK"}, {"q": "Quartz HAMMOCK", "ocr_only": "1"}):
        first = client.get("/api/search", params=params).json()["results"][0]
        assert first["matched"] == ["hammock"] and "HAMMOCK" in first["ocr_text"]


def test_a_folder_filter_from_the_web_is_never_read_against_the_servers_folder(client: TestClient) -> None:
    for folder in ("~root/Pictures", "Pictures", "./x"):
        answer = client.get("/api/search", params={"q": "a square", "in": folder})
        assert answer.status_code == 400 and "full path" in answer.json()["error"]


# --- item 3: caps ---------------------------------------------------------------------------

def test_queries_over_the_caps_are_refused_in_one_line(client: TestClient) -> None:
    many = " + ".join(["red"] * (MAX_TERMS + 1))
    answer = client.get("/api/search", params={"q": many})
    assert answer.status_code == 400 and f"the most is {MAX_TERMS}" in answer.json()["error"]
    huge = client.get("/api/search", params={"q": "red + " * 8000 + "red"})  # the 47 KB URL of the issue
    assert huge.status_code == 400 and f"{MAX_QUERY_CHARS:,}" in huge.json()["error"]
    assert client.get("/api/search", params={"q": " + ".join(["red"] * MAX_TERMS)}).status_code == 200


def test_the_cli_and_the_shell_refuse_them_too(catalog: str) -> None:
    if "://" in catalog:
        pytest.skip("the same parse on either catalog: once is enough")
    words = " + ".join(["red"] * (MAX_TERMS + 1)).split()
    cli = picfind("search", *words, "--db", catalog)
    assert cli.returncode != 0 and f"the most is {MAX_TERMS}" in cli.stderr and "Traceback" not in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1
    shell = picfind("shell", "--db", catalog, input=" ".join(words) + "\na blue square\n")
    assert f"the most is {MAX_TERMS}" in shell.stderr and "blue-square" in shell.stdout


@contextmanager
def running(config) -> Iterator[None]:
    """A uvicorn server with this config on a thread of this process, until the block ends."""
    import uvicorn

    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(15)


@contextmanager
def in_process(db: str, token: str | None = None) -> Iterator[tuple[str, int]]:
    """The app on a real uvicorn server on 127.0.0.1, in this process (so a test can reach into it)."""
    import uvicorn

    port = free_port()
    with running(uvicorn.Config(web.create_app(db, MODEL, token), host="127.0.0.1", port=port,
                                log_level="warning", access_log=False)):
        yield f"http://127.0.0.1:{port}/", port


def test_thumbnails_answer_while_a_heavy_search_runs(catalog: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search held on the encoder (here: until the test lets it go) does not hold up a
    thumbnail, a picture or a file's entry."""
    release, started = threading.Event(), threading.Event()
    real = Library.embed_text

    def held(self, text: str):
        if "heavy" in text:
            started.set()
            release.wait(30)
        return real(self, text)
    monkeypatch.setattr(Library, "embed_text", held)
    with in_process(catalog) as (url, _):
        with urllib.request.urlopen(url + "api/search?q=a+blue+square&n=1", timeout=60) as r:
            first = json.load(r)["results"][0]
        answers: list[int] = []
        search = threading.Thread(target=lambda: answers.append(
            urllib.request.urlopen(url + "api/search?q=heavy", timeout=60).status))
        search.start()
        try:
            assert started.wait(30)
            for path in (first["thumb"], first["image"], f"api/file/{first['id']}", "api/status"):
                with urllib.request.urlopen(url + path.lstrip("/"), timeout=10) as r:
                    assert r.status == 200
            assert not answers  # the search was still running meanwhile
        finally:
            release.set()
            search.join(60)
        assert answers == [200]


# --- item 4: cross-site ---------------------------------------------------------------------

ROUTES = ["/api/search?q=red", "/api/similar?id=1", "/api/dupes", "/api/status", "/api/file/1",
          "/api/openapi.json", "/thumb/1", "/image/1"]


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "https://evil.example"}, {"Origin": "null"}])
def test_other_sites_pages_are_refused_on_every_route_but_the_page(client: TestClient, headers: dict) -> None:
    for route in ROUTES:
        answer = client.get(route, headers=headers)
        assert answer.status_code == 403 and "refused" in answer.json()["error"], route
    assert client.get("/", headers=headers).status_code == 200  # a link to the page still opens it


def test_the_servers_own_page_and_typed_addresses_still_work(client: TestClient) -> None:
    own = {"Sec-Fetch-Site": "same-origin", "Origin": LOCAL}
    hit = client.get("/api/search", params={"q": "a blue square"}, headers=own).json()["results"][0]
    for route in (hit["thumb"], hit["image"]):
        answer = client.get(route, headers={"Sec-Fetch-Site": "same-origin"})
        assert answer.status_code == 200 and answer.headers["cross-origin-resource-policy"] == "same-origin"
    assert client.get("/api/status", headers={"Sec-Fetch-Site": "none"}).status_code == 200


# --- item 5: stalled uploads ----------------------------------------------------------------

def _png() -> bytes:
    out = io.BytesIO()
    shape_files("green", "triangle", n=1, seed=77)[0].save(out, "PNG")
    return out.getvalue()


def test_stalled_uploads_give_their_slots_back(catalog: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four connections send headers and two bytes, then stall: after the idle deadline each
    gets 408 and a fifth upload is answered (it used to get 503 for as long as they stayed)."""
    if "://" in catalog:
        pytest.skip("the body is read before any catalog is asked: once is enough")
    monkeypatch.setattr(service, "UPLOAD_IDLE_SECONDS", 0.5)
    body = _png()
    with in_process(catalog) as (url, port):
        stalled = [upload_part(port, body, body[:2], "/api/similar?n=2") for _ in range(service.UPLOADS_AT_ONCE)]
        for conn in stalled:
            answer = conn.getresponse()
            assert answer.status == 408 and "stalled" in json.load(answer)["error"]
            conn.close()
        fresh = upload_part(port, body, body, "/api/similar?n=2").getresponse()
        assert fresh.status == 200 and len(json.load(fresh)["results"]) == 2


# --- the token ------------------------------------------------------------------------------

def test_the_cookie_is_named_for_the_port(catalog: str) -> None:
    with TestClient(web.create_app(catalog, MODEL, token="s3cret"), base_url=LOCAL) as c:
        page = c.get("/?token=s3cret")
        assert page.status_code == 200 and "picfind_token_8765=" in page.headers["set-cookie"]
        c.cookies.clear()
        c.cookies.set("picfind_token_9999", "s3cret")  # another picfind's cookie on this host
        assert c.get("/api/status").status_code == 401
        c.cookies.set("picfind_token_8765", "s3cret")
        assert c.get("/api/status").status_code == 200


@pytest.mark.parametrize("how", ["env", "file"])
def test_the_token_from_the_environment_or_a_file(catalog: str, tmp_path: Path, how: str) -> None:
    import subprocess
    import sys

    if "://" in catalog:
        pytest.skip("the token is the server's, not the catalog's")
    port = free_port()
    env = {**os.environ}
    args = [sys.executable, "-m", "picfind", "serve", "--db", catalog, "--model", MODEL, "--port", str(port)]
    if how == "env":
        env["PICFIND_TOKEN"] = "from-env-1"
        secret = "from-env-1"
    else:
        (tmp_path / "token").write_text("from-file-2\n")
        args += ["--token-file", str(tmp_path / "token")]
        secret = "from-file-2"
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line and secret not in " ".join(proc.args)
        assert secret not in line and ("$PICFIND_TOKEN" if how == "env" else "--token-file") in line  # not in logs
        url = f"http://127.0.0.1:{port}/api/status"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code == 401
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
        assert urllib.request.urlopen(request, timeout=30).status == 200
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_in_chromium_the_token_leaves_the_address_bar_and_other_sites_get_nothing(catalog: str, browser) -> None:
    """The page drops ?token= from the address (its own requests still carry the cookie); a page
    on another site (localhost is another site than 127.0.0.1) cannot load a thumbnail or search."""
    if "://" in catalog:
        pytest.skip("the browser sees the server, not the catalog")
    import http.server

    with in_process(catalog, token="s3cret") as (url, _):
        context = browser.new_context()
        page = context.new_page()
        page.goto(url + "?token=s3cret")
        assert page.url == url
        page.fill("#q", "a blue square")
        page.wait_for_selector(".tile img")
        deadline = time.monotonic() + 30
        loaded = "i => i.complete && i.naturalWidth"
        while not page.eval_on_selector(".tile img", loaded) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert page.eval_on_selector(".tile img", "i => i.naturalWidth") > 0  # the cookie carried the token
        context.close()
    with in_process(catalog) as (url, _):  # no token: nothing but the gate between a page and the pictures
        context = browser.new_context()
        thumb = f"{url}thumb/1"
        evil = f"""<img id=i src="{thumb}"><script>
        window.seen = new Promise(r => {{ i.onload = () => r("loaded"); i.onerror = () => r("refused"); }});
        window.asked = fetch("{url}api/search?q=red", {{mode: "no-cors", credentials: "include"}})
          .then(r => r.type, () => "refused");</script>"""

        class Evil(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(evil.encode())

            def log_message(self, *args) -> None:
                pass
        other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
        threading.Thread(target=other.serve_forever, daemon=True).start()
        try:
            attacker = context.new_page()
            attacker.goto(f"http://localhost:{other.server_address[1]}/")
            assert attacker.evaluate("window.seen") == "refused"
            assert attacker.evaluate("window.asked") in ("refused", "opaque")
        finally:
            other.shutdown()
        context.close()
