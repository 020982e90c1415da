"""Camera RAW files, read through LibRaw (rawpy): the camera's preview when it is big enough, turned
by the RAW's orientation, else a half-size demosaic; the RAW's own tags for time and camera; the
pixel cap before decoding; bad RAWs skipped with their reason; a RAW beside its JPEG one result.
Every RAW is made by the tests (tests/raws.py writes DNGs with pidng)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from picfind.library import Library
from picfind.media.decode import DEFAULT_MAX_PIXELS, SkipFile, decode, probe

from .conftest import picfind, real_photos, shape_files
from .raws import claiming, dng, stripped_cr2

pytest.importorskip("rawpy")


def _cat(size: tuple[int, int] = (600, 400)) -> Image.Image:
    return Image.fromarray(real_photos()["chelsea"]).resize(size)


def _like(a: Image.Image, b: Image.Image) -> float:
    """Correlation of two pictures' grey levels, at b's size."""
    x = np.asarray(a.convert("L").resize(b.size), float).ravel()
    return float(np.corrcoef(x, np.asarray(b.convert("L"), float).ravel())[0, 1])


def test_a_big_enough_preview_is_used_and_turned_by_the_raws_orientation() -> None:
    cat = _cat()
    data = dng(cat, orientation=6, preview=cat.resize((450, 300)))  # held upright: turn 90 degrees clockwise
    got = decode(data, min_side=448)  # the model's input 224 (twice that asked, as the indexer does)
    assert got.format == "RAW" and got.image.size == (300, 450)  # the preview, upright
    upright = cat.transpose(Image.Transpose.ROTATE_270)
    assert _like(got.image, upright) > 0.95
    assert np.abs(np.asarray(got.image, float).mean((0, 1)) - np.asarray(upright.resize((300, 450)), float)
                  .mean((0, 1))).max() < 6  # the camera's own colours
    assert got.meta.width == 400 and got.meta.height == 600  # the RAW's size, upright
    assert (got.meta.camera, got.meta.taken_at) == ("Acme Q1", "2024-05-06 07:08:09")
    assert probe(data) == got.meta


@pytest.mark.parametrize("preview", [None, (150, 100)], ids=["none", "too small"])
def test_without_a_big_enough_preview_the_raw_is_demosaiced_at_half_size(preview: tuple[int, int] | None) -> None:
    cat = _cat()
    data = dng(cat, orientation=8, preview=cat.resize(preview) if preview else None)
    got = decode(data, min_side=448)
    assert got.image.size == (200, 300)  # half of 600x400, turned 90 degrees anticlockwise
    assert (got.meta.width, got.meta.height) == (400, 600) and got.meta.taken_at == "2024-05-06 07:08:09"
    assert _like(got.image, cat.transpose(Image.Transpose.ROTATE_90)) > 0.9
    red, green, blue = np.asarray(got.image, float).mean((0, 1))
    assert red > green > blue  # a ginger cat, white-balanced by the camera's neutral


def test_the_pixel_cap_is_checked_before_decoding() -> None:
    data = dng(_cat(), preview=_cat((450, 300)))
    with pytest.raises(SkipFile, match="over the cap") as err:
        decode(data, 224, max_pixels=200_000)
    assert err.value.reason == "too many pixels"
    assert decode(data, 224, max_pixels=240_000).meta.width == 600


def test_bad_raws_are_skipped_with_their_reason() -> None:
    data = dng(_cat(), preview=_cat((450, 300)))
    for cut in (len(data) // 2, 400, 30):
        with pytest.raises(SkipFile) as err:
            decode(data[:cut], 224)
        assert err.value.reason == "truncated or corrupt"  # too short for its pixels (400, 30): cut short
        assert "a RAW LibRaw cannot decode" in err.value.detail or "the file is cut short" in err.value.detail
    for head in (b"FUJIFILMCCD-RAW 0201FF383501", b"\0\0\0\x18ftypcrx \0\0\0\x01crx isom"):  # a RAF, a CR3
        with pytest.raises(SkipFile) as err:
            decode(head + bytes(range(256)) * 40, 224)
        assert err.value.reason in ("unsupported RAW", "truncated or corrupt"), err.value.reason


def test_a_raw_far_too_small_for_the_pixels_it_claims_is_damaged_not_too_big() -> None:
    """A damaged header (a DNG claiming 60000x40000 pixels in 360 KB, or in its first 4 KB): LibRaw
    calls it too big and the cap too many pixels, which would send the user looking for memory or
    raising --max-megapixels; it is a damaged file. A file big enough for what it claims is still
    too many pixels."""
    data = claiming(dng(_cat()), 60000, 40000)
    for cut, cap in ((len(data), DEFAULT_MAX_PIXELS), (len(data), 10**10), (4096, 10**10)):
        with pytest.raises(SkipFile) as err:
            decode(data[:cut], 224, max_pixels=cap)
        assert err.value.reason == "truncated or corrupt", (cut, cap, err.value.detail)
        assert f"its {cut:,} bytes cannot hold the 60000x40000 pixels its header claims" in err.value.detail
    big = claiming(dng(_cat()), 12000, 10000)
    big += bytes(12000 * 10000 // 8 - len(big))  # a bit a pixel: what a RAW of that size may take
    with pytest.raises(SkipFile, match="over the cap") as err:
        decode(big, 224)
    assert err.value.reason == "too many pixels"


def test_damaged_raws_are_skipped_without_the_libraries_own_lines_on_stderr(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """LibRaw ("unknown file: Unexpected end of file", "data corrupted at 1378") and libtiff
    ("OJPEGReadHeaderInfoSecTablesQTable: Missing JPEG tables." for a stripped CR2) wrote to the
    process's stderr from C, even with -q; a RAW that cannot hold its pixels is said to be cut short."""
    cut, cr2 = dng(_cat())[:5000], stripped_cr2()
    skips = []
    for data in (cut, cr2):
        with pytest.raises(SkipFile) as err:
            decode(data, 224)
        skips.append(err.value)
    assert capfd.readouterr().err == ""
    assert [s.reason for s in skips] == ["truncated or corrupt"] * 2
    assert "its 5,000 bytes cannot hold the 600x400 pixels its header claims" in skips[0].detail
    cards = tmp_path / "card"
    cards.mkdir()
    (cards / "IMG_0001.DNG").write_bytes(cut)
    (cards / "IMG_0002.CR2").write_bytes(cr2)
    proc = picfind("index", str(cards), "-q", "--db", str(tmp_path / "c.db"))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_an_ordinary_tiff_is_still_read_by_pillow() -> None:
    buf = io.BytesIO()
    _cat((300, 200)).save(buf, "TIFF")
    got = decode(buf.getvalue(), 64)
    assert got.format == "TIFF" and got.image.size == (300, 200)


