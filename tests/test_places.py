# ruff: noqa: F811 - `db`, the imported fixture, is asked for by name
"""Places: the EXIF GPS position of real JPEGs (written by Pillow), named offline, stored in both
catalogs, shown in every output and filtered by `--place` and `--near` with every query kind."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import psycopg
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from starlette.testclient import TestClient

from picfind.filters import Filter, parse_near
from picfind.media.decode import decode, probe
from picfind.media.places import km_between, place_at
from picfind.records import Place, fold
from picfind.web import app as web

from .conftest import shape_files
from .test_catalogs_e2e import db, run  # noqa: F401 - db: the fixture of both catalogs

LYON = (45.7640, 4.8357)  # Place Bellecour
VILLEURBANNE = (45.7719, 4.8902)  # 4.4 km east of it
TOKYO = (35.6595, 139.7005)  # Shibuya


def gps_exif(lat: float, lon: float) -> Image.Exif:
    """A GPS IFD as cameras write it: degrees, minutes, seconds as rationals, and hemisphere letters."""
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[3] = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    for tag, value in ((2, abs(lat)), (4, abs(lon))):
        d, m = int(value), int(value * 60) % 60
        s = round((value * 3600) % 60 * 100)
        gps[tag] = (IFDRational(d, 1), IFDRational(m, 1), IFDRational(s, 100))
    return exif


def jpeg(img: Image.Image, exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=90, **({"exif": exif} if exif is not None else {}))
    return buf.getvalue()


# reading the position


def test_a_camera_gps_block_gives_signed_degrees() -> None:
    img = Image.new("RGB", (64, 48), "red")
    meta = probe(jpeg(img, gps_exif(*LYON)))
    assert meta.lat == pytest.approx(LYON[0], abs=1e-5) and meta.lon == pytest.approx(LYON[1], abs=1e-5)
    south_west = decode(jpeg(img, gps_exif(-33.8568, -70.6483)), 32).meta  # Santiago de Chile
    assert south_west.lat == pytest.approx(-33.8568, abs=1e-5) and south_west.lon == pytest.approx(-70.6483, abs=1e-5)
    assert probe(jpeg(img)).lat is None


def _gps(tags: dict) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(0x8825).update(tags)
    return exif


@pytest.mark.parametrize("tags", [
    {1: "N", 2: (IFDRational(45, 0), IFDRational(0, 1), IFDRational(0, 1)), 3: "E", 4: (4.0, 0.0, 0.0)},  # x/0
    {1: "Q", 2: (45.0, 0.0, 0.0), 3: "E", 4: (4.0, 0.0, 0.0)},  # no such hemisphere
    {1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (4.0, 0.0, 0.0)},  # beyond the pole
    {1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)},  # no fix: "null island"
    {1: "N", 2: (45.0, 0.0, 0.0)},  # a latitude alone
])
def test_a_nonsense_gps_block_costs_the_position_never_the_picture(tags: dict) -> None:
    decoded = decode(jpeg(Image.new("RGB", (64, 48), "blue"), _gps(tags)), 32)
    assert decoded.image.size == (64, 48) and (decoded.meta.lat, decoded.meta.lon) == (None, None)


def test_a_gps_pointer_past_the_end_of_the_file_costs_the_position_only() -> None:
    data = bytearray(jpeg(Image.new("RGB", (64, 48), "green"), gps_exif(*LYON)))
    tiff = data.index(b"Exif\x00\x00") + 6
    little = data[tiff:tiff + 2] == b"II"
    tag = b"\x25\x88" if little else b"\x88\x25"
    entry = data.index(tag, tiff)
    data[entry + 8:entry + 12] = (0x7FFFFF00).to_bytes(4, "little" if little else "big")
    decoded = decode(bytes(data), 32)
    assert decoded.image.size == (64, 48) and decoded.meta.lat is None


def test_a_gps_latitude_stored_as_text_costs_the_position_only() -> None:
    data = bytearray(jpeg(Image.new("RGB", (64, 48), "green"), gps_exif(*LYON)))
    tiff = data.index(b"Exif\x00\x00") + 6
    order = "little" if data[tiff:tiff + 2] == b"II" else "big"
    latitude = (2).to_bytes(2, order) + (5).to_bytes(2, order) + (3).to_bytes(4, order)  # tag 2, RATIONAL x 3
    entry = data.index(latitude, tiff)
    data[entry + 2:entry + 4] = (2).to_bytes(2, order)  # now ASCII
    decoded = decode(bytes(data), 32)
    assert decoded.image.size == (64, 48) and decoded.meta.lat is None


# naming it


def test_positions_are_named_offline_from_geonames() -> None:
    lyon = place_at(*LYON)
    assert (lyon.city, lyon.country, lyon.country_code) == ("Lyon 01", "France", "FR")  # a district of Lyon
    assert fold(lyon.region) == "auvergne rhone alpes" and "|lyon|" in lyon.key and "|fr|" in lyon.key
    assert place_at(*TOKYO).country == "Japan"
    assert place_at(None, 4.0) is None and place_at(float("nan"), 4.0) is None
    assert str(Place("Paris", "Île-de-France", "France")) == "Paris, Île-de-France, France"
    assert km_between(*LYON, *VILLEURBANNE) == pytest.approx(4.4, abs=0.2)


def test_place_and_near_filters_are_checked_as_people_type_them() -> None:
    assert Filter.of(place="  ÎLE-de-France ").place == "ile de france"
    assert parse_near("45.76, 4.84") == (45.76, 4.84, 10.0) and parse_near("45.76,4.84,2.5")[2] == 2.5
    for bad in ("45.76", "north,east", "95,4", "45,4,0", "45,4,-3", "1,2,3,4"):
        with pytest.raises(ValueError, match="position|latitude|distance"):
            parse_near(bad)
    with pytest.raises(ValueError, match="place name"):
        Filter.of(place=" - ")
    assert Filter.of(near="1,2") and Filter.of(place="NSW") and Filter.of(place="Kings County")
    for unknown in ("Lyo", "Narnia", "x"):  # whole names only: a part of one is no place
        with pytest.raises(ValueError, match=f"no place called {unknown} is known"):
            Filter.of(place=unknown)


# both catalogs, end to end


@pytest.fixture()
def travels(tmp_path: Path) -> Path:
    """Red circles in Lyon, blue squares one in Villeurbanne and two in Tokyo, green triangles
    with no position at all (one a PNG)."""
    lib = tmp_path / "Travels"
    lib.mkdir()
    where = {"red-circle": [LYON] * 3, "blue-square": [VILLEURBANNE, TOKYO, TOKYO], "green-triangle": [None] * 3}
    for seed, (name, places) in enumerate(where.items()):
        colour, shape = name.split("-")
        for i, (img, place) in enumerate(zip(shape_files(colour, shape, n=3, seed=seed), places)):
            if place is None and i == 2:
                img.save(lib / f"{name}-{i}.png")
            else:
                (lib / f"{name}-{i}.jpg").write_bytes(jpeg(img, gps_exif(*place) if place else None))
    return lib


def found(*args: str, db: str) -> list[str]:
    return sorted(Path(h["path"]).name for h in json.loads(run(*args, "-n", "20", "--json", db=db)))


def test_places_are_stored_shown_and_filtered_on_both_catalogs(db: str, travels: Path) -> None:
    run("index", str(travels), "--json", db=db)
    hits = json.loads(run("search", "a red circle", "-n", "9", "--json", db=db))
    by_name = {Path(h["path"]).name: h for h in hits}
    red = by_name["red-circle-0.jpg"]
    assert red["place"] == "Lyon 01, Auvergne-Rhône-Alpes, France" and red["lat"] == pytest.approx(LYON[0], abs=1e-5)
    assert by_name["green-triangle-2.png"]["place"] is None and by_name["green-triangle-2.png"]["lat"] is None

    reds = ["red-circle-0.jpg", "red-circle-1.jpg", "red-circle-2.jpg"]
    region = found("search", "a shape", "--place", "auvergne-rhone-alpes", db=db)  # accents and hyphens optional
    assert region == ["blue-square-0.jpg", *reds]
    assert found("search", "a shape", "--place", "LYON", db=db) == region  # Villeurbanne is in Lyon's area
    assert found("search", "a shape", "--place", "japan", db=db) == ["blue-square-1.jpg", "blue-square-2.jpg"]
    assert found("search", "a shape", "--place", "fr", db=db) == region  # the country code
    assert found("search", "a shape", "--near", f"{LYON[0]},{LYON[1]},2", db=db) == reds
    assert found("search", "a shape", "--near", f"{LYON[0]},{LYON[1]},6", db=db) == region
    everywhere = found("search", "a shape", "--near", "0.001,0.001,20100", db=db)  # the whole Earth: positions only
    assert everywhere == ["blue-square-0.jpg", "blue-square-1.jpg", "blue-square-2.jpg", *reds]
    # with every query kind, and with the other filters
    like = found("similar", str(travels / "blue-square-0.jpg"), "--place", "Tokyo", db=db)
    assert like == ["blue-square-1.jpg", "blue-square-2.jpg"]
    assert found("search", "a red circle", "-", "a blue square", "--place", "france", "--ext", "jpg", db=db) == region
    assert found("search", "a shape", "--place", "france", "--after", "2999", db=db) == []

    text = run("search", "a red circle", "-n", "1", db=db)
    assert "place: Lyon 01, Auvergne-Rhône-Alpes, France  (45.76400, 4.83570)" in text
    st = json.loads(run("status", "--json", db=db))
    assert st["with_position"] == 6
    assert "places    6 with a GPS position" in run("status", db=db)

    with TestClient(web.create_app(db, "tiny-shapes"), base_url="http://127.0.0.1") as client:
        api = client.get("/api/search", params={"q": "a shape", "place": "Île-de-France"}).json()
        assert api["results"] == []
        api = client.get("/api/search", params={"q": "a shape", "near": f"{TOKYO[0]},{TOKYO[1]},1"}).json()
        assert sorted(Path(r["path"]).name for r in api["results"]) == ["blue-square-1.jpg", "blue-square-2.jpg"]
        first = api["results"][0]
        assert first["place"].endswith("Japan") and first["lon"] == pytest.approx(TOKYO[1], abs=1e-5)
        like = client.get("/api/similar", params={"id": first["id"], "place": "auvergne rhone alpes"}).json()
        assert sorted(Path(r["path"]).name for r in like["results"]) == ["blue-square-0.jpg", *reds]
        bad = client.get("/api/search", params={"q": "a shape", "near": "here"})
        assert bad.status_code == 400 and "LAT,LON" in bad.json()["error"]


def test_shell_lines_take_place_filters(db: str, travels: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("index", str(travels), db=db)
    monkeypatch.setattr("sys.stdin", io.StringIO("a shape --place tokyo\nexit\n"))
    lines = [line for line in run("shell", db=db).splitlines() if line[:3].strip().isdigit()]
    assert len(lines) == 2 and all("blue-square" in line for line in lines)


def drop_later_tables(con: sqlite3.Connection, steps: int) -> None:
    """Drop the tables, triggers and indexes that migrations after the first `steps` made."""
    from picfind.catalogs.sqlite.schema import MIGRATIONS, statements

    then = sqlite3.connect(":memory:")
    for step in MIGRATIONS[:steps]:
        for statement in statements(step):
            then.execute(statement)
    before = {name for (name,) in then.execute("SELECT name FROM sqlite_schema")}
    for kind in ("trigger", "index", "table"):
        for (name,) in con.execute("SELECT name FROM sqlite_schema WHERE type = ? AND name NOT LIKE 'sqlite_%'",
                                   (kind,)).fetchall():
            if name not in before:
                con.execute(f"DROP {kind.upper()} IF EXISTS {name}")


def test_a_sqlite_catalog_from_before_places_gets_positions_without_re_embedding(travels: Path, tmp_path: Path) -> None:
    from picfind.catalogs.sqlite.schema import MIGRATIONS, SCHEMA_VERSION

    db = tmp_path / "old.db"
    steps = MIGRATIONS.index(next(m for m in MIGRATIONS if "place_key" in m))
    run("index", str(travels), db=str(db))
    con = sqlite3.connect(db)  # the same catalog as the schema before places left it
    drop_later_tables(con, steps)  # first: later triggers name the columns dropped here
    con.execute("DROP INDEX IF EXISTS files_lat")
    for column in ("lat", "lon", "city", "region", "country", "place_key", "duration"):  # duration: videos, later
        con.execute(f"ALTER TABLE files DROP COLUMN {column}")
    con.execute(f"PRAGMA user_version = {steps}")
    con.commit()
    con.close()

    assert found("search", "a shape", db=str(db))  # opening migrates: the rows survive
    assert found("search", "a shape", "--place", "lyon", db=str(db)) == []  # no positions yet
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("SELECT count(*) FROM files WHERE meta_read = 0").fetchone()[0] == 9
    con.close()
    report = json.loads(run("index", "--json", db=str(db)))
    assert report["embedded"] == 0 and report["read"] == 9
    assert len(found("search", "a shape", "--place", "lyon", db=str(db))) == 4  # with Villeurbanne
    assert json.loads(run("index", "--json", db=str(db)))["read"] == 0


def test_a_postgresql_catalog_from_before_places_gets_positions_without_re_embedding(
        travels: Path, pg_url: str) -> None:
    from picfind.catalogs.postgres.schema import MIGRATIONS

    run("index", str(travels), db=pg_url)
    with psycopg.connect(pg_url, autocommit=True) as con:  # as the schema before places left it
        con.execute("DROP FUNCTION picfind_km(double precision, double precision, double precision, "
                    "double precision)")
        con.execute("DROP TABLE faces, faces_read, people")  # and the faces step's
        tallies = "SELECT oid::regprocedure::text FROM pg_proc WHERE proname LIKE 'tallies%%'"
        for (fn,) in con.execute(tallies).fetchall():
            con.execute(f"DROP FUNCTION {fn} CASCADE")  # and the status counts' step (their triggers go too)
        con.execute("DROP TABLE tallies, tallies_touched, tallies_counted")
        con.execute("ALTER TABLE files DROP COLUMN lat, DROP COLUMN lon, DROP COLUMN city, DROP COLUMN region, "
                    "DROP COLUMN country, DROP COLUMN place_key")
        con.execute("ALTER TABLE files DROP COLUMN duration")  # and the later step's (videos)
        con.execute("ALTER TABLE embeddings DROP COLUMN owner")
        con.execute("DELETE FROM picfind_schema WHERE version >= 3")
    assert found("search", "a shape", "--place", "lyon", db=pg_url) == []
    with psycopg.connect(pg_url, autocommit=True) as con:
        names = [n for (n,) in con.execute("SELECT name FROM picfind_schema ORDER BY version")]
        assert names == [name for name, _ in MIGRATIONS]
        assert con.execute("SELECT count(*) FROM files WHERE NOT meta_read").fetchone()[0] == 9
    report = json.loads(run("index", "--json", db=pg_url))
    assert report["embedded"] == 0 and report["read"] == 9
    assert len(found("search", "a shape", "--place", "lyon", db=pg_url)) == 4  # with Villeurbanne


def test_a_video_filmed_somewhere_is_found_by_its_place_on_both_catalogs(db: str, tmp_path: Path) -> None:
    """Phones write where a video was filmed as an ISO 6709 `location` tag: the video gets the
    place, and `--place` and `--near` find its moment; one without the tag matches neither."""
    from .videos import RED_CIRCLE, shapes_video

    lib = tmp_path / "Films"
    lib.mkdir()
    shapes_video(lib / "shibuya.mp4", {2.0: RED_CIRCLE}, 8, location=f"+{TOKYO[0]:.4f}+{TOKYO[1]:.4f}+040.000/")
    shapes_video(lib / "nowhere.mp4", {2.0: RED_CIRCLE}, 8, seed=1)
    run("index", str(lib), "--json", db=db)
    hits = {Path(h["path"]).name: h for h in json.loads(run("search", "a red circle", "--json", db=db))}
    assert hits["shibuya.mp4"]["kind"] == "video" and hits["shibuya.mp4"]["lat"] == pytest.approx(TOKYO[0], abs=1e-4)
    assert "Japan" in hits["shibuya.mp4"]["place"] and hits["nowhere.mp4"]["place"] is None
    assert found("search", "a red circle", "--place", "japan", db=db) == ["shibuya.mp4"]
    assert found("search", "a red circle", "--near", f"{TOKYO[0]},{TOKYO[1]},2", db=db) == ["shibuya.mp4"]
    assert found("search", "a red circle", "--place", "france", db=db) == []


@pytest.mark.parametrize("tag, position", [
    ("+45.7640+004.8357/", (45.764, 4.8357)),
    ("-33.8688+151.2093+058.000/", (-33.8688, 151.2093)),
    ("+00.0000+000.0000/", (None, None)),  # a receiver without a fix
    ("+95.0000+004.0000/", (None, None)),
    ("Lyon", (None, None)),
    ("", (None, None)),
])
def test_a_video_location_tag_is_read_as_iso_6709(tag: str, position: tuple) -> None:
    from picfind.media.video import _position

    lat, lon = _position({"location": tag})
    assert (lat, lon) == (pytest.approx(position[0]) if position[0] is not None else None,
                          pytest.approx(position[1]) if position[1] is not None else None)


def test_a_portrait_video_keeps_its_position(tmp_path: Path) -> None:
    """A phone's portrait video is turned by its display matrix: the turn keeps where it was filmed."""
    from picfind.media.video import open_video, probe, sample

    from .videos import RED_CIRCLE, shapes_video

    path = shapes_video(tmp_path / "portrait.mov", {1.0: RED_CIRCLE}, 4, rotation=90, size=(128, 224),
                        location=f"+{TOKYO[0]:.4f}+{TOKYO[1]:.4f}/")
    for read in (probe, lambda f: sample(f, 64).info):
        with open_video(str(path)) as f:
            info = read(f)
        assert (info.width, info.height) == (128, 224)
        assert (info.lat, info.lon) == (pytest.approx(TOKYO[0]), pytest.approx(TOKYO[1]))


