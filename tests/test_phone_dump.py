"""A phone's dump as people copy it: the clutter systems and sync tools leave beside the
pictures is not indexed, and place names are the ones people say."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import shape_files
from .test_first_hour import cli


def test_clutter_is_left_out_by_default_and_can_be_kept(tmp_path: Path) -> None:
    """`DCIM/.thumbnails/`, `.trashed-*`, `.Trash-*`, `.stversions`, `.picasaoriginals` showed up
    in search and dupes."""
    lib = tmp_path / "Phone"
    img = shape_files("red", "circle", n=1, size=64)[0]
    real = lib / "DCIM" / "Camera" / "PXL_1.jpg"
    clutter = ["DCIM/.thumbnails/1.jpg", "DCIM/Camera/.trashed-1700000000-PXL_2.jpg", ".Trash-1000/files/x.jpg",
               ".stversions/a~20240101.jpg", "Pictures/.picasaoriginals/b.jpg", "@eaDir/PXL_1.jpg/THUMB_XL.jpg",
               ".cache/y.jpg", "$RECYCLE.BIN/z.jpg", ".pending-1700000000-PXL_3.jpg"]
    for rel in [str(real.relative_to(lib)), *clutter]:
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(lib / rel)
    (lib / "DCIM" / "Camera" / "._PXL_1.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(100))  # AppleDouble
    db = str(tmp_path / "c.db")
    code, out, err = cli("index", str(lib), "--json", "--db", db)
    report = json.loads(out)
    assert code == 0 and report["files_seen"] == 1 and report["embedded"] == 1 and not report["skipped"], report
    code, out, _ = cli("roots", "--json", "--db", db)
    assert {".trashed-*", ".thumbnails", "._*", ".stversions"} <= set(json.loads(out)[0]["excludes"])
    code, out, _ = cli("index", str(lib), "--no-default-excludes", "--json", "--db", db)
    assert json.loads(out)["files_seen"] == 2 + len(clutter)  # kept on purpose (the AppleDouble skipped)


def test_places_people_say_find_the_city_its_suburbs_and_the_country(tmp_path: Path) -> None:
    """`--place Paris` found 2 of 19 pictures around the Eiffel Tower (the nearest GeoNames town
    is Vanves), `--place Sydney` 1 of 19 around the Opera House; `usa` and `NYC` found nothing."""
    from .test_places import LYON, gps_exif, jpeg

    spots = {"eiffel": (48.8584, 2.2945), "trocadero": (48.8616, 2.2893), "louvre": (48.8606, 2.3376),
             "opera-house": (-33.8568, 151.2153), "bondi": (-33.8908, 151.2743),
             "times-square": (40.7580, -73.9855), "brooklyn-bridge": (40.7061, -73.9969), "lyon": LYON}
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

    from .test_places import gps_exif, jpeg

    nyc = {"times-square": (40.7580, -73.9855), "brooklyn-bridge": (40.7061, -73.9969),  # Manhattan
           "east-flatbush": (40.6782, -73.9442), "brooklyn-heights": (40.6959, -73.9956),  # Brooklyn
           "fresh-meadows": (40.7282, -73.7949), "college-point": (40.7675, -73.8331)}  # Queens
    spots = {**nyc, "hollywood": (34.0928, -118.3287), "san-francisco": (37.7749, -122.4194),
             "seattle": (47.6062, -122.3321), "opera-house": (-33.8568, 151.2153),
             "melbourne": (-37.8136, 144.9631), "toronto": (43.6532, -79.3832), "vancouver": (49.2827, -123.1207)}
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
