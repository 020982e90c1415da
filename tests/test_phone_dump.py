"""A phone's dump as people copy it: the clutter systems and sync tools leave beside the
pictures is not indexed, and place names are the ones people say."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from picfind import Library
from picfind.indexing.crawl import DEFAULT_EXCLUDES

from .conftest import shape_files
from .test_first_hour import cli

CLUTTER = ["DCIM/.thumbnails/1.jpg", "DCIM/Camera/.trashed-1700000000-PXL_2.jpg", ".Trash-1000/files/x.jpg",
           ".stversions/a~20240101.jpg", "Pictures/.picasaoriginals/b.jpg", "@eaDir/PXL_1.jpg/THUMB_XL.jpg",
           ".cache/y.jpg", "$RECYCLE.BIN/z.jpg", ".pending-1700000000-PXL_3.jpg"]
# What picfind stored with every root before it knew the clutter (up to e2adb50^); roots added with
# --no-default-excludes since have the rest of today's defaults, without the clutter
OLD_DEFAULTS = ["@eaDir", "node_modules", ".git", ".picfind"]
NO_DEFAULTS = ["node_modules", ".git", ".picfind"]


def phone(folder: Path) -> Path:
    """A phone's dump: one photo, the same picture as clutter beside it, and an AppleDouble file."""
    img = shape_files("red", "circle", n=1, size=64)[0]
    for rel in ["DCIM/Camera/PXL_1.jpg", *CLUTTER]:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(folder / rel)
    (folder / "DCIM" / "Camera" / "._PXL_1.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(100))  # AppleDouble
    return folder


def test_clutter_is_left_out_by_default_and_can_be_kept(tmp_path: Path) -> None:
    """`DCIM/.thumbnails/`, `.trashed-*`, `.Trash-*`, `.stversions`, `.picasaoriginals` showed up
    in search and dupes."""
    lib = phone(tmp_path / "Phone")
    db = str(tmp_path / "c.db")
    code, out, err = cli("index", str(lib), "--json", "--db", db)
    report = json.loads(out)
    assert code == 0 and report["files_seen"] == 1 and report["embedded"] == 1 and not report["skipped"], report
    code, out, _ = cli("roots", "--json", "--db", db)
    assert {".trashed-*", ".thumbnails", "._*", ".stversions"} <= set(json.loads(out)[0]["excludes"])
    code, out, _ = cli("index", str(lib), "--no-default-excludes", "--json", "--db", db)
    assert json.loads(out)["files_seen"] == 2 + len(CLUTTER)  # kept on purpose (the AppleDouble skipped)


def old_catalog(tmp_path: Path) -> tuple[str, Path, Path]:
    """A catalog as a picfind from before the clutter list left it: the phone's root (with an
    exclude of the user's own) stored with the old default excludes, its clutter indexed; and a
    root added with --no-default-excludes since, its clutter kept on purpose."""
    from picfind.catalogs.sqlite.schema import MIGRATIONS

    lib, kept = phone(tmp_path / "Phone"), tmp_path / "Kept"
    (kept / ".thumbnails").mkdir(parents=True)
    shape_files("blue", "square", n=1, size=64)[0].save(kept / ".thumbnails" / "k.jpg")
    db = str(tmp_path / "old.db")
    for folder, old_excludes in ((lib, ["--exclude", "@eaDir"]), (kept, [])):  # @eaDir: left out then too
        assert cli("index", str(folder), "--no-default-excludes", *old_excludes, "--quiet", "--db", db)[0] == 0
    # the step that gives old roots today's defaults, and the steps after it, not applied yet
    before = next((i for i, m in enumerate(MIGRATIONS) if '".Trash-*"' in m), len(MIGRATIONS))
    con = sqlite3.connect(db)
    con.execute("UPDATE roots SET excludes = ? WHERE path = ?",
                (json.dumps([*OLD_DEFAULTS, "*.tmp"]), os.fsencode(str(lib))))
    con.execute(f"PRAGMA user_version = {before}")
    con.commit()
    con.close()
    return db, lib, kept


def _clutter_in(text: str, lib: Path) -> list[str]:
    return [rel for rel in CLUTTER if str(lib / rel) in text]


def test_a_catalog_from_before_the_clutter_list_drops_its_clutter_on_the_next_run(tmp_path: Path) -> None:
    """A root keeps the excludes it was added with, and no step of the schema brought old roots the
    clutter list: a bare `picfind index` kept indexing `.Trash-1000/`, `.trashed-*`."""
    db, lib, kept = old_catalog(tmp_path)
    code, out, err = cli("index", "--json", "--db", db)
    assert code == 0, err
    # left out now, so gone from the catalog: the clutter (but @eaDir's, left out then too) and the ._ file
    assert json.loads(out)["removed"] == len(CLUTTER) - 1 + 1
    roots = {r["path"]: r["excludes"] for r in json.loads(cli("roots", "--json", "--db", db)[1])}
    assert roots[str(lib)] == [*DEFAULT_EXCLUDES, "*.tmp"]  # the user's own exclude kept
    assert roots[str(kept)] == NO_DEFAULTS  # --no-default-excludes: kept as it was
    code, out, _ = cli("search", "a shape", "-n", "50", "--json", "--db", db)
    paths = {hit["path"] for hit in json.loads(out)}
    assert code == 0 and {str(lib / "DCIM/Camera/PXL_1.jpg"), str(kept / ".thumbnails/k.jpg")} <= paths
    assert _clutter_in(out, lib) == []
    code, out, _ = cli("dupes", "--json", "--db", db)
    assert code == 0 and _clutter_in(out, lib) == []


def test_the_watcher_on_a_catalog_from_before_the_clutter_list_leaves_it_out(tmp_path: Path) -> None:
    from .test_watch import files, until, watching

    db, lib, _ = old_catalog(tmp_path)
    img = shape_files("green", "triangle", n=1, size=64)[0]
    with watching(db) as w, Library(db, model="tiny-shapes") as seen:
        assert w.batches[0].reason == "start"
        assert not [name for name in files(seen) if name in CLUTTER]  # the first scan dropped it
        img.save(lib / ".Trash-1000" / "files" / "new.jpg")
        img.save(lib / "DCIM" / "Camera" / "PXL_4.jpg")
        until(lambda: "DCIM/Camera/PXL_4.jpg" in files(seen), "the new photo indexed")
        assert ".Trash-1000/files/new.jpg" not in files(seen)


@pytest.mark.parametrize("catalog", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def test_only_roots_on_an_old_default_get_the_clutter_list(catalog: str, tmp_path: Path,
                                                           request: pytest.FixtureRequest) -> None:
    """The old defaults alone or followed by the user's own excludes become today's defaults (the
    user's kept after them); roots added with --no-default-excludes, and lists of the user's own
    making, stay as they are."""
    stored = {"/a": OLD_DEFAULTS, "/b": [*OLD_DEFAULTS, "*.tmp", "Private"], "/c": NO_DEFAULTS,
              "/d": [*NO_DEFAULTS, "@eaDir"], "/e": ["x", *OLD_DEFAULTS], "/f": OLD_DEFAULTS[:3],
              "/g": [*DEFAULT_EXCLUDES, "*.tmp"], "/h": [*OLD_DEFAULTS[:3], ".picfind2"]}
    if catalog == "sqlite":
        from picfind.catalogs.sqlite.schema import MIGRATIONS

        db = str(tmp_path / "old.db")
        before = next((i for i, m in enumerate(MIGRATIONS) if '".Trash-*"' in m), len(MIGRATIONS))
        con = sqlite3.connect(db)
        con.executescript("".join(MIGRATIONS[:before]) + f"PRAGMA user_version = {before};")
        con.executemany("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (?, '[\"jpg\"]', ?, 0)",
                        [(p.encode(), json.dumps(x)) for p, x in stored.items()])
        con.commit()
        con.close()
    else:
        import psycopg

        from picfind.catalogs.postgres.schema import MIGRATIONS as PG_MIGRATIONS

        db = request.getfixturevalue("pg_url")
        before = next((i for i, (name, _) in enumerate(PG_MIGRATIONS) if "clutter" in name), len(PG_MIGRATIONS))
        with psycopg.connect(db, autocommit=True) as pg:
            pg.execute("CREATE TABLE picfind_schema (version integer PRIMARY KEY, name text NOT NULL, "
                       "applied_at timestamptz NOT NULL DEFAULT now())")
            for number, (name, script) in enumerate(PG_MIGRATIONS[:before], 1):
                pg.execute(script)
                pg.execute("INSERT INTO picfind_schema(version, name) VALUES (%s, %s)", (number, name))
            for p, x in stored.items():
                pg.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (%s, '[\"jpg\"]', %s, 0)",
                           (p.encode(), json.dumps(x)))
    with Library(db, model="tiny-shapes") as lib:
        got = {r.path: r.excludes for r in lib.roots()}
    assert got == {**stored, "/a": list(DEFAULT_EXCLUDES), "/b": [*DEFAULT_EXCLUDES, "*.tmp", "Private"]}


def _trips(tmp_path: Path, spots: dict[str, tuple[float, float]]) -> tuple[str, Callable[[str], list[str]]]:
    """A folder of pictures taken at these spots, indexed; and what `--place` finds among them."""
    from .test_places import gps_exif, jpeg
    lib = tmp_path / "Trips"
    lib.mkdir()
    img = shape_files("red", "circle", n=1, size=64)[0]
    for name, (lat, lon) in spots.items():
        (lib / f"{name}.jpg").write_bytes(jpeg(img, gps_exif(lat, lon)))
    db = str(tmp_path / "c.db")
    assert cli("index", str(lib), "--quiet", "--db", db)[0] == 0

    def found(place: str) -> list[str]:
        code, out, err = cli("search", "a shape", "--place", place, "-n", "20", "--json", "--db", db)
        assert code == 0, err
        return sorted(Path(h["path"]).stem for h in json.loads(out))
    return db, found


def test_places_people_say_find_the_city_its_suburbs_and_the_country(tmp_path: Path) -> None:
    """`--place Paris` found 2 of 19 pictures around the Eiffel Tower (the nearest GeoNames town
    is Vanves), `--place Sydney` 1 of 19 around the Opera House; `usa` and `NYC` found nothing."""
    from .test_places import LYON

    spots = {"eiffel": (48.8584, 2.2945), "trocadero": (48.8616, 2.2893), "louvre": (48.8606, 2.3376),
             "opera-house": (-33.8568, 151.2153), "bondi": (-33.8908, 151.2743),
             "times-square": (40.7580, -73.9855), "brooklyn-bridge": (40.7061, -73.9969), "lyon": LYON}
    db, found = _trips(tmp_path, spots)

    paris = ["eiffel", "louvre", "trocadero"]
    assert found("Paris") == found("paris") == paris
    assert found("Sydney") == ["bondi", "opera-house"]
    new_york = ["brooklyn-bridge", "times-square"]
    assert found("NYC") == found("New York City") == found("usa") == found("United States") == found("US") == new_york
    assert found("france") == ["eiffel", "louvre", "lyon", "trocadero"] and found("Australia") == found("AU")
    code, out, _ = cli("search", "a shape", "--place", "sydney", "-n", "1", "--json", "--db", db)
    [hit] = json.loads(out)
    assert hit["region"] == "New South Wales" and hit["country"] == "Australia" and hit["city"]


def test_state_codes_find_their_region_districts_their_own_streets_and_unknown_places_are_said(
        tmp_path: Path) -> None:
    """`--place NSW` found nothing though "New South Wales" did; `--place Brooklyn` found a Times
    Square picture and `Queens` a Brooklyn Bridge one (each borough took a radius of the whole
    city); `--place DC` found Seattle (Washington state); `--place Narnia` said a silent "no matches"."""
    from starlette.testclient import TestClient

    from picfind.web import app as web

    nyc = {"times-square": (40.7580, -73.9855), "brooklyn-bridge": (40.7061, -73.9969),  # Manhattan
           "east-flatbush": (40.6782, -73.9442), "brooklyn-heights": (40.6959, -73.9956),  # Brooklyn
           "fresh-meadows": (40.7282, -73.7949), "college-point": (40.7675, -73.8331)}  # Queens
    spots = {**nyc, "hollywood": (34.0928, -118.3287), "san-francisco": (37.7749, -122.4194),
             "seattle": (47.6062, -122.3321), "opera-house": (-33.8568, 151.2153),
             "melbourne": (-37.8136, 144.9631), "toronto": (43.6532, -79.3832), "vancouver": (49.2827, -123.1207)}
    db, found = _trips(tmp_path, spots)

    assert found("NSW") == found("nsw") == found("New South Wales") == ["opera-house"]
    assert found("Vic") == ["melbourne"] and found("ON") == ["toronto"] and found("BC") == ["vancouver"]
    assert found("NY") == found("NYC") == sorted(nyc)
    assert found("CA") == ["hollywood", "san-francisco", "toronto", "vancouver"]  # California, and Canada's code
    assert found("WA") == ["seattle"] and found("DC") == found("Washington DC") == []
    assert found("Brooklyn") == ["brooklyn-heights", "east-flatbush"]
    assert found("Queens") == ["college-point", "fresh-meadows"]
    assert found("Manhattan") == ["brooklyn-bridge", "times-square"]

    code, out, err = cli("search", "a shape", "--place", "Narnia", "--db", db)
    assert code == 2 and out == "" and err.count("\n") == 1 and "no place called Narnia is known" in err, err
    with TestClient(web.create_app(db, "tiny-shapes"), base_url="http://127.0.0.1") as client:
        r = client.get("/api/search", params={"q": "a shape", "place": "Narnia"})
        assert r.status_code == 400 and "no place called Narnia is known" in r.json()["error"]
