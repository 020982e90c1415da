"""Decoding and preprocessing: the reference CLIP image processor's numbers, every pixel mode,
EXIF orientation, reduced-size JPEG decoding, and clear reasons for bad files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from picfind.media.decode import SkipFile, decode, probe, to_rgb
from picfind.models.preprocess import Preprocessing

from .conftest import real_photos


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("size", [224, 256])
def test_preprocessing_matches_the_reference_clip_image_processor_on_real_photos(size: int) -> None:
    from transformers import CLIPImageProcessor

    ref = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    ours = Preprocessing(size=size)
    worst = 0.0
    for name, arr in real_photos().items():
        img = to_rgb(Image.fromarray(arr))
        expected = ref(images=img, return_tensors="np")["pixel_values"][0]
        got = ours.pixels(img)
        assert got.shape == expected.shape == (3, size, size), name
        worst = max(worst, float(np.abs(got - expected).max()))
    print(f"max abs difference against CLIPImageProcessor: {worst:.2e}")
    assert worst < 1e-5


def test_modes_become_the_rgb_picture_a_person_sees() -> None:
    red = Image.new("RGBA", (8, 8), (255, 0, 0, 255))
    clear = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert to_rgb(red).getpixel((0, 0)) == (255, 0, 0)
    assert to_rgb(clear).getpixel((0, 0)) == (255, 255, 255)  # transparency on white
    half = Image.new("LA", (4, 4), (0, 128))
    assert to_rgb(half).getpixel((0, 0)) == (127, 127, 127)
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 0, 255] + [0] * 765)
    assert to_rgb(pal).getpixel((0, 0)) == (0, 0, 255)
    pal.info["transparency"] = 0
    assert to_rgb(pal).getpixel((0, 0)) == (255, 255, 255)
    sixteen = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert sixteen.mode.startswith("I;16")
    assert to_rgb(sixteen).getpixel((0, 0)) == (255, 255, 255)  # not clipped from 16 bits
    mid16 = Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))
    assert to_rgb(mid16).getpixel((0, 0)) == (128, 128, 128)
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))
    assert to_rgb(cmyk).getpixel((0, 0)) == (255, 0, 0)
    assert to_rgb(Image.new("1", (4, 4), 1)).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(Image.new("F", (4, 4), 0.5)).getpixel((0, 0)) == (128, 128, 128)


def test_exif_orientation_is_applied_and_reported_in_the_size() -> None:
    # A wide picture, left half red, stored with "rotate 90 CW on display" (6).
    img = Image.new("RGB", (64, 32), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 32, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _jpeg(img, exif=exif.tobytes())
    d = decode(data, min_side=32)
    assert (d.meta.width, d.meta.height) == (32, 64)
    assert d.image.size == (32, 64)
    r, g, b = d.image.getpixel((16, 8))
    assert r > 200 and b < 60  # red is on top after rotating clockwise
    assert (probe(data).width, probe(data).height) == (32, 64)


def test_large_jpegs_are_decoded_at_reduced_size_with_a_small_pixel_difference() -> None:
    photo = Image.fromarray(real_photos()["astronaut"]).resize((2048, 2048), Image.Resampling.BICUBIC)
    data = _jpeg(photo)
    prep = Preprocessing(224)
    fast = decode(data, min_side=448)
    assert min(fast.image.size) < 2048 and min(fast.image.size) >= 448  # DCT-scaled
    assert (fast.meta.width, fast.meta.height) == (2048, 2048)  # the original size is reported
    full = to_rgb(Image.open(io.BytesIO(data)))
    diff = np.abs(prep.pixels(fast.image) - prep.pixels(full)) * np.asarray(prep.std)[:, None, None] * 255
    print(f"mean pixel difference, reduced vs full decode: {diff.mean():.2f}/255")
    assert diff.mean() < 2.0


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size: picfind must refuse before allocating it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"this is a text file, not a picture\n" * 10, "not an image"),
    (_bomb_png(100_000, 100_000), "too many pixels"),
])
def test_bad_bytes_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SkipFile) as err:
        decode(data, min_side=224)
    assert err.value.reason == reason


@pytest.mark.parametrize("fmt", ["EPS", "PPM", "ICO", "TGA", "PCX"])
def test_only_photo_formats_are_opened_whatever_the_name(fmt: str) -> None:
    """Pillow sniffs ~40 formats; EPS runs Ghostscript on the bytes. A file named .jpg (or an
    upload) in any of the others is "not an image", never handed to those decoders."""
    buf = io.BytesIO()
    Image.fromarray(real_photos()["chelsea"]).resize((64, 48)).save(buf, fmt)
    with pytest.raises(SkipFile) as err:
        decode(buf.getvalue(), min_side=32)
    assert err.value.reason == "not an image"
    with pytest.raises(SkipFile) as err:
        probe(buf.getvalue())
    assert err.value.reason == "not an image"


def test_truncated_files_are_refused_not_half_read() -> None:
    photo = Image.fromarray(real_photos()["coffee"])
    for data in (_jpeg(photo), _png(photo)):
        with pytest.raises(SkipFile) as err:
            decode(data[: len(data) // 2], min_side=224)
        assert err.value.reason == "truncated or corrupt"


def test_the_pixel_cap_is_configurable() -> None:
    data = _png(Image.new("RGB", (2000, 1000)))
    with pytest.raises(SkipFile, match="over the cap"):
        decode(data, 224, max_pixels=1_000_000)
    assert decode(data, 224, max_pixels=3_000_000).meta.width == 2000


def _heic(img: Image.Image, **kw) -> bytes:
    """A HEIC file written by pillow-heif (the tests' writer; picfind reads with pi-heif, which cannot write)."""
    pillow_heif = pytest.importorskip("pillow_heif")
    buf = io.BytesIO()
    pillow_heif.from_pillow(img).save(buf, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF", "JXL"])
def test_every_supported_format_decodes(fmt: str) -> None:
    img = Image.fromarray(real_photos()["chelsea"]).resize((300, 200))
    buf = io.BytesIO()
    if fmt == "HEIF":
        buf.write(_heic(img))
    else:
        img.save(buf, fmt)
    d = decode(buf.getvalue(), min_side=64)
    assert (d.meta.width, d.meta.height) == (300, 200) and d.image.mode == "RGB"
    assert np.abs(np.asarray(d.image, float).mean() - np.asarray(img, float).mean()) < 12


@pytest.mark.parametrize("fmt", ["AVIF", "JXL"])
def test_avif_and_jpeg_xl_keep_their_time_camera_and_orientation(fmt: str) -> None:
    """Pillow (from 11.3) reads AVIF; pylibjxl (BSD) reads JPEG XL: the EXIF they carry counts."""
    img = Image.new("RGB", (300, 200), (200, 30, 30))
    img.paste((20, 20, 200), (0, 0, 150, 200))  # the left half blue
    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x0110] = 6, "Acme", "Acme Q1"  # held upright
    exif.get_ifd(0x8769)[0x9003] = "2023:01:02 03:04:05"
    buf = io.BytesIO()
    img.save(buf, fmt, exif=exif.tobytes(), quality=90)
    got = decode(buf.getvalue(), min_side=64)
    assert got.format == fmt and (got.meta.taken_at, got.meta.camera) == ("2023-01-02 03:04:05", "Acme Q1")
    if fmt == "AVIF":  # turned by its EXIF (a JPEG XL's decoder applies its codestream's orientation itself)
        assert got.image.size == (200, 300) and np.asarray(got.image)[5, 100, 2] > 150  # blue on top
    assert probe(buf.getvalue()) == got.meta


@pytest.mark.parametrize("fmt,transfer", [("HEIF", "pq"), ("HEIF", "hlg"), ("AVIF", "pq")])
def test_hdr_stills_are_tone_mapped(fmt: str, transfer: str) -> None:
    """A still whose colour box says PQ or HLG (cameras' HDR HEIF, HDR AVIF): its code values
    mapped to ordinary colours, not cut to 8 bits as they are (washed out and dark)."""
    from .hdr import hdr_signal

    picture = np.asarray(Image.fromarray(real_photos()["chelsea"]).resize((160, 112)), np.float64)
    signal = hdr_signal(picture, transfer)
    code = {"pq": 16, "hlg": 18}[transfer]
    if fmt == "HEIF":  # 10 bits, written by pillow-heif with the transfer in its nclx box
        pillow_heif = pytest.importorskip("pillow_heif")
        buf = io.BytesIO()
        pillow_heif.from_bytes("RGB;16", (160, 112), signal.tobytes()).save(
            buf, quality=95, nclx_profile={"color_primaries": 9, "transfer_characteristics": code,
                                           "matrix_coefficients": 9, "full_range_flag": 1})
        data = buf.getvalue()
    else:  # Pillow writes 8-bit AVIF; its nclx box then says PQ
        buf = io.BytesIO()
        Image.fromarray((signal / 257).round().astype(np.uint8)).save(buf, "AVIF", quality=95)
        data = bytearray(buf.getvalue())
        at = data.find(b"colrnclx") + 10
        data[at:at + 2] = code.to_bytes(2, "big")
        data = bytes(data)
    got = np.asarray(decode(data, min_side=64).image, np.float64)
    assert got.shape == picture.shape
    assert np.abs(got - picture).mean() < 10  # about 25-35 when cut to 8 bits as it is


def test_heic_uses_a_stored_thumbnail_when_it_is_big_enough() -> None:
    img = Image.fromarray(real_photos()["astronaut"]).resize((1600, 1200))
    fast = decode(_heic(img, quality=85, thumbnails=[512]), min_side=448)
    full = decode(_heic(img, quality=85, thumbnails=[]), min_side=448)
    assert fast.image.size == (512, 384) and full.image.size == (1600, 1200)
    assert (fast.meta.width, fast.meta.height) == (full.meta.width, full.meta.height) == (1600, 1200)
    prep = Preprocessing(224)
    diff = np.abs(prep.pixels(fast.image) - prep.pixels(full.image)).mean() * 0.27 * 255
    assert diff < 6  # the same picture, slightly softer (about 4/255 here)
    # a thumbnail smaller than the model's input is not used
    assert decode(_heic(img, quality=85, thumbnails=[128]), min_side=448).image.size == (1600, 1200)