def test_raws_are_indexed_and_a_raw_beside_its_jpeg_is_one_result(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    red = shape_files("red", "circle", n=1, seed=9)[0].resize((320, 320))
    blue = shape_files("blue", "square", n=1, seed=9)[0].resize((320, 320))
    green = shape_files("green", "triangle", n=1, seed=9)[0].resize((320, 320))
    (lib / "DSC_0001.DNG").write_bytes(dng(red, preview=red.resize((256, 256))))  # with a preview
    (lib / "DSC_0002.dng").write_bytes(dng(blue))  # without
    (lib / "DSC_0003.DNG").write_bytes(dng(green, preview=green.resize((256, 256))))  # RAW+JPEG
    green.save(lib / "DSC_0003.JPG")
    (lib / "DSC_0004.DNG").write_bytes(dng(red)[:5000])  # cut short
    db = tmp_path / "cat.db"
    with Library(db, model="tiny-shapes") as library:
        report = library.index([str(lib)])
        assert dict(report.skipped) == {"raw with its jpeg": 1, "truncated or corrupt": 1}
        assert Path(library.search("a red circle", n=1)[0].path).name == "DSC_0001.DNG"
        assert Path(library.search("a blue square", n=1)[0].path).name == "DSC_0002.dng"
        hits = library.search("a green triangle", n=5)
        names = [Path(h.path).name for h in hits]
        assert names[0] == "DSC_0003.JPG" and "DSC_0003.DNG" not in names  # one photograph, one row
        assert Path(hits[0].raw).name == "DSC_0003.DNG"
        details = {Path(s["path"]).name: s["detail"] for s in library.catalog.skipped_files()}
        assert details["DSC_0003.DNG"] == "shown with DSC_0003.JPG, the camera's JPEG beside it"
    out = picfind("search", "a green triangle", "--db", str(db), "-n", "1", check=True).stdout
    assert "raw: " in out and "DSC_0003.DNG" in out


def test_roots_that_read_the_former_default_read_raws_after_the_migration(tmp_path: Path) -> None:
    from picfind.catalogs.sqlite.schema import MIGRATIONS
    from picfind.media.formats import WITH_VIDEOS_V2

    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    before = next(i for i, m in enumerate(MIGRATIONS) if json.dumps(list(WITH_VIDEOS_V2)) in m)
    con.executescript("".join(MIGRATIONS[:before]) + f"PRAGMA user_version = {before};")
    for path, exts in ((b"/photos", list(WITH_VIDEOS_V2)), (b"/mine", ["jpg"])):
        con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (?, ?, '[]', 0)",
                    (path, json.dumps(exts)))
    con.commit()
    con.close()
    with Library(db, model="tiny-shapes") as lib:
        roots = {r.path: r.extensions for r in lib.roots()}
    assert {"dng", "cr3", "nef", "avif", "jxl"} <= set(roots[os.fsdecode(b"/photos")]) and roots["/mine"] == ["jpg"]


