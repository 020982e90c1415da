"""Procedurally generated, captioned pictures of coloured shapes.

They train the `tiny-shapes` test model and give its demo and tests pictures whose right
answers are known ("two red circles on a black background").
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 210, 20),
    "purple": (140, 40, 170),
    "orange": (250, 130, 10),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "grey": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle")
COUNT_WORDS = {1: "one", 2: "two", 3: "three"}


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    count: int
    background: str

    def caption(self, keys: tuple[str, ...] = ("count", "colour", "shape", "background")) -> str:
        """Say what is in the picture, naming only the attributes in `keys`."""
        noun = self.shape if self.count == 1 or "count" not in keys else self.shape + "s"
        words = []
        if "count" in keys:
            words.append(COUNT_WORDS[self.count] if self.count > 1 else "a")
        else:
            words.append("a")
        if "colour" in keys:
            words.append(self.colour)
        words.append(noun)
        text = " ".join(words)
        if "background" in keys:
            text += f" on a {self.background} background"
        return text

    def matches(self, spec: dict[str, object]) -> bool:
        return all(getattr(self, k) == v for k, v in spec.items())


def random_scene(rng: random.Random) -> Scene:
    return Scene(
        shape=rng.choice(SHAPES),
        colour=rng.choice(list(COLOURS)),
        count=rng.choice((1, 1, 2, 3)),
        background=rng.choice(list(BACKGROUNDS)),
    )


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "square":
        corners = 4
        start = angle + math.pi / 4
        radius = r * math.sqrt(2) * 0.85
    else:
        corners = 3
        start = angle - math.pi / 2
        radius = r * 1.15
    return [
        (cx + radius * math.cos(start + 2 * math.pi * i / corners),
         cy + radius * math.sin(start + 2 * math.pi * i / corners))
        for i in range(corners)
    ]


def render(scene: Scene, size: int = 128, rng: random.Random | None = None) -> Image.Image:
    """Draw the scene on a square RGB canvas; positions, sizes and tilt vary with `rng`."""
    rng = rng or random.Random(0)
    img = Image.new("RGB", (size, size), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(img)
    colour = COLOURS[scene.colour]
    # One shape per cell of a 2x2 grid (count <= 3), jittered inside its cell.
    cells = rng.sample([(0, 0), (0, 1), (1, 0), (1, 1)], scene.count)
    for row, col in cells:
        if scene.count == 1:
            r = size * rng.uniform(0.22, 0.36)
            cx = size / 2 + rng.uniform(-0.1, 0.1) * size
            cy = size / 2 + rng.uniform(-0.1, 0.1) * size
        else:
            r = size * rng.uniform(0.14, 0.2)
            cx = (col + 0.5) * size / 2 + rng.uniform(-0.04, 0.04) * size
            cy = (row + 0.5) * size / 2 + rng.uniform(-0.04, 0.04) * size
        if scene.shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            angle = rng.uniform(-0.25, 0.25)
            draw.polygon(_polygon(scene.shape, cx, cy, r, angle), fill=colour)
    return img
