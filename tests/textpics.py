"""Pictures with known words on them, made in the test run: real photos with one word rendered in a
Debian font at a given size, colour and angle; screenshot-like and document-like pictures; and
photos with no text at all. Shared by the OCR tests and benchmarks/ocr_quality.py."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf", "LiberationSans-Bold.ttf",
              "LiberationSerif-Regular.ttf", "LiberationSansNarrow-Regular.ttf")
# Distinct words, none inside another, none a common English word a photo might show by chance.
WORDS = ("adlon", "quittung", "roadmap", "zanzibar", "marmalade", "pelican", "quokka", "vortex", "juniper",
         "halibut", "krypton", "tangerine", "walrus", "lagoon", "mosaic", "nebula", "oregano", "paprika",
         "saffron", "tundra", "umbrella", "vanilla", "wombat", "yodel", "zephyr", "bazaar", "cobalt",
         "dolphin", "emerald", "fjord", "gondola", "harpoon", "igloo", "jasmine", "kimono", "lantern",
         "mango", "nutmeg", "orchid", "pagoda", "quartz", "raven", "sphinx", "tulip", "velvet",
         "whisker", "xylophone", "yak", "zucchini", "anchovy", "biscuit", "cactus", "dragon", "falcon",
         "gazelle", "hazelnut", "iguana", "jackal", "koala", "lobster")
COLOURS = ((20, 20, 20), (250, 250, 250), (200, 30, 30), (250, 220, 40), (30, 60, 200), (40, 160, 60))
ANGLES = (0, 90, 180, 270, 15, -15)


@dataclass(frozen=True)
class TextPicture:
    name: str
    image: Image.Image
    words: tuple[str, ...]  # the words to search for (empty: no text)
    text: str  # everything written on it, to tell read words from invented ones
    size: int  # text height in px (0: no text, or many sizes)
    angle: int
    kind: str  # photo, screenshot, document, plain


def fonts() -> list[Path]:
    """The Debian font files the set is drawn in; a clear error when none is installed."""
    found = [d / f for f in FONT_FILES for d in FONT_DIRS if (d / f).is_file()]
    if not found:
        raise RuntimeError("no fonts for the OCR test pictures: apt-get install fonts-dejavu-core fonts-liberation")
    return found


def _contrast(photo: np.ndarray, box: tuple[int, int, int, int], rng: random.Random) -> tuple[tuple, tuple]:
    """A text colour that stands out from the region it is drawn on, and an outline colour."""
    x0, y0, x1, y1 = box
    lum = float(photo[y0:y1, x0:x1].mean()) if x1 > x0 and y1 > y0 else 128.0
    dark = [c for c in COLOURS if sum(c) < 300]
    light = [c for c in COLOURS if sum(c) >= 300]
    fill = rng.choice(dark if lum > 128 else light)
    outline = (255, 255, 255) if sum(fill) < 300 else (0, 0, 0)
    return fill, outline


def word_on_photo(photo: np.ndarray, word: str, font: Path, size: int, angle: int, rng: random.Random,
                  width: int = 640) -> Image.Image:
    """The photo scaled to `width` with `word` drawn `size` px tall (cap height to descender) at `angle`."""
    base = Image.fromarray(photo).convert("RGB")
    base = base.resize((width, round(base.height * width / base.width)), Image.BICUBIC)
    face = ImageFont.truetype(str(font), size=round(size * 1.15))
    left, top, right, bottom = face.getbbox(word)
    pad = max(2, size // 5)
    layer = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
    rotated_w, rotated_h = (layer.height, layer.width) if angle in (90, 270) else layer.size
    x = rng.randint(0, max(0, base.width - rotated_w - 20))
    y = rng.randint(0, max(0, base.height - rotated_h - 20))
    fill, outline = _contrast(np.asarray(base), (x, y, x + rotated_w, y + rotated_h), rng)
    ImageDraw.Draw(layer).text((pad - left, pad - top), word, font=face, fill=fill + (255,),
                               stroke_width=max(1, size // 14), stroke_fill=outline + (255,))
    layer = layer.rotate(angle, expand=True, resample=Image.BICUBIC)
    x = min(x, max(0, base.width - layer.width))
    y = min(y, max(0, base.height - layer.height))
    base.paste(layer, (x, y), layer)
    return base


def screenshot(words: list[str], rng: random.Random, font: Path) -> tuple[Image.Image, str]:
    """A window-like picture: title bar, menu, a dialog with an error line and buttons (~15 px text)."""
    img = Image.new("RGB", (800, 500), (236, 236, 236))
    draw = ImageDraw.Draw(img)
    small = ImageFont.truetype(str(font), 16)
    lines = [f"Settings - {words[0]}", "File Edit View Help", f"Error 0x80070005: {words[1]} failed",
             f"Check the {words[2]} folder and try again.", "Retry Cancel"]
    draw.rectangle((0, 0, 800, 32), fill=(40, 44, 52))
    draw.text((12, 7), lines[0], font=small, fill=(230, 230, 230))
    for i, item in enumerate(lines[1].split()):
        draw.text((12 + 70 * i, 42), item, font=small, fill=(30, 30, 30))
    draw.rectangle((150, 150, 650, 380), fill=(255, 255, 255), outline=(160, 160, 160))
    draw.text((170, 170), lines[2], font=small, fill=(180, 20, 20))
    draw.text((170, 205), lines[3], font=small, fill=(40, 40, 40))
    for i, label in enumerate(lines[4].split()):
        draw.rectangle((400 + 120 * i, 320, 500 + 120 * i, 356), fill=(225, 225, 230), outline=(120, 120, 120))
        draw.text((420 + 120 * i, 328), label, font=small, fill=(20, 20, 20))
    return img, "\n".join(lines)


def document(words: list[str], rng: random.Random, font: Path) -> tuple[Image.Image, str]:
    """A page of text: a heading and lines of filler with the given words placed in them (~18 px)."""
    img = Image.new("RGB", (700, 900), (250, 248, 240))
    draw = ImageDraw.Draw(img)
    head = ImageFont.truetype(str(font), 34)
    body = ImageFont.truetype(str(font), 18)
    lines = [f"Invoice {words[0].capitalize()}"]
    draw.text((60, 50), lines[0], font=head, fill=(10, 10, 10))
    filler = "the total amount is due within thirty days of the date shown".split()
    y = 130
    for line in range(16):
        row = rng.sample(filler, 6)
        if line in (3, 9):
            row.insert(3, words[1 if line == 3 else 2])
        lines.append(" ".join(row))
        draw.text((60, y), lines[-1], font=body, fill=(30, 30, 30))
        y += 30
    return img, "\n".join(lines)


def make_set(photos: dict[str, np.ndarray], sizes: tuple[int, ...], angles: tuple[int, ...] = ANGLES,
             per_cell: int = 1, plain: int = 4, documents: int = 1, seed: int = 0) -> list[TextPicture]:
    """Each (size, angle) cell gets `per_cell` photos with one distinct word; then screenshots and
    documents (three words each) and `plain` photos with no text. Words are never reused."""
    rng = random.Random(seed)
    face = fonts()
    names = sorted(photos)
    words = iter(rng.sample(WORDS, len(WORDS)))
    out: list[TextPicture] = []
    try:
        for size in sizes:
            for angle in angles:
                for _ in range(per_cell):
                    word = next(words)
                    img = word_on_photo(photos[rng.choice(names)], word, rng.choice(face), size, angle, rng)
                    out.append(TextPicture(f"w{size}_{angle % 360}_{word}", img, (word,), word, size, angle, "photo"))
        for i in range(documents):
            for kind, draw in (("screenshot", screenshot), ("document", document)):
                chosen = [next(words) for _ in range(3)]
                img, text = draw(chosen, rng, face[0])
                out.append(TextPicture(f"{kind}{i}", img, tuple(chosen), text, 0, 0, kind))
    except StopIteration:
        raise ValueError(f"make_set: more pictures asked for than the {len(WORDS)} words") from None
    for i in range(plain):
        photo = Image.fromarray(photos[names[i % len(names)]]).convert("RGB")
        photo = photo.resize((640, round(photo.height * 640 / photo.width)), Image.BICUBIC)
        out.append(TextPicture(f"plain{i}_{names[i % len(names)]}", photo, (), "", 0, 0, "plain"))
    return out
