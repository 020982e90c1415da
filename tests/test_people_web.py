# ruff: noqa: F811 - the fixtures of test_web are imported, then asked for by name
"""People on the web page, in real Chromium over `picfind serve`: the strip of faces with names
and counts, a click that filters (bookmarkable: person chips live in the address), naming and
merging from the page, a name typed in the query; and the people API's guards."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from picfind.web.app import create_app

from .conftest import picfind
from .people_pictures import write_people
from .test_web import LOCAL, MODEL, browser, serving  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def people_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("people-web")
    files = write_people(base / "Pictures", per_person=3)
    db = base / "people.db"
    picfind("index", str(base / "Pictures"), "--faces", "--db", str(db), "--model", MODEL, "-q", check=True)
    found = json.loads(picfind("people", "--json", "--db", str(db), "--model", MODEL, check=True).stdout)
    for p in found:
        shown = json.loads(picfind("people", "show", str(p["id"]), "--json", "--db", str(db), "--model", MODEL,
                                   check=True).stdout)["faces_shown"]
        if any("eileen" in f["path"] for f in shown):
            picfind("people", "name", str(p["id"]), "Eileen", "--db", str(db), "--model", MODEL, check=True)
    return db, {k: {p.name for p in v} for k, v in files.items()}


def clone(db: Path, to: Path) -> Path:
    """A copy of the catalog as it is now (its WAL included), for a test that changes it."""
    with sqlite3.connect(db) as source, sqlite3.connect(to) as copy:
        source.backup(copy)
    return to


def tiles(page) -> set[str]:
    return {Path(t.split("\n")[0]).name for t in page.eval_on_selector_all(".tile", "ts => ts.map(t => t.title)")}


def test_the_strip_filters_names_and_a_name_in_the_query_is_understood(browser, people_db, tmp_path: Path) -> None:
    db, files = clone(people_db[0], tmp_path / "copy.db"), people_db[1]
    with serving(db) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#people .person img")
        chips = page.eval_on_selector_all("#people .person", "cs => cs.map(c => c.querySelector('.name').textContent + "
                                          "' ' + c.querySelector('.count').textContent)")
        assert sorted(chips) == ["? 4", "Eileen 4"]
        page.wait_for_function("() => [...document.querySelectorAll('#people img')].every(i => i.naturalWidth > 0)")
        page.click("#people .person:has-text('Eileen') .name")
        page.wait_for_function("() => location.search === '?person=Eileen'")
        page.wait_for_selector("#grid[data-shows='people'] .tile")
        assert tiles(page) == files["eileen"]
        assert page.inner_text("#info").startswith("Eileen · 4 pictures")
        page.reload()  # the address keeps the person
        page.wait_for_selector("#grid[data-shows='people'] .tile")
        assert tiles(page) == files["eileen"]
        assert "on" in page.get_attribute("#people .person:has-text('Eileen')", "class")
        # name the other person from the page (the prompt), then search for them by name in the query
        page.once("dialog", lambda d: d.accept("Lionel Messi"))
        page.click("#people .person:has-text('?') [data-edit]")
        page.wait_for_selector("#people .person:has-text('Lionel Messi')")
        page.click("#people .person:has-text('Eileen') .name")  # off again
        page.wait_for_function("() => !location.search.includes('person')")
        page.fill("#q", "lionel messi")
        page.keyboard.press("Enter")
        page.wait_for_selector("#grid[data-shows='lionel messi'] .tile")
        page.wait_for_function("() => document.querySelector('#info').textContent.startsWith('Lionel Messi · ')")
        assert tiles(page) == files["messi"]
        page.close()


def test_merging_from_the_page_makes_one_person(browser, people_db, tmp_path: Path) -> None:
    db = clone(people_db[0], tmp_path / "copy.db")
    with serving(db) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#people .person:has-text('?')")
        answers = iter(["eileen"])  # the name of someone already named: the page offers to merge
        page.on("dialog", lambda d: d.accept(next(answers)) if d.type == "prompt" else d.accept())
        page.click("#people .person:has-text('?') [data-edit]")
        page.wait_for_function("() => document.querySelectorAll('#people .person').length === 1")
        assert page.inner_text("#people .person .count") == "7"
        page.close()


def test_the_people_api_refuses_other_sites_big_bodies_and_shows_names_as_text(people_db, tmp_path: Path) -> None:
    db = clone(people_db[0], tmp_path / "copy.db")
    with TestClient(create_app(db, MODEL), base_url=LOCAL) as client:
        people = client.get("/api/people").json()["people"]
        eileen = next(p for p in people if p["name"] == "Eileen")
        assert client.get(eileen["thumb"]).headers["content-type"] == "image/jpeg"
        assert client.get("/face/999999").status_code == 404
        evil = client.post(f"/api/people/{eileen['id']}", json={"name": "x"}, headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        assert client.post(f"/api/people/{eileen['id']}", content=b"{" + b" " * 5000 + b"}").status_code == 413
        assert client.post(f"/api/people/{eileen['id']}", content=b"[1]").status_code == 400
        name = '<img src=x onerror="alert(1)">'
        assert client.post(f"/api/people/{eileen['id']}", json={"name": name}).json()["name"] == name
        hits = client.get("/api/search", params={"q": "", "person": name}).json()
        assert len(hits["results"]) == 4 and hits["understood"]["people"] == [name]
        assert client.get("/api/search", params={"person": "nobody"}).status_code == 400
        assert client.get("/api/search", params={"person": "x", "people_mode": "most"}).status_code == 400
