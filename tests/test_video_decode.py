"""Videos read with PyAV: candidate frames by time, key frames only, upright, HDR tone-mapped,
kept when their embedding changes; every bad video skipped with its reason, within its limits.
Every video is made by the tests (tests/videos.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from picfind.indexing.videos import Candidate, keep_moments
from picfind.media.decode import SkipFile
from picfind.media.timecode import parse_time, time_label
from picfind.media.video import frame_cap, open_video, probe, sample
from picfind.records import frame_key, frame_span, owner

from .conftest import picfind, real_photos
from .hdr import hdr_signal
from .videos import RED_CIRCLE, shapes_video, videos_fixture, write_video  # noqa: F401 - a fixture

# sampling -----------------------------------------------------------------------------------------

def test_candidates_come_every_two_seconds_from_key_frames_only(videos: Path) -> None:
    with open_video(str(videos / "party.mp4")) as f:
        got = sample(f, 224)
    times = [fr.time for fr in got.frames]
    # every 2 s, and halfway between two samples a cut lies between (grey to red at 10 s, red to
    # grey at 14 s, then blue at 20 s and grey at 24 s): each scene then shows less than 1 s late
    assert times == sorted([float(t) for t in range(0, 30, 2)] + [9.0, 13.0, 19.0, 23.0])
    assert got.decoded <= 34  # key frames only: one a second here, of 300 frames
    red = np.asarray(got.frames[times.index(10.0)].image).reshape(-1, 3).mean(0)  # 0:10 shows the red circle
    grey = np.asarray(got.frames[0].image).reshape(-1, 3).mean(0)
    assert red[0] > red[1] + 20 and abs(grey[0] - grey[1]) < 5
    assert got.info.duration == 30.0 and got.info.codec == "h264"
    assert got.info.taken_at is not None and got.info.taken_at.startswith("2021-07-1")


def test_sparse_key_frames_fall_back_to_decoding_in_order(tmp_path: Path) -> None:
    path = shapes_video(tmp_path / "screen.mp4", {6.0: RED_CIRCLE}, 10, gop=1000)  # one key frame
    with open_video(str(path)) as f:
        got = sample(f, 224)
    assert [fr.time for fr in got.frames] == [0.0, 2.0, 4.0, 5.0, 6.0, 8.0]  # 5.0: halfway to the cut


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
    from picfind.media.tone import tone_map as _tone_map

    # PQ code values: 0.58 is about 203 nits (paper white), 0.0 black
    out = _tone_map(np.array([[[0.58, 0.58, 0.58], [0.0, 0.0, 0.0], [0.75, 0.75, 0.75]]], np.float32), "pq")
    white, black, highlight = out[0]
    assert 150 < white[0] < 240 and black[0] < 10 and highlight[0] > white[0]
    hlg = _tone_map(np.array([[[0.75, 0.75, 0.75]]], np.float32), "hlg")
    assert 120 < hlg[0, 0, 0] < 250


@pytest.mark.parametrize("transfer,trc", [("hlg", 18), ("pq", 16)])
def test_hdr_video_files_are_tone_mapped(tmp_path: Path, transfer: str, trc: int) -> None:
    """10-bit HEVC with the HLG or PQ transfer set, as phones write it: PyAV 18 reports the
    transfer as a number, which must be recognised or the frames come out washed out and dark."""
    from fractions import Fraction



    picture = np.asarray(Image.fromarray(real_photos()["chelsea"]).resize((160, 112)), np.float64)
    path = tmp_path / f"{transfer}.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 112, "yuv420p10le"
        ctx = stream.codec_context
        ctx.color_trc, ctx.color_primaries, ctx.colorspace = trc, 9, 9  # BT.2020
        stream.options = {"preset": "ultrafast", "x265-params": "log-level=none"}
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(hdr_signal(picture, transfer), format="rgb48le")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(path)) as raw:
        assert next(raw.decode(video=0)).color_trc == trc  # what the file says
    with open_video(str(path)) as f:
        got = np.asarray(sample(f, 112).frames[0].image, np.float64)
    assert np.abs(got - picture).mean() < 10  # 23-32 when the transfer is not recognised


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



def test_a_cut_is_kept_even_to_a_scene_like_the_last_kept_one() -> None:
    """b drifts from a (kept once), then a cut to c, close to a but not to b: kept."""
    a = np.array([1.0, 0.0, 0.0], np.float32)
    b = np.array([0.97, 0.243, 0.0], np.float32)
    c = np.array([0.96, -0.1, 0.26], np.float32)
    unit = [v / np.linalg.norm(v) for v in (a, b, c)]
    assert float(unit[0] @ unit[1]) > 0.95 and float(unit[0] @ unit[2]) > 0.95 > float(unit[1] @ unit[2])
    cands = [Candidate(t, Image.new("RGB", (2, 2)), None) for t in (0.0, 2.0, 4.0)]
    assert [m.start for m in keep_moments(cands, np.stack(unit), 6.0)] == [0.0, 4.0]



@pytest.mark.parametrize("name", ["camcorder.mts", "late.mp4"])
def test_times_count_from_the_first_frame_as_players_show_them(tmp_path: Path, name: str) -> None:
    path = shapes_video(tmp_path / name, {4.0: RED_CIRCLE}, 10, start=1.5)  # its clock starts at 1.5 s
    with open_video(str(path)) as f:
        got = sample(f, 224)
    times = [fr.time for fr in got.frames]
    assert times == [0.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0]  # 3.0, 7.0: halfway to the cuts at 4 s and 8 s
    red = np.asarray(got.frames[times.index(4.0)].image).astype(int)
    assert ((red[..., 0] > 180) & (red[..., 1] < 90)).mean() > 0.02  # 0:04 as a player shows it: the circle


def test_a_long_video_with_sparse_key_frames_is_sampled_near_each_time(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Long videos seek to each sample time; when the key frame before it is over a second
    earlier, the frame at that time is decoded forward from it (key frames at 0, 5.63, 7.0 and
    10.63 s only, as a messenger re-encodes)."""
    from picfind.media import video

    clip = shapes_video(tmp_path / "long.mp4", {7.5: RED_CIRCLE}, 15, keys=[0, 5.63, 7.0, 10.63])
    monkeypatch.setattr(video, "SEEK_AFTER", 5.0)  # the path of videos over 5 minutes, on a short one
    with open_video(str(clip)) as f:
        got = sample(f, 224)
    times = [fr.time for fr in got.frames]
    targets = [i * 15 / 8 for i in range(8)]  # 15 s: 8 samples
    assert all(any(t - 1.0 - 1e-3 <= ft <= t + 0.2 for ft in times) for t in targets), times  # was [0, 5.6, 7, 10.6]
    assert got.decoded <= 57 * len(times)  # at most from a key frame to its sample or cut, each (5.6 s at 10 fps)
