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