def test_a_postgresql_catalog_on_the_former_default_reads_raws_after_the_migration(pg_url: str) -> None:
    import psycopg

    from picfind.catalogs.postgres.schema import MIGRATIONS
    from picfind.media.formats import WITH_VIDEOS_V2

    with psycopg.connect(pg_url, autocommit=True) as con:  # a catalog made before camera RAW
        con.execute("CREATE TABLE picfind_schema (version integer PRIMARY KEY, name text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())")
        before = next(i for i, (_, script) in enumerate(MIGRATIONS) if json.dumps(list(WITH_VIDEOS_V2)) in script)
        for number, (name, script) in enumerate(MIGRATIONS[:before], 1):
            con.execute(script)
            con.execute("INSERT INTO picfind_schema(version, name) VALUES (%s, %s)", (number, name))
        for path, exts in (("/p", list(WITH_VIDEOS_V2)), ("/q", ["jpg"])):
            con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (%s, %s, '[]', 0)",
                        (path, json.dumps(exts)))
    with Library(pg_url, model="tiny-shapes") as lib:
        roots = {r.path: r.extensions for r in lib.roots()}
    assert {"dng", "cr3", "avif", "jxl"} <= set(roots["/p"]) and roots["/q"] == ["jpg"]


def test_a_cr3s_time_camera_and_position_come_from_its_cmt_boxes() -> None:
    """Canon's CR3 keeps its tags in TIFF blocks of their own (CMT1: IFD0, CMT2: Exif, CMT4: GPS)."""
    from PIL.TiffImagePlugin import IFDRational

    from picfind.media.raw import _cr3_meta

    ifd0, sub, gps = Image.Exif(), Image.Exif(), Image.Exif()
    ifd0[0x010F], ifd0[0x0110] = "Canon", "Canon EOS R6"
    sub[0x9003] = "2024:07:08 09:10:11"
    gps[1], gps[2] = "S", (IFDRational(33), IFDRational(51), IFDRational(24))
    gps[3], gps[4] = "E", (IFDRational(151), IFDRational(12), IFDRational(54))

    def box(kind: bytes, payload: bytes) -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    cmt = b"".join(box(k, e.tobytes()[6:]) for k, e in ((b"CMT1", ifd0), (b"CMT2", sub), (b"CMT4", gps)))  # TIFF
    data = box(b"ftyp", b"crx \0\0\0\x01crx isom") + box(b"moov", box(b"uuid", bytes(16) + cmt))
    meta = _cr3_meta(data, 6000, 4000, 6)
    assert (meta.width, meta.height, meta.camera, meta.taken_at) == (4000, 6000, "Canon EOS R6", "2024-07-08 09:10:11")
    assert (round(meta.lat, 4), round(meta.lon, 4)) == (-33.8567, 151.215)


# RAW + JPEG: paired only with a JPEG that is itself indexed ------------------------------------------

def _shape(colour: str, shape: str) -> Image.Image:
    return shape_files(colour, shape, n=1, seed=9)[0].resize((320, 320))


def _raw_and_jpeg(folder: Path, name: str, picture: Image.Image) -> None:
    """What a camera set to RAW+JPEG writes: the RAW (with its preview) and the JPEG, side by side."""
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.DNG").write_bytes(dng(picture, preview=picture.resize((256, 256))))
    picture.save(folder / f"{name}.JPG")


