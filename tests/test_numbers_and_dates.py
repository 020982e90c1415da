"""Numbers and dates that must never mislead (issue 23, items 6 and 7): a weight that overflows is
refused in one line everywhere and no output holds NaN; dates order correctly for every year,
in catalogs made before this fix too."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from picfind.catalogs.opening import open_catalog
from picfind.filters import Filter, parse_date
from picfind.library import Library
from picfind.records import IndexedFile
from picfind.search.query import MAX_WEIGHT, parse
from picfind.search.ranking import search
from picfind.web import app as web

from .conftest import picfind, shape_files
from .test_web import LOCAL

OVERFLOW = "9" * 400 + ":red"  # float() of it is inf


@pytest.mark.parametrize("token", [OVERFLOW, "1e999:red", f"{MAX_WEIGHT * 10:g}:red", "nan:red", "inf:red"])
def test_absurd_weights_are_refused_in_one_line(token: str) -> None:
    if token.startswith(("nan", "inf", "1e")):  # not weights at all to the parser: plain words
        assert parse([token])[0].weight == 1.0
        return
    with pytest.raises(ValueError, match="weights go from 0 to 100"):
        parse([token])
    assert parse([f"{MAX_WEIGHT:g}:red"])[0].weight == MAX_WEIGHT


@pytest.fixture(scope="module")
def shapes_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("num") / "pics"
    folder.mkdir()
    for i, img in enumerate(shape_files("red", "circle", n=2) + shape_files("blue", "square", n=2)):
        img.save(folder / f"p{i}.png")
    db = str(folder.parent / "c.db")
    with Library(db, model="tiny-shapes") as lib:
        lib.index([str(folder)])
    return db


@pytest.mark.slow
def test_the_cli_shell_and_api_refuse_an_overflowing_weight(shapes_db: str) -> None:
    cli = picfind("search", OVERFLOW, "--db", shapes_db, "--json")
    assert cli.returncode != 0 and cli.stdout == "" and "weights go from 0" in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1 and "Traceback" not in cli.stderr
    shell = picfind("shell", "--db", shapes_db, input=OVERFLOW + "\n")
    assert "weights go from 0" in shell.stderr and "NaN" not in shell.stdout
    with TestClient(web.create_app(shapes_db, "tiny-shapes"), base_url=LOCAL) as client:
        answer = client.get("/api/search", params={"q": OVERFLOW})
        assert answer.status_code == 400 and "weights go from 0" in answer.json()["error"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_nan_vector_is_never_stored_nor_scored(tmp_path: Path, backend: str, request: pytest.FixtureRequest,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that gives NaN for one picture: that picture is skipped (PostgreSQL's vector type
    would refuse the whole batch), and every score picfind prints is a finite number."""
    from picfind.models.encoder import Encoder

    db = request.getfixturevalue("pg_url") if backend == "postgres" else str(tmp_path / "c.db")
    folder = tmp_path / "pics"
    folder.mkdir()
    for i, img in enumerate(shape_files("red", "circle", n=3)):
        img.save(folder / f"p{i}.png")
    real = Encoder.encode_images

    def one_nan(self, pixels: np.ndarray) -> np.ndarray:
        out = real(self, pixels)
        out[0] = np.nan
        return out
    monkeypatch.setattr(Encoder, "encode_images", one_nan)
    with Library(db, model="tiny-shapes") as lib:
        report = lib.index([str(folder)], options=_one_batch())
        assert report.embedded == 2 and dict(report.skipped) == {"no vector": 1}
        monkeypatch.setattr(Encoder, "encode_images", real)
        hits = lib.search("a red circle", n=10)
        assert len(hits) == 2 and all(math.isfinite(h.score) for h in hits)
        json.dumps([h.as_dict() for h in hits], allow_nan=False)
    if backend == "sqlite":  # a NaN vector already in a catalog (made by an older picfind) scores nothing
        catalog = open_catalog(db)
        root = catalog.roots()[0]
        catalog.write_batch("tiny-shapes", [IndexedFile(str(folder / "p0.png"), root.id, 1, 0, "nan", 8, 8)],
                            {"nan": np.full(catalog_dim(catalog), np.nan, np.float32)}, [])
        query = np.ones(catalog_dim(catalog), np.float32) / np.sqrt(catalog_dim(catalog))
        found = search(catalog, "tiny-shapes", query, 10)
        assert "nan" not in {h.content_hash for h in found} and all(math.isfinite(h.score) for h in found)
        catalog.close()


def _one_batch():
    from picfind.indexing.stages import IndexOptions
    return IndexOptions(batch_size=8, workers=1)


def catalog_dim(catalog) -> int:
    return len(catalog.vector_of("tiny-shapes", next(iter(catalog.embedded_hashes("tiny-shapes")))))


# --- item 7: dates --------------------------------------------------------------------------

