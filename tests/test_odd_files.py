"""One odd file never stops a run: whatever goes wrong reading, decoding or describing one
picture is a skip with its reason for that file, and metadata never costs a picture whose pixels
decode (issue 23, item 1). The metadata readers are fuzzed, seeded, with malformed values."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin, TiffImagePlugin
from starlette.testclient import TestClient

from picfind.library import Library
from picfind.media.decode import SkipFile, decode, probe
from picfind.web import app as web

from .conftest import picfind, shape_files
from .test_web import LOCAL


def tab_maker_jpeg(path: Path | None = None) -> bytes:
    """A JPEG whose EXIF camera maker is only a tab: the picture of issue 23 that stopped every run."""
    exif = Image.Exif()
    exif[0x010F] = "\t"
    exif[0x0110] = "X100"
    out = io.BytesIO()
    shape_files("red", "circle", n=1)[0].save(out, "JPEG", exif=exif.tobytes())
    if path is not None:
        path.write_bytes(out.getvalue())
    return out.getvalue()


def test_a_blank_camera_maker_is_no_camera_not_a_crash() -> None:
    decoded = decode(tab_maker_jpeg(), 64)
    assert decoded.image.size[0] > 0 and decoded.meta.camera == "X100"
    assert probe(tab_maker_jpeg()).camera == "X100"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_index_goes_on_past_a_picture_whose_metadata_breaks_a_reader(tmp_path: Path, backend: str,
                                                                     request: pytest.FixtureRequest) -> None:
    db = request.getfixturevalue("pg_url") if backend == "postgres" else str(tmp_path / "c.db")
    folder = tmp_path / "pics"
    folder.mkdir()
    tab_maker_jpeg(folder / "tab.jpg")
    shape_files("blue", "square", n=1)[0].save(folder / "blue.png")
    with Library(db, model="tiny-shapes") as lib:
        report = lib.index([str(folder)])
        assert report.embedded == 2 and not report.skipped
        hits = lib.similar(str(folder / "tab.jpg"), n=5)  # by path: the same reader
        assert [Path(h.path).name for h in hits] == ["blue.png"]
        tab = next(h for h in lib.search("a red circle", n=5) if h.path.endswith("tab.jpg"))
        assert tab.camera == "X100"
        assert [Path(h.path).name for h in lib.similar(tab.id, n=5)] == ["blue.png"]
    with TestClient(web.create_app(db, "tiny-shapes"), base_url=LOCAL) as client:
        answer = client.get("/api/similar", params={"id": tab.id, "n": 5})
        assert answer.status_code == 200 and [Path(r["path"]).name for r in answer.json()["results"]] == ["blue.png"]


def test_an_unexpected_error_reading_one_file_is_a_skip_with_its_reason(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The class, not the one bug: whatever a reader raises for one file (here a decoder that
    raises RuntimeError on one name) is that file's skip, named, and the run goes on."""
    from picfind.indexing import stages

    folder = tmp_path / "pics"
    for i, img in enumerate(shape_files("green", "triangle", n=3)):
        folder.mkdir(exist_ok=True)
        img.save(folder / f"g{i}.png")
    real = stages.decode

    def flaky(data: bytes, *args, **kwargs):
        if data == (folder / "g1.png").read_bytes():
            raise RuntimeError("a decoder bug")
        return real(data, *args, **kwargs)
    monkeypatch.setattr(stages, "decode", flaky)
    with Library(tmp_path / "c.db", model="tiny-shapes") as lib:
        report = lib.index([str(folder)])
        assert report.embedded == 2 and dict(report.skipped) == {"unexpected error": 1}
        skipped = lib.skipped_files()
        assert [Path(s["path"]).name for s in skipped] == ["g1.png"]
        assert "RuntimeError: a decoder bug" in skipped[0]["detail"]


