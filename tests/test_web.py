"""`picfind serve`: the JSON API (Starlette's test client) and the page in a real browser
(Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from picfind.web import app as web

from .conftest import picfind, real_photos, shape_files, write_shapes

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
MODEL = "tiny-shapes"  # module-wide fixtures run before the per-test environment is set
LOCAL = "http://127.0.0.1:8765"  # the server answers only to its own names (no "testserver")
KINDS = (("red", "circle"), ("blue", "square"), ("green", "triangle"))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    lib = tmp_path_factory.mktemp("web") / "Pictures"
    lib.mkdir()
    for seed, (colour, shape) in enumerate(KINDS):
        for i, img in enumerate(shape_files(colour, shape, n=4, seed=seed)):
            img.save(lib / f"{colour}-{shape}-{i}.png")
    (lib / "red-circle-0 copy.png").write_bytes((lib / "red-circle-0.png").read_bytes())
    from PIL import Image
    Image.fromarray(real_photos()["coffee"]).save(lib / "coffee.jpg")
    db = lib.parent / "c.db"
    picfind("index", str(lib), "--db", str(db), "--model", MODEL, "--quiet", check=True)
    return lib, db


@pytest.fixture()
def client(catalog) -> Iterator[TestClient]:
    with TestClient(web.create_app(catalog[1], MODEL), base_url=LOCAL) as c:
        yield c


def test_search_api_returns_the_cli_fields_and_pages(client: TestClient, catalog) -> None:
    lib, db = catalog
    body = client.get("/api/search", params={"q": "a red circle", "n": 3}).json()
    cli = json.loads(picfind("search", "a red circle", "--db", str(db), "-n", "3", "--json", check=True).stdout)
    assert [r["path"] for r in body["results"]] == [h["path"] for h in cli] and body["more"]
    assert set(cli[0]) <= set(body["results"][0])
    assert all("red-circle" in r["path"] for r in body["results"])
    second = client.get("/api/search", params={"q": "a red circle", "n": 3, "offset": 3}).json()
    assert second["offset"] == 3 and not {r["path"] for r in second["results"]} & {r["path"] for r in body["results"]}
    copies = [r for r in client.get("/api/search", params={"q": "a red circle", "n": 20}).json()["results"]
              if r["duplicates"]]
    assert len(copies) == 1 and sorted(Path(p).name for p in [copies[0]["path"], *copies[0]["duplicates"]]) == [
        "red-circle-0 copy.png", "red-circle-0.png"]
    under = client.get("/api/search", params={"q": "a shape", "ext": "jpg"}).json()["results"]
    assert [Path(r["path"]).name for r in under] == ["coffee.jpg"]


def test_similar_by_id_and_by_upload(client: TestClient, catalog) -> None:
    lib, _ = catalog
    blue = client.get("/api/search", params={"q": "a blue square", "n": 1}).json()["results"][0]
    like = client.get("/api/similar", params={"id": blue["id"], "n": 3}).json()["results"]
    assert all("blue-square" in r["path"] for r in like) and blue["path"] not in [r["path"] for r in like]
    upload = shape_files("green", "triangle", n=1, seed=77)[0]
    import io
    buf = io.BytesIO()
    upload.save(buf, "PNG")
    found = client.post("/api/similar", params={"n": 3}, content=buf.getvalue()).json()["results"]
    assert all("green-triangle" in r["path"] for r in found)
    assert not list(lib.glob("*upload*")) and len(list(lib.iterdir())) == 14  # nothing written


def test_dupes_api(client: TestClient) -> None:
    exact = client.get("/api/dupes").json()
    [group] = exact["groups"]
    assert sorted(Path(m["path"]).name for m in group["members"]) == ["red-circle-0 copy.png", "red-circle-0.png"]
    assert exact["wasted_bytes"] == group["wasted_bytes"] > 0 and group["members"][0]["thumb"].startswith("/thumb/")
    near = client.get("/api/dupes", params={"near": 1, "threshold": 0.9999}).json()
    assert all(m["score"] >= 0.9999 for g in near["groups"] for m in g["members"])
    assert client.get("/api/dupes", params={"near": 1, "threshold": "most"}).status_code == 400
    for odd in ("nan", "inf", "2"):  # matched nothing, silently
        assert client.get("/api/dupes", params={"near": 1, "threshold": odd}).status_code == 400, odd


def test_status_openapi_thumbnails_and_images(client: TestClient, catalog) -> None:
    status = client.get("/api/status").json()
    assert status["images_indexed"] == 14 and status["model"] == "tiny-shapes"
    spec = client.get("/api/openapi.json").json()
    assert {"/api/search", "/api/similar", "/api/status", "/api/dupes"} <= set(spec["paths"])
    hit = client.get("/api/search", params={"q": "coffee", "ext": "jpg"}).json()["results"][0]
    thumb = client.get(hit["thumb"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert "immutable" in thumb.headers["cache-control"]
    full = client.get(hit["image"])
    assert full.status_code == 200 and full.content == Path(hit["path"]).read_bytes()


@pytest.mark.parametrize("url", ["/etc/passwd", "/image/../../etc/passwd", "/image/%2e%2e%2fetc%2fpasswd",
                                 "/image/999999", "/thumb/999999", "/image/-1", "/api/file/999999",
                                 "/thumb/..%2F..%2Fetc%2Fpasswd", "/api/file/99999999999999999999",
                                 "/image/99999999999999999999", "/thumb/99999999999999999999"])
def test_nothing_outside_the_catalog_is_served(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404 and b"root:" not in response.content


@pytest.mark.parametrize("params, message", [
    ({"q": ""}, "query is empty"), ({"q": "x", "n": "many"}, "whole number"), ({"q": "x", "n": "0"}, "between"),
    ({"q": "x", "after": "someday"}, "not a date"), ({"q": "x", "sort": "size"}, "score or date"),
    ({"q": "x", "min_score": "high"}, "between -1 and 1"), ({"q": "x", "min_score": "nan"}, "between -1 and 1"),
    ({"q": "x", "min_score": "inf"}, "between -1 and 1"), ({"q": "a + ./nope.jpg"}, "file paths are not taken here"),
])
def test_bad_queries_get_a_json_error_not_a_500(client: TestClient, params: dict, message: str) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == 400 and message in response.json()["error"]


def test_bad_uploads(client: TestClient, monkeypatch) -> None:
    assert client.post("/api/similar", content=b"").status_code == 400
    bad = client.post("/api/similar", content=b"not a picture")
    assert bad.status_code == 400 and "not an image" in bad.json()["error"]
    eps = client.post("/api/similar", content=b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n",
                      headers={"Content-Type": "application/postscript"})  # Pillow would run Ghostscript on it
    assert eps.status_code == 400 and "not an image" in eps.json()["error"]
    monkeypatch.setattr(web, "UPLOAD_MAX", 1000)
    big = client.post("/api/similar", content=b"x" * 5000)
    assert big.status_code == 413 and "larger than" in big.json()["error"]
    assert client.get("/api/similar").status_code == 400
    assert client.get("/api/similar", params={"id": 999999}).status_code == 404


def test_a_token_guards_every_request(catalog) -> None:
    with TestClient(web.create_app(catalog[1], MODEL, token="s3cret"), base_url=LOCAL) as c:
        assert c.get("/api/status").status_code == 401
        assert c.get("/thumb/1").status_code == 401
        assert c.get("/api/status", params={"token": "wrong"}).status_code == 401
        assert c.get("/api/status", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        page = c.get("/", params={"token": "s3cret"})
        assert page.status_code == 200 and "picfind_token" in page.headers["set-cookie"]
        assert c.get("/api/status").status_code == 200  # the page's cookie carries it from now on


def _png(colour: str = "green", shape: str = "triangle", seed: int = 77) -> bytes:
    import io
    buf = io.BytesIO()
    shape_files(colour, shape, n=1, seed=seed)[0].save(buf, "PNG")
    return buf.getvalue()


def test_only_its_own_host_names_are_answered(catalog) -> None:
    """DNS rebinding: a page at evil.example that re-points its name at 127.0.0.1 gets 403."""
    with TestClient(web.create_app(catalog[1], MODEL), base_url=LOCAL) as c:
        for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST", "127.0.0.1"):
            assert c.get("/api/status", headers={"Host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "localhost.evil:8765",
                     "127.0.0.1:8765@evil.example", "localhost:evil.example", "[::1]evil.example", ""):
            refused = c.get("/api/search", params={"q": "a red circle"}, headers={"Host": host})
            assert refused.status_code == 403 and "answers only to" in refused.json()["error"], host
        assert c.get("/", headers={"Host": "evil.example"}).status_code == 403
        assert c.get("/image/1", headers={"Host": "evil.example"}).status_code == 403
        cross = c.post("/api/similar", content=_png(), headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403 and "another page" in cross.json()["error"]
        assert c.post("/api/similar", content=_png(), headers={"Origin": "null"}).status_code == 403
        assert c.post("/api/similar", content=_png(), headers={"Origin": LOCAL}).status_code == 200
    with TestClient(web.create_app(catalog[1], MODEL, host="photos.lan"), base_url="http://photos.lan:8765") as c:
        assert c.get("/api/status").status_code == 200  # the --host value is one of its names
    with TestClient(web.create_app(catalog[1], MODEL, token="t", host="0.0.0.0"),
                    base_url="http://192.168.1.9:8765") as c:
        assert c.get("/api/status", params={"token": "t"}).status_code == 200  # with a token, the token guards


def test_the_web_never_reads_a_path_from_a_request(client: TestClient, tmp_path: Path) -> None:
    """An example image on the web is an id or an upload: a path is refused without looking at the
    disk, so the answer is the same whether the file exists or not."""
    outside = tmp_path / "outside.png"
    outside.write_bytes(_png("red", "circle"))
    answers = set()
    for path in ("/etc/shadow", "/etc/no-such-file", str(outside), "~/x.jpg", "../../etc/passwd"):
        for q in (path, f"a red circle + {path}"):
            refused = client.get("/api/search", params={"q": q})
            assert refused.status_code == 400, q
            answers.add(refused.json()["error"].replace(path, "PATH"))
    assert len(answers) == 1 and "drop the image" in answers.pop()


def indexed(tmp_path: Path, colour: str, shape: str, names: list[str], seed: int) -> tuple[Path, Path]:
    """A Pictures folder of these shape pictures, indexed into its own catalog: (folder, catalog)."""
    lib = tmp_path / "Pictures"
    lib.mkdir()
    for name, img in zip(names, shape_files(colour, shape, n=len(names), seed=seed)):
        img.save(lib / name)
    db = tmp_path / "c.db"
    picfind("index", str(lib), "--db", str(db), "--model", MODEL, "-q", check=True)
    return lib, db


def test_only_the_indexed_file_is_served(tmp_path: Path) -> None:
    """A picture is served while it is a regular file inside a root that still matches the catalog."""
    lib, db = indexed(tmp_path, "blue", "square", [f"b{i}.png" for i in range(6)], seed=2)
    elsewhere = tmp_path / "elsewhere.png"
    elsewhere.write_bytes(_png("red", "circle"))
    with TestClient(web.create_app(db, MODEL), base_url=LOCAL) as c:
        ids = {Path(r["path"]).name: r["id"]
               for r in c.get("/api/search", params={"q": "a blue square", "n": 10}).json()["results"]}
        assert len(ids) == 6 and c.get(f"/image/{ids['b0.png']}").content == (lib / "b0.png").read_bytes()
        (lib / "b0.png").unlink()
        (lib / "b0.png").symlink_to("/etc/passwd")
        (lib / "b1.png").unlink()
        (lib / "b1.png").symlink_to(elsewhere)  # a picture, but outside every root
        (lib / "b2.png").write_bytes((lib / "b5.png").read_bytes())  # another picture now
        os.utime(lib / "b3.png", ns=(10**18, 10**18))  # touched, same bytes: still the indexed picture
        (lib / "b4.png").unlink()
        os.mkfifo(lib / "b4.png")  # reading it would block for ever
        for name, status in (("b0.png", 404), ("b1.png", 404), ("b2.png", 404), ("b3.png", 200), ("b4.png", 404)):
            got = c.get(f"/image/{ids[name]}")
            assert got.status_code == status and b"root:" not in got.content, name
        assert c.get(f"/image/{ids['b3.png']}").content == (lib / "b3.png").read_bytes()


def test_a_broken_thumbnail_is_made_again(client: TestClient, catalog) -> None:
    from PIL import Image

    from picfind.catalogs.sqlite.thumbs import ThumbnailCache
    hit = client.get("/api/search", params={"q": "coffee", "ext": "jpg"}).json()["results"][0]
    cached = ThumbnailCache(catalog[1].with_name(catalog[1].name + ".thumbs")).path(hit["content_hash"])
    cached.write_bytes(b"\xff\xd8\xff not really a jpeg")
    thumb = client.get(hit["thumb"])
    assert thumb.status_code == 200 and thumb.content == cached.read_bytes()
    with Image.open(cached) as img:
        img.load()
        assert max(img.size) == 256


def test_uploads_are_bounded_and_searches_go_on(catalog) -> None:
    """While enough uploads are under way, more get 503 (and can read it); a search answers
    meanwhile; a picture over the example pixel cap is refused from its header."""
    import http.client
    with serving(catalog[1]) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        body = _png()

        def upload(part: bytes) -> http.client.HTTPConnection:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.putrequest("POST", "/api/similar?n=3")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            conn.send(part)
            return conn
        stalled = [upload(body[: len(body) // 2]) for _ in range(web.UPLOADS_AT_ONCE)]  # each waits mid-body
        time.sleep(1)  # let the server take them in
        for _ in range(3):
            extra = upload(body)
            answer = extra.getresponse()
            assert answer.status == 503 and "busy" in json.load(answer)["error"]
            extra.close()
        with urllib.request.urlopen(url + "api/search?q=a+red+circle&n=2", timeout=60) as r:
            assert r.status == 200 and len(json.load(r)["results"]) == 2
        for conn in stalled:
            conn.send(body[len(body) // 2:])
            assert conn.getresponse().status == 200
            conn.close()
        import io

        from PIL import Image
        big = io.BytesIO()
        Image.new("RGB", (6000, 5000), "white").save(big, "PNG")  # 30 MP: indexable, too big as an example
        request = urllib.request.Request(url + "api/similar", data=big.getvalue(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 400 and "the cap for example images" in json.load(refused.value)["error"]


def test_a_search_answers_while_uploads_decode(catalog) -> None:
    """Uploads decode on their own threads: a search sent while four big ones decode answers
    before the last of them (it used to queue behind every decode on the one library thread).
    Order is checked, not time."""
    import io
    import threading

    from PIL import Image
    big = io.BytesIO()
    Image.new("RGB", (5000, 4800), "white").save(big, "PNG", compress_level=1)  # 24 MP: ~0.6 s to decode
    done: list[str] = []
    with serving(catalog[1]) as url:
        def post(data: bytes, label: str | None) -> None:
            request = urllib.request.Request(url + "api/similar?n=1", data=data, method="POST")
            with urllib.request.urlopen(request, timeout=300) as r:
                assert r.status == 200
            if label:
                done.append(label)
        post(_png(), None)  # the model loaded, as on a server in use
        with urllib.request.urlopen(url + "api/search?q=a+blue+square&n=1", timeout=300):
            pass
        uploads = [threading.Thread(target=post, args=(big.getvalue(), f"upload {i}")) for i in range(4)]
        for t in uploads:
            t.start()
        time.sleep(0.3)  # their bodies (300 KB) are in; the decoding has begun
        with urllib.request.urlopen(url + "api/search?q=a+red+circle&n=2", timeout=300) as r:
            assert r.status == 200 and len(json.load(r)["results"]) == 2
        done.append("search")
        for t in uploads:
            t.join()
    assert len(done) == 5 and done[-1] != "search", done


def test_the_page_runs_only_its_own_script(client: TestClient) -> None:
    """The Content-Security-Policy behind the escaping: inline handlers and other scripts are
    blocked (the page tests below run under it in Chromium, so it also lets the page work)."""
    policy = client.get("/").headers["content-security-policy"]
    assert "script-src 'sha256-" in policy and "unsafe" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    image = client.get(client.get("/api/search", params={"q": "coffee"}).json()["results"][0]["image"])
    assert image.headers["content-type"].startswith("image/") and "sandbox" in image.headers["content-security-policy"]


def test_serve_refuses_an_open_address_without_a_token(catalog) -> None:
    proc = picfind("serve", "--db", str(catalog[1]), "--host", "0.0.0.0")
    assert proc.returncode == 2 and "--token" in proc.stderr and "Traceback" not in proc.stderr


def test_serve_without_the_model_says_so_at_once(catalog) -> None:
    proc = picfind("serve", "--db", str(catalog[1]), "--model", "vit-b-32", "--port", str(free_port()), timeout=60)
    assert proc.returncode == 1 and "not installed" in proc.stderr and "Traceback" not in proc.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(db: Path) -> Iterator[str]:
    """`picfind serve` on a free port, as a user starts it; yields its address."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "serve", "--db", str(db), "--model", MODEL,
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        line = proc.stdout.readline()
        assert url in line, line + proc.stderr.read() if proc.poll() is not None else line
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def server(catalog) -> Iterator[str]:
    with serving(catalog[1]) as url:
        with urllib.request.urlopen(url + "api/search?q=red+circle&n=2") as r:  # what curl shows a user
            assert len(json.load(r)["results"]) == 2
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "the browser tests need Debian's chromium: apt-get install chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None)
    page.goto(server)
    yield page
    assert outside == [], "the page asked for something from elsewhere"
    context.close()


