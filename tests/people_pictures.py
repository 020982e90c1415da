"""Pictures of real people for the people tests: two real faces that ship in packages
(scikit-image's astronaut, Eileen Collins, a NASA portrait in the public domain; OpenCV's
`messi5.jpg` from Debian's opencv-doc), composited onto real photographs (scikit-image,
scikit-learn) at other sizes, light and tilt, as one person's pictures over the years.

What this can show: one person's pictures go together, and two real people stay apart. What it
cannot: how grouping does across ageing, profiles or look-alikes (two people only);
benchmarks/faces.py measures on the larger labelled set it builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
LOOKS = ((1.0, 1.0, 0), (0.7, 0.6, 8), (1.3, 1.25, -6), (0.9, 1.1, 4))  # size, light, tilt


def faces() -> dict[str, Image.Image]:
    """Each person's face, cropped with some hair and background, as a real photo shows it."""
    from skimage import data

    if not MESSI.exists():
        pytest.skip("the people tests need Debian's opencv-doc (messi5.jpg): apt-get install opencv-doc")
    return {"eileen": Image.fromarray(data.astronaut()).crop((130, 40, 330, 240)),
            "messi": Image.open(MESSI).convert("RGB").crop((205, 73, 285, 153))}


def backgrounds() -> list[Image.Image]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    return [Image.fromarray(a) for a in load_sample_images().images] + [
        Image.fromarray(data.coffee()), Image.fromarray(data.chelsea()), Image.fromarray(data.rocket())]


def composite(face: Image.Image, background: Image.Image, look: int, at: tuple[int, int] | None = None,
              side: int = 180, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """`face` pasted onto `background` (resized to `size`) with one of LOOKS."""
    scale, light, tilt = LOOKS[look % len(LOOKS)]
    picture = background.convert("RGB").resize(size)
    f = face.resize((int(side * scale), int(side * scale)), Image.Resampling.LANCZOS).rotate(tilt)
    picture.paste(ImageEnhance.Brightness(f).enhance(light), at or (80 + 90 * look, 60 + 50 * look))
    return picture


def write_people(folder: Path, per_person: int = 4) -> dict[str, list[Path]]:
    """`per_person` pictures of each person, one picture of both, one of nobody; returns each
    person's files (the one of both listed under each)."""
    folder.mkdir(parents=True, exist_ok=True)
    who, bgs = faces(), backgrounds()
    out: dict[str, list[Path]] = {name: [] for name in who}
    for name, face in who.items():
        for i in range(per_person):
            path = folder / f"{name}_{i}.jpg"
            composite(face, bgs[i % 4], i).save(path, quality=90)
            out[name].append(path)
    both = bgs[2].convert("RGB").resize((900, 600))
    both.paste(who["eileen"].resize((180, 180)), (100, 150))
    both.paste(who["messi"].resize((160, 160), Image.Resampling.LANCZOS), (560, 170))
    both.save(folder / "both.jpg", quality=90)
    for files in out.values():
        files.append(folder / "both.jpg")
    bgs[4].save(folder / "rocket.jpg", quality=90)  # no one
    return out


def crowd(face: Image.Image, n: int = 60, side: int = 90) -> Image.Image:
    """A crowd: `n` faces in a grid, each a little different in light."""
    columns = int(np.ceil(np.sqrt(n)))
    picture = Image.new("RGB", (columns * side, columns * side), (90, 110, 90))
    for k in range(n):
        f = ImageEnhance.Brightness(face.resize((side, side))).enhance(0.8 + 0.4 * (k % 5) / 4)
        picture.paste(f, ((k % columns) * side, (k // columns) * side))
    return picture
