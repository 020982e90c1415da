# ruff: noqa: F811 - the fixtures of test_web are imported, then asked for by name
"""The page remembers where you are: query, filters, order and pages in the address (reload, back
and forward, links), results walked with the keyboard, places on the tiles. Real Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import picfind, shape_files
from .test_places import LYON, TOKYO, gps_exif, jpeg
from .test_web import MODEL, browser, catalog, names, page, server, serving  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


def shows(page, query: str) -> None:
    """Wait until the grid holds this query's results (not an earlier one's)."""
    page.wait_for_selector(f"#grid[data-shows='{query}'] .tile img")


def test_an_address_with_a_query_shows_its_results_and_reload_keeps_them(page, server: str) -> None:
    page.goto(server + "?q=two+red+circles")
    shows(page, "two red circles")
    before = names(page)
    assert page.input_value("#q") == "two red circles" and len(before) == 13  # one tile per content: 13 of the 14 files
    page.reload()
    shows(page, "two red circles")
    assert page.input_value("#q") == "two red circles" and names(page) == before
    page.goto(server + "?q=a+red+circle")
    shows(page, "a red circle")
    assert names(page)[0].startswith("red-circle")


def test_back_and_forward_return_to_the_searches_typed(page, server: str) -> None:
    page.goto(server + "?q=two+red+circles")
    shows(page, "two red circles")
    page.fill("#q", "")
    page.type("#q", "a blue square")  # one keystroke at a time: one history entry, not thirteen
    shows(page, "a blue square")
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.search === '?q=a+blue+square'")
    shows(page, "a blue square")  # Enter may search again: wait for the grid it fills
    assert names(page)[0].startswith("blue-square")
    page.go_back()
    page.wait_for_function("() => location.search === '?q=two+red+circles'")
    shows(page, "two red circles")
    assert page.input_value("#q") == "two red circles"
    page.go_forward()
    shows(page, "a blue square")
    assert page.input_value("#q") == "a blue square"


def test_filters_and_order_live_in_the_address(page, server: str) -> None:
    page.goto(server + "?q=a+shape&after=2000&sort=date&ext=png")
    shows(page, "a shape")
    assert page.input_value("#after") == "2000" and page.input_value("#sort") == "date"
    assert not any(n.endswith(".jpg") for n in names(page))  # ext, with no field, still applies
    page.select_option("#sort", "score")
    page.wait_for_function("() => !location.search.includes('sort=')")
    assert "ext=png" in page.evaluate("location.search")
    page.fill("#before", "2001")  # nothing was taken before 2001
    page.wait_for_function("() => location.search.includes('before=2001') && "
                           "document.querySelector('#info').textContent === 'no matches'")
    page.go_back()
    page.wait_for_function("() => !location.search.includes('before')")
    shows(page, "a shape")
    assert page.input_value("#before") == ""


def test_arrows_move_enter_opens_and_escape_closes(page, server: str) -> None:
    page.goto(server + "?q=a+green+triangle")
    shows(page, "a green triangle")
    page.focus("#q")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.i") == "0"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.dataset.i") == "1"
    page.keyboard.press("Enter")
    page.wait_for_selector("#viewer[open]")
    assert names(page)[1] in page.inner_text("#facts")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#viewer').open && document.activeElement.dataset.i === '1'")


def test_more_like_this_is_an_address_too(page, server: str) -> None:
    page.goto(server + "?q=a+blue+square")
    shows(page, "a blue square")
    page.click(".tile >> nth=0")
    page.click("#like")
    page.wait_for_function("() => /^\\?like=\\d+$/.test(location.search)")
    page.wait_for_selector("#grid[data-shows='similar'] .tile")
    liked = page.evaluate("location.href")
    page.goto(liked)
    page.wait_for_selector("#grid[data-shows='similar'] .tile")
    assert all(n.startswith("blue-square") for n in names(page)[:3])


def test_tiles_show_where_pictures_were_taken_and_the_place_filter_narrows(browser, tmp_path: Path) -> None:
    lib = tmp_path / "Trips"
    lib.mkdir()
    for i, img in enumerate(shape_files("red", "circle", n=2, seed=3)):
        (lib / f"red-circle-{i}.jpg").write_bytes(jpeg(img, gps_exif(*(LYON if i == 0 else TOKYO))))
    shape_files("red", "circle", n=1, seed=9)[0].save(lib / "red-circle-nowhere.png")
    db = tmp_path / "trips.db"
    picfind("index", str(lib), "--db", str(db), "--model", MODEL, "-q", check=True)
    with serving(db) as url:
        page = browser.new_page()
        page.goto(url + "?q=a+red+circle")
        shows(page, "a red circle")
        places = dict(zip(names(page), page.eval_on_selector_all(
            ".tile", "ts => ts.map(t => t.querySelector('.place')?.textContent ?? null)")))
        assert places == {"red-circle-0.jpg": "Lyon 01, Auvergne-Rhône-Alpes, France",
                          "red-circle-1.jpg": "Sakuragaokachō, Tokyo, Japan", "red-circle-nowhere.png": None}
        page.fill("#place", "japn")
        page.wait_for_function("() => document.querySelector('#info').textContent.includes("
                               "'no place called japn is known')")
        page.fill("#place", "JAPAN")
        page.wait_for_function("() => location.search.includes('place=JAPAN') && "
                               "document.querySelectorAll('.tile').length === 1")
        assert names(page) == ["red-circle-1.jpg"]
        page.click(".tile >> nth=0")
        assert "Tokyo, Japan (35.65950, 139.70050)" in page.inner_text("#facts")
        page.close()
