"""Videos whose headers lie or are damaged (issue 27, items 4 and 11): a display matrix of zeros
turns nothing, a header claiming 136 years says so, FFmpeg's errors are not dressed as a
missing permission, and no frame (nor a HEIC thumbnail) is decoded past the pixel cap."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from picfind.media import video
from picfind.media.decode import SkipFile
from picfind.media.videoheader import ffmpeg_words

from .videos import grey, write_video


def patched(path: Path, box: bytes, offset: int, data: bytes) -> Path:
    raw = bytearray(path.read_bytes())
    at = raw.find(box) + offset
    raw[at:at + len(data)] = data
    path.write_bytes(bytes(raw))
    return path


def test_a_display_matrix_of_zeros_turns_nothing(tmp_path: Path) -> None:
    """FFmpeg's angle of an all-zero matrix is NaN, which reached picfind as -2**31: 90 degrees."""
    made = write_video(tmp_path / "z.mp4", [(0.0, grey(64))], 2, size=(160, 240), rotation=90)  # stored 240x160
    patched(made, b"tkhd", 4 + 40, bytes(36))  # the track header's matrix, all zeros
    with video.open_video(str(made)) as f:
        info = video.probe(f)
        got = video.sample(f, 32)
    assert (info.width, info.height, info.rotation) == (240, 160, 0)
    assert got.info.rotation == 0 and got.frames[0].image.width > got.frames[0].image.height


def test_a_header_claiming_136_years_says_so(tmp_path: Path) -> None:
    made = write_video(tmp_path / "long.mp4", [(0.0, grey(64))], 2, size=(160, 128))
    patched(made, b"mvhd", 16, struct.pack(">II", 1, 0xFFFFFFFF))  # one tick a second, 2**32 - 1 ticks
    patched(made, b"mdhd", 16, struct.pack(">II", 1, 0xFFFFFFFF))
    with video.open_video(str(made)) as f, pytest.raises(SkipFile) as skipped:
        video.sample(f, 32)
    assert skipped.value.reason == "no end" and "136 years" in skipped.value.detail


def test_ffmpegs_generic_error_is_not_a_missing_permission() -> None:
    import av.error

    words = ffmpeg_words(av.error.PermissionError(errno.EPERM, "Operation not permitted", "<none>"))
    assert "Errno" not in words and "permitted" not in words and "damaged" in words


def mjpeg(path: Path, sides: list[int]) -> Path:
    """An MJPEG video whose frames are JPEGs of these sizes (its header gives the first one's)."""
    import io
    from fractions import Fraction

    import av
    from PIL import Image

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width = stream.height = sides[0]
        stream.pix_fmt = "yuvj420p"
        for i, side in enumerate(sides):
            buf = io.BytesIO()
            Image.new("RGB", (side, side), (200, 40 * i % 255, 0)).save(buf, "JPEG", quality=50)
            packet = av.Packet(buf.getvalue())
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1, 1)
            packet.is_keyframe = True
            out.mux(packet)
    return path


def test_a_later_frame_over_the_pixel_cap_is_never_decoded(tmp_path: Path) -> None:
    """The header says 64x64 (its first frame); the next frames are 2,000 px a side (4 MP)."""
    made = mjpeg(tmp_path / "mj.mkv", [64, 2000, 2000, 64])
    with video.open_video(str(made)) as f:
        assert video.sample(f, 32, max_pixels=20_000_000).frames  # under a cap they fit
        with pytest.raises(SkipFile) as skipped:
            video.sample(f, 32, max_pixels=1_000_000)
    assert skipped.value.reason == "too many pixels"


def test_a_heic_thumbnail_larger_than_its_picture_is_never_decoded(tmp_path: Path) -> None:
    """A HEIC whose primary image claims 64x64 but carries a 500 px thumbnail: another picture."""
    import io

    from PIL import Image

    from picfind.media.decode import decode

    pillow_heif = pytest.importorskip("pillow_heif")  # the tests' HEIC writer (picfind reads with pi-heif)
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (600, 600), (200, 30, 30))).save(buf, quality=30, thumbnails=[500])
    data = bytearray(buf.getvalue())
    at = data.find(struct.pack(">4sII", b"ispe", 0, 600))  # the primary's size property, then 600 x 600
    assert at > 0
    data[at + 8:at + 16] = struct.pack(">II", 64, 64)
    with pytest.raises(SkipFile):
        decode(bytes(data), 32, max_pixels=25_000_000)