def names(page) -> list[str]:
    return [Path(t.split("\n")[0]).name for t in page.eval_on_selector_all(".tile", "ts => ts.map(t => t.title)")]


def test_typing_a_query_shows_a_grid_and_an_image_opens_large(page) -> None:
    page.fill("#q", "a green triangle")
    page.wait_for_selector(".tile img")
    assert names(page)[0].startswith("green-triangle")
    page.wait_for_function("() => [...document.querySelectorAll('.tile img')].slice(0, 4)"
                           ".every(img => img.complete && img.naturalWidth > 0)")  # thumbnails load
    page.click(".tile >> nth=0")
    page.wait_for_selector("#viewer[open]")
    assert "green-triangle" in page.inner_text("#facts")
    assert page.eval_on_selector("#big", "img => new Promise(ok => img.complete ? ok(img.naturalWidth) : "
                                         "img.onload = () => ok(img.naturalWidth))") == 160
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#viewer').open")


def test_more_like_this(page) -> None:
    page.fill("#q", "a blue square")
    page.wait_for_selector(".tile img")
    page.click(".tile >> nth=0")
    page.click("#like")
    page.wait_for_function("() => document.querySelector('#q').value === '' && "
                           "document.querySelectorAll('.tile').length > 0")
    assert all(n.startswith("blue-square") for n in names(page)[:3])