def _catalog(db: str) -> dict[str, tuple[str, str | None]]:
    """Every file the catalog holds: name -> (status, skip reason)."""
    with Library(db, model="tiny-shapes") as lib:
        return {Path(path).name: (rec.status, rec.reason)
                for root in lib.roots() for path, rec in lib.catalog.files_of_root(root.id).items()}


def _said(*args: str) -> str:
    """What the command printed, its runs of spaces made one."""
    return "\n".join(" ".join(line.split()) for line in picfind(*args, check=True).stdout.splitlines()) + "\n"


def _found(db: str, query: str) -> list[str]:
    out = picfind("search", query, "--db", db, "--paths-only", "-n", "3", check=True).stdout
    return [Path(p).name for p in out.splitlines()]


def test_a_raw_whose_jpeg_is_left_out_by_ext_is_indexed_on_its_own(tmp_path: Path) -> None:
    """`--ext dng` beside the camera's JPEGs: the RAW was skipped as `raw with its jpeg`, its JPEG
    never indexed, and the photograph was found nowhere."""
    folder = tmp_path / "F"
    _raw_and_jpeg(folder, "DSC_0001", _shape("red", "circle"))
    db = str(tmp_path / "cat.db")
    out = picfind("index", str(folder), "--ext", "dng", "--db", db, check=True).stdout
    assert "0 skipped" in out and "raw with its jpeg" not in out
    assert _catalog(db) == {"DSC_0001.DNG": ("ok", None)}
    assert _found(db, "a red circle")[0] == "DSC_0001.DNG"


