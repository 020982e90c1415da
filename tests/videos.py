"""Small videos made with PyAV for the tests: scenes of the tiny-shapes model's shapes that change
at known seconds (the hidden moments a search must find)."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from picfind.models.shapes import Scene, render

from .conftest import shape_files

RED_CIRCLE = Scene("circle", "red", 1, "white")
BLUE_SQUARE = Scene("square", "blue", 1, "black")
GREEN_TRIANGLE = Scene("triangle", "green", 1, "white")


def grey(size: int, seed: int = 0) -> Image.Image:
    """A plain grey picture with a little noise: matches no shape caption well."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(np.clip(128 + rng.normal(0, 6, (size, size, 3)), 0, 255).astype(np.uint8))


def write_video(path: Path, scenes: list[tuple[float, Image.Image]], duration: float, fps: int = 10,
                size: tuple[int, int] = (224, 160), codec: str = "libx264", gop: int = 10,
                rotation: int = 0, pix_fmt: str = "yuv420p", creation_time: str | None = None,
                container_options: dict | None = None, start: float = 0.0, location: str | None = None,
                keys: list[float] | None = None) -> Path:
    """A video showing each (start second, picture) until the next one; pictures are centred on
    a grey canvas of `size` (as shown) with a little moving noise, as a camera would record them.
    `rotation`: stored turned, with a display matrix that turns it back (as phones do); `start`:
    the first frame's timestamp (camcorders' MPEG-TS files do not start at 0); `keys`: the only
    seconds with a key frame (as messengers re-encode clips: few, irregular, none at the cuts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size if rotation % 180 == 0 else size[::-1]  # as stored
    with av.open(str(path), "w", options=container_options or {}) as out:
        if creation_time:
            out.metadata["creation_time"] = creation_time
        if location:  # ISO 6709, as phones write where a video was filmed
            out.metadata["location"] = location
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "28"}
        if keys is not None:
            stream.codec_context.gop_size = 10_000
            stream.options = {**stream.options, "x264-params": "keyint=10000:min-keyint=10000:scenecut=0"}
        key_frames = {round(k * fps) for k in keys or []}
        if rotation:
            stream.set_display_rotation(rotation)
        rng = np.random.default_rng(1)
        for i in range(int(duration * fps)):
            t = i / fps
            current = [img for start, img in scenes if start <= t][-1]
            canvas = Image.new("RGB", size, (128, 128, 128))
            side = min(size)
            canvas.paste(current.resize((side, side)), ((size[0] - side) // 2, (size[1] - side) // 2))
            canvas = canvas.rotate(-rotation, expand=True)  # stored turned clockwise; shown turned back
            arr = np.asarray(canvas).astype(np.int16) + rng.integers(-3, 4, (h, w, 3), dtype=np.int16)
            frame = av.VideoFrame.from_ndarray(np.clip(arr, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts = i + round(start * fps)
            frame.time_base = Fraction(1, fps)
            if keys is not None:
                frame.pict_type = av.video.frame.PictureType.I if i in key_frames else av.video.frame.PictureType.NONE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def shapes_video(path: Path, moments: dict[float, Scene], duration: float, seed: int = 0, **kw: object) -> Path:
    """Grey footage with a shape scene from each given second until the next (then grey again
    4 s later unless another scene starts)."""
    rng = random.Random(seed)
    scenes: list[tuple[float, Image.Image]] = [(0.0, grey(160, seed))]
    for start, scene in sorted(moments.items()):
        scenes.append((start, render(scene, 160, rng)))
        scenes.append((start + 4, grey(160, seed + 1)))
    scenes.sort(key=lambda s: s[0])
    return write_video(path, scenes, duration, **kw)


@pytest.fixture(scope="session", name="videos")
def videos_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of videos: a red circle at 0:10 and a blue square at 0:20 in one, a green
    triangle at 0:04 in a portrait one, and a photo beside them."""
    folder = tmp_path_factory.mktemp("videos")
    shapes_video(folder / "party.mp4", {10.0: RED_CIRCLE, 20.0: BLUE_SQUARE}, 30,
                 creation_time="2021-07-14T12:00:00.000000Z")
    shapes_video(folder / "walk.mov", {4.0: GREEN_TRIANGLE}, 12, seed=2, rotation=90, size=(128, 224))
    shape_files("yellow", "circle", n=1)[0].save(folder / "sun.png")
    return folder