def test_dropping_an_image_searches_by_example(page) -> None:
    import io
    buf = io.BytesIO()
    shape_files("red", "circle", n=1, seed=99)[0].save(buf, "PNG")
    data = base64.b64encode(buf.getvalue()).decode()
    page.evaluate("""async (data) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "query.png", {type: "image/png"}));
        document.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", data)
    page.wait_for_selector(".tile")
    assert all(n.startswith("red-circle") for n in names(page)[:3])


def test_keyboard_navigation(page) -> None:
    page.click("main")  # the search box has focus on load; "/" must bring it back
    assert page.evaluate("document.activeElement.id") != "q"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("a red circle")
    page.wait_for_selector("#grid[data-shows='a red circle'] .tile img")  # not an earlier, partial query
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.i") == "1"
    page.keyboard.press("Enter")
    page.wait_for_selector("#viewer[open]")
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.activeElement.dataset.i === '1'")  # back on the picture it showed
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "q"


def test_copies_get_a_badge_and_narrow_windows_still_fit(page) -> None:
    page.set_viewport_size({"width": 380, "height": 700})
    page.fill("#q", "a red circle")
    page.wait_for_selector(".tile .copies")
    assert page.inner_text(".tile .copies") == "×2"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_running_server_sees_pictures_indexed_meanwhile(tmp_path: Path) -> None:
    lib, db = indexed(tmp_path, "blue", "square", [f"blue-square-{i}.png" for i in range(3)], seed=1)
    with TestClient(web.create_app(db, MODEL), base_url=LOCAL) as c:
        assert len(c.get("/api/search", params={"q": "a red circle"}).json()["results"]) == 3
        shape_files("red", "circle", n=1, seed=5)[0].save(lib / "red-circle-new.png")
        (lib / "blue-square-0.png").unlink()
        picfind("index", "--db", str(db), "-q", check=True)  # another process
        found = [Path(r["path"]).name for r in c.get("/api/search", params={"q": "a red circle"}).json()["results"]]
        assert found[0] == "red-circle-new.png" and "blue-square-0.png" not in found and len(found) == 3


def test_more_results_load_as_you_scroll(browser, tmp_path: Path) -> None:
    write_shapes(tmp_path / "many", 130, size=96)
    db = tmp_path / "many.db"
    picfind("index", str(tmp_path / "many"), "--db", str(db), "--model", MODEL, "-q", check=True)
    with serving(db) as url:
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.goto(url)
        page.fill("#q", "a yellow square")
        page.wait_for_function("() => document.querySelectorAll('.tile').length === 60")
        for expected in (120, 130):
            page.mouse.wheel(0, 100_000)
            page.wait_for_function(f"() => document.querySelectorAll('.tile').length === {expected}")
        assert page.inner_text("#info").startswith("130 pictures")
        paths = page.eval_on_selector_all(".tile", "ts => ts.map(t => t.title.split('\\n')[0])")
        assert len(set(paths)) == 130  # no page twice, none skipped
        assert page.evaluate("location.search") == "?q=a+yellow+square&page=3"  # the address says how far
        page.reload()
        page.wait_for_function("() => document.querySelectorAll('.tile').length === 130")
        assert page.eval_on_selector_all(".tile", "ts => ts.map(t => t.title.split('\\n')[0])") == paths
        page.close()


def test_a_file_name_cannot_run_script_in_the_page(browser, tmp_path: Path) -> None:
    evil = ['x" onload="document.body.dataset.pwned=1" data-x=".png',
            "<img src=x onerror=document.body.dataset.pwned=2>.png", "y' onload='document.body.dataset.pwned=3'.png"]
    _, db = indexed(tmp_path, "red", "circle", evil, seed=4)
    with serving(db) as url:
        page = browser.new_page()
        page.goto(url)
        page.fill("#q", "a red circle")
        page.wait_for_function("() => [...document.querySelectorAll('.tile img')].length === 3 && "
                               "[...document.querySelectorAll('.tile img')].every(i => i.complete && i.naturalWidth)")
        for i in range(3):
            page.click(f".tile >> nth={i}")
            page.wait_for_selector("#viewer[open]")
            page.keyboard.press("Escape")
        assert page.evaluate("document.body.dataset.pwned") is None
        assert page.evaluate("document.querySelectorAll('[onload], [onerror], #grid script').length") == 0
        assert sorted(names(page)) == sorted(evil)  # shown as they are, as text
        page.close()