@pytest.mark.slow
def test_the_cli_indexes_and_finds_similar_to_the_picture_of_issue_23(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    tab_maker_jpeg(folder / "tab.jpg")
    shape_files("blue", "square", n=1)[0].save(folder / "blue.png")
    db = str(tmp_path / "c.db")
    report = json.loads(picfind("index", str(folder), "--db", db, "--json", check=True).stdout)
    assert report["embedded"] == 2 and report["skipped_total"] == 0
    again = picfind("similar", str(folder / "tab.jpg"), "--db", db, "--json", check=True)
    assert [Path(h["path"]).name for h in json.loads(again.stdout)] == ["blue.png"]


# --- fuzzing the metadata readers -----------------------------------------------------------

SEED = 2323
_BASE = shape_files("red", "square", n=1, size=96)[0]
# One tag of each EXIF type (BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SLONG, SRATIONAL,
# FLOAT, DOUBLE) in the tags picfind reads and their neighbours.
_TAGS = [0x010F, 0x0110, 0x0112, 0x0132, 0x8769, 0x9003, 0x9004, 0x927C, 0xA002, 0x0100, 0x8825]
_TYPES = [1, 2, 3, 4, 5, 7, 9, 10, 11, 12]


def _junk(rng: random.Random, n: int | None = None) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40) if n is None else n))


def _odd_value(rng: random.Random) -> object:
    return rng.choice([
        "", "\t", " \x00 ", "\n\n", "a" * rng.randrange(300), "2024:13:45 99:99:99", "0999:01:02 03:04:05",
        "    :  :     :  :  ", "9" * 30, -1, 0, 2**31, 2**32 - 1, 3.5, float("nan"), float("inf"),
        _junk(rng), (1, 0), (0, 0), (2**31, 1), (1, 2, 3), b"\xff\xfe", "ü\u202e", rng.random(),
    ])


def _raw_ifd(rng: random.Random) -> bytes:
    """A little-endian TIFF header and one IFD of entries with random types, counts and offsets
    (pointing anywhere, past the end included)."""
    entries = rng.randrange(0, 12)
    body = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", entries)
    for _ in range(entries):
        body += struct.pack("<HHII", rng.choice(_TAGS), rng.choice(_TYPES + [0, 13, 999]),
                            rng.choice([0, 1, 2, 4, 8, 2**20, 2**32 - 1]), rng.randrange(2**32))
    return body + struct.pack("<I", rng.choice([0, 8, 2**31])) + _junk(rng)


