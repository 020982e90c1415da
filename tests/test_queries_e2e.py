"""The real CLI on real folders: filters, sorting, search by example, combined queries,
duplicates, EXIF dates, and the approximate vector index."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from .conftest import picfind, real_photos, shape_files

pytestmark = pytest.mark.slow
COLOURS_SHAPES = (("red", "circle"), ("blue", "square"), ("green", "triangle"))


def run_json(*args: str) -> list | dict:
    return json.loads(picfind(*args, "--json", check=True).stdout)


def with_exif(img: Image.Image, when: str, make: str = "Canon", model: str = "Canon EOS 5D") -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    exif.get_ifd(0x8769)[0x9003] = when
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


@pytest.fixture()
def shapes_lib(tmp_path: Path) -> tuple[Path, Path]:
    """Shapes in one folder per kind: PNGs with file times in 2019, JPEGs with EXIF dates in 2023
    and 2024, in two sizes."""
    lib = tmp_path / "Pictures"
    old = datetime(2019, 5, 1).timestamp()
    for seed, (colour, shape) in enumerate(COLOURS_SHAPES):
        folder = lib / f"{colour}-{shape}s"
        folder.mkdir(parents=True)
        for i, img in enumerate(shape_files(colour, shape, n=4, seed=seed, size=160 if seed else 240)):
            if i < 2:
                path = folder / f"{colour}-{shape}-{i}.png"
                img.save(path)
                os.utime(path, (old, old))
            else:
                (folder / f"{colour}-{shape}-{i}.jpg").write_bytes(with_exif(img, f"{2021 + i}:0{i}:1{i} 12:00:00"))
    db = tmp_path / "c.db"
    picfind("index", str(lib), "--db", str(db), "--quiet", check=True)
    return lib, db


def search(db: Path, *args: str) -> list[dict]:
    return run_json("search", "-n", "50", *args, "--db", str(db))  # a later -n wins


def test_every_filter_narrows_the_results(shapes_lib) -> None:
    lib, db = shapes_lib
    everything = search(db, "a red circle")
    assert len(everything) == 12

    under = search(db, "a red circle", "--in", str(lib / "blue-squares"))
    assert len(under) == 4 and all("/blue-squares/" in h["path"] for h in under)

    jpgs = search(db, "a red circle", "--ext", "jpg")
    assert len(jpgs) == 6 and all(h["path"].endswith(".jpg") for h in jpgs)

    in_2023 = search(db, "a shape", "--after", "2023", "--before", "2024-01-01")
    assert {Path(h["path"]).name for h in in_2023} == {f"{c}-{s}-2.jpg" for c, s in COLOURS_SHAPES}
    assert all(h["taken"] == "2023-02-12 12:00:00" and h["camera"] == "Canon EOS 5D" for h in in_2023)
    by_file_time = search(db, "a shape", "--before", "2020")  # no EXIF: the file's time counts
    assert len(by_file_time) == 6 and all(h["path"].endswith(".png") for h in by_file_time)

    wide = search(db, "a shape", "--min-width", "200")
    assert len(wide) == 4 and all(h["width"] == 240 for h in wide)
    assert search(db, "a shape", "--min-height", "241") == []

    strict = search(db, "a red circle", "--min-score", str(everything[3]["score"]))
    assert 0 < len(strict) <= 4 and all(h["score"] >= everything[3]["score"] for h in strict)


def test_sort_by_date_reorders_the_top_matches(shapes_lib) -> None:
    _, db = shapes_lib
    by_score = search(db, "a green triangle", "-n", "5")
    by_date = run_json("search", "a green triangle", "--db", str(db), "-n", "5", "--sort", "date")
    assert {h["path"] for h in by_date} == {h["path"] for h in by_score}
    assert [h["taken"] for h in by_date] == sorted((h["taken"] for h in by_date), reverse=True)


def test_wrong_filters_get_one_clear_line(shapes_lib) -> None:
    _, db = shapes_lib
    for args, message in ((["--after", "last summer"], "is not a date"), (["--ext", "j*g"], "not a file extension")):
        proc = picfind("search", "a cat", "--db", str(db), *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr  # usage errors


def test_search_by_example_from_the_catalog_and_from_outside(shapes_lib, tmp_path: Path) -> None:
    lib, db = shapes_lib
    example = lib / "blue-squares" / "blue-square-0.png"
    hits = run_json("similar", str(example), "--db", str(db), "-n", "3")
    assert all("blue-square" in Path(h["path"]).name for h in hits)
    assert str(example) not in [h["path"] for h in hits]  # the example itself is not an answer

    outside = tmp_path / "elsewhere" / "query.png"
    outside.parent.mkdir()
    shape_files("red", "circle", n=1, seed=42)[0].save(outside)
    hits = run_json("similar", str(outside), "--db", str(db), "-n", "3")
    assert all("red-circle" in Path(h["path"]).name for h in hits)
    status = run_json("status", "--db", str(db))
    assert status["images_indexed"] == 12  # embedded on the fly, not added

    missing = picfind("similar", str(tmp_path / "nope.jpg"), "--db", str(db))
    assert missing.returncode == 1 and "nope.jpg" in missing.stderr and "Traceback" not in missing.stderr


def mean_rank(hits: list[dict], word: str) -> float:
    ranks = [i for i, h in enumerate(hits) if word in Path(h["path"]).name]
    return sum(ranks) / len(ranks)


def test_combined_queries_move_rankings_the_expected_way(shapes_lib) -> None:
    lib, db = shapes_lib
    plain = search(db, "a circle")
    minus_red = search(db, "a circle", "-", "red")
    assert mean_rank(minus_red, "red-") > mean_rank(plain, "red-") + 2

    weighted = search(db, "3:a blue square", "a red circle")
    assert Path(weighted[0]["path"]).name.startswith("blue-square")
    reversed_weights = search(db, "a blue square", "3:a red circle")
    assert Path(reversed_weights[0]["path"]).name.startswith("red-circle")

    example = lib / "green-triangles" / "green-triangle-0.png"
    mixed = search(db, str(example), "+", "a green triangle")
    assert Path(mixed[0]["path"]).name.startswith("green-triangle") and str(example) not in [h["path"] for h in mixed]

    for args, message in ((["a cat", "+", "./missing.jpg"], "missing.jpg: no such file"),
                          (["a cat", "-"], "ends with an operator"),
                          (["a cat", "-", "a cat"], "cancel out")):
        proc = picfind("search", *args, "--db", str(db))
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr


def test_exact_and_near_duplicates(tmp_path: Path) -> None:
    photos = real_photos()
    lib = tmp_path / "Pictures"
    (lib / "a").mkdir(parents=True)
    (lib / "b").mkdir()
    coffee = Image.fromarray(photos["coffee"])
    coffee.save(lib / "a" / "coffee.png")
    shutil.copy(lib / "a" / "coffee.png", lib / "b" / "coffee copy.png")  # an exact copy
    w, h = coffee.size
    coffee.resize((w // 2, h // 2)).save(lib / "b" / "coffee-small.png")
    coffee.save(lib / "b" / "coffee-reencoded.jpg", quality=40)
    coffee.crop((w // 12, h // 12, w - w // 12, h - h // 12)).save(lib / "b" / "coffee-cropped.jpg", quality=90)
    Image.fromarray(photos["rocket"]).save(lib / "a" / "rocket.jpg")
    Image.fromarray(photos["camera"]).save(lib / "a" / "camera.png")
    db = tmp_path / "d.db"
    picfind("index", str(lib), "--db", str(db), "--quiet", check=True)

    [exact] = run_json("dupes", "--db", str(db))
    assert sorted(Path(m["path"]).name for m in exact["members"]) == ["coffee copy.png", "coffee.png"]
    assert exact["wasted_bytes"] == (lib / "a" / "coffee.png").stat().st_size

    [near] = run_json("dupes", "--near", "--threshold", "0.95", "--db", str(db))
    first, *others = near["members"]
    assert Path(first["path"]).name in ("coffee.png", "coffee copy.png", "coffee-reencoded.jpg")
    assert (first["width"], first["height"]) == (w, h)  # the best-quality copy first
    names = {Path(m["path"]).name for m in near["members"]} | {Path(c).name for m in near["members"]
                                                                for c in m["copies"]}
    assert names == {"coffee.png", "coffee copy.png", "coffee-small.png", "coffee-reencoded.jpg",
                     "coffee-cropped.jpg"}
    assert all(m["score"] >= 0.95 for m in others)
    text = picfind("dupes", "--near", "--threshold", "0.95", "--db", str(db), check=True).stdout
    assert "keep" in text and "rocket" not in text and "1 group," in text


def test_catalogs_from_before_exif_get_dates_on_the_next_run(shapes_lib) -> None:
    lib, db = shapes_lib
    con = sqlite3.connect(db)
    con.execute("UPDATE files SET taken_at = NULL, camera = NULL, meta_read = 0")  # as migration 3 leaves them
    con.commit()
    con.close()
    # Until then, the file times count: the JPEGs were written today.
    assert len(search(db, "a shape", "--before", "2024")) == 6
    report = run_json("index", "--db", str(db))
    assert report["embedded"] == 0 and report["read"] == 12  # headers read again, nothing re-embedded
    dated = search(db, "a shape", "--before", "2024")
    assert len(dated) == 9 and sum(h["camera"] == "Canon EOS 5D" for h in dated) == 3
    assert run_json("index", "--db", str(db))["read"] == 0  # once


def test_the_hnsw_index_answers_like_exact_search_and_forgets_deleted_files(shapes_lib) -> None:
    lib, db = shapes_lib
    exact = search(db, "a red circle", "-n", "5")
    report = run_json("index", "--ann", "hnsw", "--db", str(db))
    assert report["embedded"] == 0
    status = run_json("status", "--db", str(db))
    assert status["vector_index"]["in_use"] == "hnsw"
    assert list(Path(status["vector_index"]["folder"]).glob("*.tiny-shapes.hnsw.*.usearch"))  # <catalog id>.<model>...
    approx = search(db, "a red circle", "-n", "5")
    assert [h["path"] for h in approx] == [h["path"] for h in exact]
    assert [h["score"] for h in approx] == pytest.approx([h["score"] for h in exact], abs=1e-6)  # rescored

    gone = Path(approx[0]["path"])
    gone.unlink()
    assert str(gone) not in [h["path"] for h in search(db, "a red circle")]  # before any re-scan
    run_json("index", "--db", str(db))
    assert str(gone) not in [h["path"] for h in search(db, "a red circle")]
    filtered = search(db, "a red circle", "--in", str(lib / "red-circles"))
    assert len(filtered) == 3 and all("/red-circles/" in h["path"] for h in filtered)


def test_thumbnails_go_with_the_last_file_that_holds_the_picture(shapes_lib) -> None:
    lib, db = shapes_lib
    thumbs = Path(str(db) + ".thumbs")
    [hit] = search(db, "a blue square", "-n", "1")
    thumb = thumbs / hit["content_hash"][:2] / f"{hit['content_hash']}.jpg"
    assert thumb.exists()
    copy = lib / "elsewhere" / "copy.png"
    copy.parent.mkdir()
    shutil.copy(hit["path"], copy)
    Path(hit["path"]).unlink()
    picfind("index", "--db", str(db), "-q", check=True)
    assert thumb.exists()  # the copy still holds it
    copy.unlink()
    picfind("index", "--db", str(db), "-q", check=True)
    assert not thumb.exists()
    before = len(list(thumbs.rglob("*.jpg")))
    picfind("roots", "remove", str(lib), "--db", str(db), check=True)
    assert before > 0 and not list(thumbs.rglob("*.jpg"))


def test_the_shell_takes_filters_and_combined_queries_on_a_line(shapes_lib) -> None:
    lib, db = shapes_lib
    lines = (f"a shape --in {lib / 'blue-squares'} -n 3\n"
             "a red circle --after someday\n"
             "a circle - red --ext jpg -n 4\n"
             "exit\n")
    proc = picfind("shell", "--db", str(db), input=lines, timeout=120)
    out = proc.stdout.splitlines()
    assert proc.returncode == 0 and "is not a date" in proc.stderr
    assert len(out) == 7 and all("/blue-squares/" in line for line in out[:3])
    assert all(line.endswith(".jpg  160x160") or line.endswith(".jpg  240x240") for line in out[3:])