def test_near_takes_positions_south_and_west_with_spaces_and_units() -> None:
    """`--near -33.8568,151.2153,5` was taken for an option ("expected one argument"), on the
    command line and on the shell's lines; spaces and a unit are how people write it."""
    from picfind.cli.args import build_parser
    from picfind.cli.shell import shell_line

    sydney = (-33.8568, 151.2153, 5.0)
    args = build_parser().parse_args(["search", "the opera", "--near", "-33.8568,151.2153,5"])
    assert parse_near(args.near) == sydney
    args = build_parser().parse_args(["similar", "x.jpg", "--near", "-33.8568, -151.2153"])
    assert parse_near(args.near) == (-33.8568, -151.2153, 10.0)
    _, line = shell_line("the opera --near -33.8568,151.2153,5 -n 3")
    assert parse_near(line.near) == sydney and line.n == 3
    assert parse_near("-33.8568, 151.2153, 5km") == sydney == parse_near("-33.8568 151.2153 5 km")
    assert parse_near("40.7,-74.0,800m")[2] == pytest.approx(0.8) and parse_near("40.7,-74,2mi")[2] == 3.218688
    for bad in ("-33.8,151.2,5 parsecs", "-33.8,151.2,km", "nan,1"):
        with pytest.raises(ValueError, match="position|latitude"):
            parse_near(bad)