def test_every_year_is_written_with_four_digits() -> None:
    assert parse_date("0999") == "0999-01-01 00:00:00"
    assert parse_date("0999-07-14 18:30") == "0999-07-14 18:30:00"
    assert Filter.of(after="0999").after < Filter.of(after="2024").after


def _jpeg_taken(path: Path, when: str) -> None:
    from PIL import Image
    exif = Image.Exif()
    exif[0x0132] = when
    shape_files("green", "triangle", n=1)[0].save(path, "JPEG", exif=exif.tobytes())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_picture_dated_0999_is_old_not_newest(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    db = request.getfixturevalue("pg_url") if backend == "postgres" else str(tmp_path / "c.db")
    folder = tmp_path / "pics"
    folder.mkdir()
    _jpeg_taken(folder / "old.jpg", "0999:05:06 07:08:09")
    _jpeg_taken(folder / "new.jpg", "2024:05:06 07:08:09")
    _jpeg_taken(folder / "mid.jpg", "1990:05:06 07:08:09")
    with Library(db, model="tiny-shapes") as lib:
        lib.index([str(folder)])
        names = lambda hits: [Path(h.path).name for h in hits]  # noqa: E731
        assert names(lib.search("a triangle", n=10, where=Filter.of(after="2024"))) == ["new.jpg"]
        assert sorted(names(lib.search("a triangle", n=10, where=Filter.of(after="0999")))) == [
            "mid.jpg", "new.jpg", "old.jpg"]
        assert names(lib.search("a triangle", n=10, where=Filter.of(before="1000"))) == ["old.jpg"]
        assert names(lib.search("a triangle", n=10, sort="date")) == ["new.jpg", "mid.jpg", "old.jpg"]
        status = lib.status()
        assert status["dates_before_1826"] == 1


def test_a_catalog_of_the_previous_schema_gets_its_dates_padded(tmp_path: Path) -> None:
    """Made by the schema before this fix, with the unpadded date an older picfind wrote."""
    from picfind.catalogs.sqlite import schema

    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    before = schema.MIGRATIONS[:schema.MIGRATIONS.index(schema.PAD_DATES)]
    for sql in before:
        con.executescript(sql)
    con.execute(f"PRAGMA user_version = {len(before)}")
    con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (?, '[\"jpg\"]', '[]', 0)",
                (str(tmp_path).encode(),))
    for name, taken in (("old.jpg", "999-05-06 07:08:09"), ("new.jpg", "2024-05-06 07:08:09"), ("none.jpg", None)):
        con.execute("INSERT INTO files(path, root_id, size, mtime_ns, status, content_hash, taken_at, meta_read) "
                    "VALUES (?, 1, 1, 0, 'ok', ?, ?, 1)", (str(tmp_path / name).encode(), name, taken))
    con.commit()
    con.close()
    catalog = open_catalog(str(db))
    catalog.close()
    con = sqlite3.connect(db)
    rows = dict(con.execute("SELECT content_hash, taken_at FROM files"))
    assert rows == {"old.jpg": "0999-05-06 07:08:09", "new.jpg": "2024-05-06 07:08:09", "none.jpg": None}


def test_a_postgresql_catalog_of_the_previous_schema_gets_its_dates_padded(pg_url: str, tmp_path: Path) -> None:
    import psycopg

    from picfind.catalogs.postgres import schema

    step = next(i for i, (name, _) in enumerate(schema.MIGRATIONS) if name == "m005_pad_dates")
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("CREATE TABLE picfind_schema (version integer PRIMARY KEY, name text NOT NULL, "
                   "applied_at timestamptz NOT NULL DEFAULT now())")
        for number, (name, script) in enumerate(schema.MIGRATIONS[:step]):
            db.execute(script)
            db.execute("INSERT INTO picfind_schema(version, name) VALUES (%s, %s)", (number + 1, name))
        db.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (%s, '[\"jpg\"]', '[]', 0)",
                   (str(tmp_path).encode(),))
        for name, taken, local in (("old", "999-05-06 07:08:09", "2024-01-01 00:00:00"),
                                   ("new", "2024-05-06 07:08:09", "99-01-01 00:00:00"), ("none", None, "2024-01-01")):
            db.execute("INSERT INTO files(path, root_id, size, mtime_ns, mtime_local, ext, status, content_hash, "
                       "taken_at) SELECT %s, id, 1, 0, %s, 'jpg', 'ok', %s, %s FROM roots",
                       (str(tmp_path / name).encode(), local, name, taken))
    open_catalog(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as db:
        rows = {h: (t, m) for h, t, m in db.execute("SELECT content_hash, taken_at, mtime_local FROM files")}
    assert rows == {"old": ("0999-05-06 07:08:09", "2024-01-01 00:00:00"),
                    "new": ("2024-05-06 07:08:09", "0099-01-01 00:00:00"), "none": (None, "2024-01-01")}