def _exif_bytes(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return _raw_ifd(rng)
    exif = Image.Exif()
    for _ in range(rng.randrange(1, 6)):
        exif[rng.choice(_TAGS[:4] + [0x010E, 0x0131])] = _odd_value(rng)
    try:
        data = exif.tobytes()
    except Exception:  # noqa: BLE001 - Pillow cannot write every odd value: junk instead
        return _raw_ifd(rng)
    cut = rng.randrange(len(data) + 1) if rng.random() < 0.3 else len(data)
    return data[:cut]


def _xmp(rng: random.Random) -> bytes:
    return rng.choice([
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><tiff:Orientation>9</tiff:Orientation>',
        b'tiff:Orientation="' + _junk(rng, 3) + b'"', b"<?xpacket begin=" + _junk(rng), _junk(rng),
        b'<rdf:Description tiff:Orientation="6" exif:DateTimeOriginal="0999-01-01"/>',
    ])


def _jpeg(rng: random.Random) -> bytes:
    out = io.BytesIO()
    kwargs: dict = {"exif": _exif_bytes(rng)}
    if rng.random() < 0.4:
        kwargs["icc_profile"] = _junk(rng, rng.randrange(1, 300))
    if rng.random() < 0.4:
        kwargs["xmp"] = _xmp(rng)
    _BASE.save(out, "JPEG", **kwargs)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(rng: random.Random) -> bytes:
    out = io.BytesIO()
    _BASE.save(out, "PNG")
    png = out.getvalue()
    chunks = []
    for _ in range(rng.randrange(1, 5)):
        kind = rng.choice([b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"iCCP", b"tIME", b"pHYs"])
        if kind == b"eXIf":
            data = _exif_bytes(rng)
        elif kind == b"tEXt":
            data = rng.choice([b"Raw profile type exif\x00\nexif\n  12\n" + _junk(rng).hex().encode() + b"zz",
                               b"Raw profile type exif\x00" + _junk(rng), b"Comment\x00" + _junk(rng), _junk(rng)])
        elif kind == b"zTXt":
            data = b"Comment\x00\x00" + rng.choice([_junk(rng), zlib.compress(_junk(rng))[:-2]])
        elif kind == b"iTXt":
            data = b"XML:com.adobe.xmp\x00" + bytes([rng.randrange(2), 0]) + b"\x00\x00" + _xmp(rng)
        elif kind == b"iCCP":
            data = b"icc\x00\x00" + rng.choice([_junk(rng), zlib.compress(_junk(rng))])
        else:
            data = _junk(rng)
        chunks.append(_chunk(kind, data))
    return png[:33] + b"".join(chunks) + png[33:]  # after IHDR, before the pixels


def _tiff(rng: random.Random) -> bytes:
    out = io.BytesIO()
    info = TiffImagePlugin.ImageFileDirectory_v2()
    for _ in range(rng.randrange(1, 4)):
        tag = rng.choice([0x010F, 0x0110, 0x0132, 0x0131])
        info[tag] = rng.choice(["", "\t", "a" * 50, "0999:01:01 00:00:00", " "])
    _BASE.save(out, "TIFF", tiffinfo=info, exif=_exif_bytes(rng) if rng.random() < 0.5 else b"")
    return out.getvalue()


def _heic(rng: random.Random) -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif")
    heif = pillow_heif.from_pillow(_BASE)
    out = io.BytesIO()
    heif.save(out, quality=50, exif=_exif_bytes(rng) if rng.random() < 0.7 else None,
              xmp=_xmp(rng) if rng.random() < 0.5 else None)
    data = bytearray(out.getvalue())
    for _ in range(rng.randrange(0, 3)):  # a box's size or type scrambled, or a few bytes anywhere
        at = rng.randrange(len(data) - 4)
        data[at:at + 4] = _junk(rng, 4)
    return bytes(data)


_MAKERS = {"jpeg": _jpeg, "png": _png, "tiff": _tiff, "heic": _heic}


@pytest.mark.parametrize("kind", list(_MAKERS))
def test_fuzzed_metadata_never_raises_and_never_costs_the_pixels(kind: str) -> None:
    """Seeded: the same 60 files each run. Decode and probe end in a picture or a SkipFile,
    nothing else; and where only metadata was spoilt (all but the scrambled HEIC boxes) the
    picture decodes, with a size."""
    rng = random.Random(f"{SEED}-{kind}")
    decoded = 0
    for i in range(60):
        data = _MAKERS[kind](rng)
        try:
            got = decode(data, 48)
        except SkipFile:
            assert kind == "heic", f"{kind} #{i}: metadata cost the picture"
        else:
            decoded += 1
            assert got.image.mode == "RGB" and got.meta.width > 0
            assert got.meta.camera is None or got.meta.camera.isprintable()
            assert got.meta.taken_at is None or got.meta.taken_at[:4].isdigit()
        try:
            probe(data)
        except SkipFile:
            pass
    assert decoded >= (20 if kind == "heic" else 60)


def test_png_text_chunks_that_do_not_inflate_cost_no_picture() -> None:
    """A zTXt chunk whose compressed text is broken: Pillow raises zlib.error on open."""
    info = PngImagePlugin.PngInfo()
    out = io.BytesIO()
    _BASE.save(out, "PNG", pnginfo=info)
    png = out.getvalue()
    broken = png[:33] + _chunk(b"zTXt", b"Comment\x00\x00not zlib at all") + png[33:]
    got = decode(broken, 48)
    assert np.asarray(got.image).shape == (96, 96, 3)


def test_fuzzed_video_containers_end_in_frames_or_a_skip(tmp_path: Path) -> None:
    """Video containers too (`media.video`): odd creation times and scrambled bytes, seeded. Each
    read ends in frames or a SkipFile; a creation time before year 1000 is written with four digits."""
    from picfind.media import video
    from tests.videos import write_video

    rng = random.Random(f"{SEED}-video")
    scene = [(0.0, shape_files("red", "circle", n=1)[0])]
    made = write_video(tmp_path / "v.mp4", scene, 1.0)
    assert video._created({"creation_time": "0999-05-06T12:08:09.000000Z"}).startswith("0999-05-0")  # MP4 cannot
    assert video._created({"creation_time": "0001-01-01T00:00:00+14:00"}) is None  # before year 1 here: unknown
    for creation in ("garbage", "0001-01-01T00:00:00-12:00", "9999-12-31T23:59:59+14:00", ""):
        odd = write_video(tmp_path / "odd.mp4", scene, 1.0, creation_time=creation or None)
        with video.open_video(str(odd)) as f:
            assert video.probe(f).width > 0
    data = made.read_bytes()
    outcomes = set()
    for i in range(12):
        spoilt = bytearray(data)
        for _ in range(rng.randrange(1, 6)):
            at = rng.randrange(len(spoilt) - 4)
            spoilt[at:at + 4] = _junk(rng, 4)
        path = tmp_path / f"s{i}.mp4"
        path.write_bytes(bytes(spoilt[:rng.randrange(len(spoilt) // 2, len(spoilt) + 1)]))
        with video.open_video(str(path)) as f:
            try:
                outcomes.add(len(video.sample(f, 32).frames) > 0)
            except SkipFile:
                outcomes.add("skip")
    assert outcomes  # every one ended one way or the other, none raised anything else


def heic_with(mode: str = "RGB") -> bytes:
    """A 64x48 HEIC with an XMP item (type `mime`, MIME type `application/rdf+xml`); in RGBA its
    alpha is an auxiliary image whose `auxC` type is `urn:mpeg:hevc:2015:auxid:1`."""
    pillow_heif = pytest.importorskip("pillow_heif")
    out = io.BytesIO()
    pillow_heif.from_pillow(Image.new(mode, (64, 48), (200, 30, 30, 128)[:len(mode)])).save(
        out, quality=50, xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>')
    return out.getvalue()


def _replaced(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and data.count(old) == 1
    return data.replace(old, new)


_XMP_INFO = b"mime\x00application/rdf+xml"


def _version_1(data: bytes) -> bytes:
    """The XMP item's info made version 1, which has no item type: "mime" becomes its name and
    the MIME type follows, as libheif reads it (the box's version byte is 8 bytes before its type)."""
    at = data.index(_XMP_INFO) - 8
    assert data[at] == 2
    return data[:at] + b"\x01" + data[at + 1:]


_HEIC_TEXT_DAMAGES = {  # each a header string that pi-heif 1.4 turns into a Python string unchecked
    "item type": lambda: _replaced(heic_with(), _XMP_INFO, b"m\xe9me" + _XMP_INFO[4:]),
    "MIME type": lambda: _replaced(heic_with(), _XMP_INFO, _XMP_INFO[:9] + b"\x97\x80\xbc" + _XMP_INFO[12:]),
    "MIME type of a version 1 item": lambda: _replaced(
        _version_1(heic_with()), _XMP_INFO, _XMP_INFO[:9] + b"\xff" + _XMP_INFO[10:]),
    "auxiliary image type": lambda: _replaced(heic_with("RGBA"), b"urn:mpeg", b"\xe9rn:mpeg"),
}


@pytest.mark.parametrize("damage", list(_HEIC_TEXT_DAMAGES))
def test_a_heic_whose_header_text_is_not_utf8_is_read(tmp_path: Path, damage: str) -> None:
    """pi-heif 1.4 segfaults on a metadata item whose type or MIME type is not UTF-8 (the first
    found by the fuzzing above), and loses the whole picture to such an auxiliary image type;
    picfind hands it the file with such bytes replaced, and the picture is read. Run in a child:
    a crash is its exit code."""
    import subprocess
    import sys

    path = tmp_path / "odd.heic"
    path.write_bytes(_HEIC_TEXT_DAMAGES[damage]())
    code = ("import sys; from picfind.media.decode import decode, probe; d = open(sys.argv[1], 'rb').read(); "
            "print(decode(d, 48).image.size, probe(d).width)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.split() == ["(64,", "48)", "64"]