def test_a_raw_beside_a_broken_jpeg_is_indexed_on_its_own(tmp_path: Path) -> None:
    folder = tmp_path / "F"
    _raw_and_jpeg(folder, "DSC_0002", _shape("blue", "square"))
    (folder / "DSC_0002.JPG").write_bytes(b"\xff\xd8\xff\xe0 not a whole JPEG")
    db = str(tmp_path / "cat.db")
    report = json.loads(picfind("index", str(folder), "--db", db, "--json", check=True).stdout)
    assert report["skipped"] == {"truncated or corrupt": 1}
    assert _catalog(db) == {"DSC_0002.DNG": ("ok", None), "DSC_0002.JPG": ("skipped", "truncated or corrupt")}
    assert "holds 1 picture\n" in _said("status", "--db", db)
    assert _found(db, "a blue square")[0] == "DSC_0002.DNG"

    _shape("blue", "square").save(folder / "DSC_0002.JPG")  # the JPEG mended: one photograph again
    picfind("index", "--db", db, check=True)
    assert _catalog(db) == {"DSC_0002.DNG": ("skipped", "raw with its jpeg"), "DSC_0002.JPG": ("ok", None)}
    assert _found(db, "a blue square")[0] == "DSC_0002.JPG" and "DSC_0002.DNG" not in _found(db, "a blue square")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_raw_whose_jpeg_goes_is_indexed_and_is_one_photograph_again_when_it_comes_back(
        tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    folder = tmp_path / "F"
    green = _shape("green", "triangle")
    _raw_and_jpeg(folder, "DSC_0001", green)
    db = str(tmp_path / "cat.db") if kind == "sqlite" else request.getfixturevalue("pg_url")
    picfind("index", str(folder), "--db", db, check=True)
    assert _catalog(db)["DSC_0001.DNG"] == ("skipped", "raw with its jpeg")

    (folder / "DSC_0001.JPG").unlink()  # the JPEG deleted: the RAW is the photograph now
    out = picfind("index", "--db", db, check=True).stdout
    assert "1 removed" in out and "0 unchanged" in out
    assert _catalog(db) == {"DSC_0001.DNG": ("ok", None)}
    status = _said("status", "--db", db, "--skipped")
    assert "holds 1 picture\n" in status and "shown with" not in status
    assert _found(db, "a green triangle")[0] == "DSC_0001.DNG"
    assert "1 unchanged" in picfind("index", "--db", db, check=True).stdout  # settled

    green.save(folder / "DSC_0001.JPG")  # back: the RAW is shown with it again, not a result of its own
    picfind("index", "--db", db, check=True)
    assert _catalog(db) == {"DSC_0001.DNG": ("skipped", "raw with its jpeg"), "DSC_0001.JPG": ("ok", None)}
    assert _found(db, "a green triangle") == ["DSC_0001.JPG"]
    with Library(db, model="tiny-shapes") as lib:
        assert Path(lib.search("a green triangle", n=1)[0].raw).name == "DSC_0001.DNG"
        assert lib.count() == 1  # the RAW's own vector went with it


def test_the_watcher_indexes_a_raw_whose_jpeg_goes_and_pairs_it_when_the_jpeg_comes_back(tmp_path: Path) -> None:
    from .test_watch import until, watching

    folder = tmp_path / "F"
    red = _shape("red", "circle")
    _raw_and_jpeg(folder, "DSC_0001", red)
    db = str(tmp_path / "cat.db")
    with watching(db, [str(folder)]) as w:
        assert w.batches[0].report.skipped == {"raw with its jpeg": 1}
        (folder / "DSC_0001.JPG").unlink()
        until(lambda: _catalog(db) == {"DSC_0001.DNG": ("ok", None)}, "the RAW indexed on its own")
        red.save(folder / "DSC_0001.JPG")
        until(lambda: _catalog(db) == {"DSC_0001.DNG": ("skipped", "raw with its jpeg"),
                                       "DSC_0001.JPG": ("ok", None)}, "the RAW shown with its JPEG again")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_raw_an_older_picfind_hid_beside_a_jpeg_it_left_out_is_found_after_the_migration(
        tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    """A catalog made by a picfind that hid a RAW beside any JPEG of its name (here one --ext
    left out): the migration has the next run read it again, and it is found."""
    folder = tmp_path / "F"
    _raw_and_jpeg(folder, "DSC_0001", _shape("red", "circle"))
    db = str(tmp_path / "cat.db") if kind == "sqlite" else request.getfixturevalue("pg_url")
    picfind("index", str(folder), "--ext", "dng", "--db", db, check=True)
    hidden = ("UPDATE files SET status = 'skipped', reason = 'raw with its jpeg', content_hash = NULL, "
              "detail = 'shown with DSC_0001.JPG, the camera''s JPEG beside it'")
    if kind == "sqlite":
        from picfind.catalogs.sqlite.schema import MIGRATIONS

        with sqlite3.connect(db) as con:  # as the older picfind left it, at its schema version
            con.execute(hidden)
            con.execute(f"PRAGMA user_version = {next(i for i, m in enumerate(MIGRATIONS) if 'mtime_ns = -1' in m)}")
    else:
        import psycopg

        from picfind.catalogs.postgres.schema import MIGRATIONS

        with psycopg.connect(db, autocommit=True) as con:
            con.execute(hidden)
            before = next(i for i, (_, script) in enumerate(MIGRATIONS) if "mtime_ns = -1" in script)
            con.execute("DELETE FROM picfind_schema WHERE version > %s", (before,))
    assert _catalog(db) == {"DSC_0001.DNG": ("skipped", "raw with its jpeg")}  # (migrated: read again next)
    picfind("index", "--db", db, check=True)
    assert _catalog(db) == {"DSC_0001.DNG": ("ok", None)}
    assert _found(db, "a red circle")[0] == "DSC_0001.DNG"


@pytest.mark.slow
def test_ray_workers_pair_a_raw_as_the_local_runner_does(tmp_path: Path) -> None:
    """Ray workers read a RAW knowing its partner, as the local readers do: one cluster for both
    turns (the JPEGs, then the RAWs that waited for them)."""
    pytest.importorskip("ray")
    folder = tmp_path / "F"
    _raw_and_jpeg(folder, "DSC_0001", _shape("red", "circle"))
    _raw_and_jpeg(folder, "DSC_0002", _shape("blue", "square"))
    (folder / "DSC_0002.JPG").write_bytes(b"\xff\xd8\xff\xe0 not a whole JPEG")
    db = str(tmp_path / "ray.db")
    report = json.loads(picfind("index", str(folder), "--db", db, "--json", "--ray", check=True, timeout=600).stdout)
    assert report["device"].startswith("ray") and report["read"] == 4
    assert _catalog(db) == {"DSC_0001.DNG": ("skipped", "raw with its jpeg"), "DSC_0001.JPG": ("ok", None),
                            "DSC_0002.DNG": ("ok", None), "DSC_0002.JPG": ("skipped", "truncated or corrupt")}
    (folder / "DSC_0001.JPG").unlink()
    report = json.loads(picfind("index", "--db", db, "--json", "--ray", check=True, timeout=600).stdout)
    assert (report["read"], report["removed"], report["unchanged"]) == (1, 1, 2)
    assert _catalog(db)["DSC_0001.DNG"] == ("ok", None)
