"""A catalog answers with the model it was indexed with, whatever the default is."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from picfind.models import store as models
from picfind.web import app as web

from .conftest import picfind, write_shapes

pytestmark = pytest.mark.slow
# No $PICFIND_MODEL: the default applies, and here it is a model that is not installed.
DEFAULT_ONLY = {"PICFIND_MODEL": ""}


def test_search_similar_dupes_and_serve_use_the_model_the_catalog_was_indexed_with(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert models.DEFAULT_MODEL != "tiny-shapes"
    pics = tmp_path / "pics"
    write_shapes(pics, 8)
    db = str(tmp_path / "c.db")
    picfind("index", str(pics), "--db", db, "--model", "tiny-shapes", "--quiet", env=DEFAULT_ONLY, check=True)
    example = str(sorted(pics.iterdir())[0])
    for _ in range(2):  # as recorded, then as a catalog from before the record (found from its vectors)
        hits = json.loads(picfind("search", "a red circle", "--db", db, "--json", env=DEFAULT_ONLY, check=True).stdout)
        assert len(hits) == 8
        like = json.loads(picfind("similar", example, "--db", db, "--json", env=DEFAULT_ONLY, check=True).stdout)
        assert len(like) == 7
        picfind("dupes", "--near", "--db", db, "--json", env=DEFAULT_ONLY, check=True)
        status = json.loads(picfind("status", "--db", db, "--json", env=DEFAULT_ONLY, check=True).stdout)
        assert status["model"] == "tiny-shapes" and status["embedded_with_model"] == 8
        with sqlite3.connect(db) as con:
            con.execute("DELETE FROM settings WHERE key = 'model'")
    monkeypatch.setenv("PICFIND_MODEL", "")
    with TestClient(web.create_app(Path(db), None), base_url="http://127.0.0.1:8765") as client:
        assert len(client.get("/api/search", params={"q": "a red circle"}).json()["results"]) == 8
    # told otherwise, the other model is used (and here it is not installed)
    proc = picfind("search", "a red circle", "--db", db, "--model", "vit-b-32", env=DEFAULT_ONLY)
    assert proc.returncode == 1 and "not installed" in proc.stderr


def test_a_catalog_indexed_from_a_bundle_folder_remembers_the_folder(tmp_path: Path, exported) -> None:
    pics = tmp_path / "pics"
    write_shapes(pics, 3)
    db = str(tmp_path / "c.db")
    folder = str(exported["split"])
    picfind("index", str(pics), "--db", db, "--model", folder, "--quiet", env=DEFAULT_ONLY, check=True)
    status = json.loads(picfind("status", "--db", db, "--json", env=DEFAULT_ONLY, check=True).stdout)
    assert status["model"] == "random-split" and status["embedded_with_model"] == 3
