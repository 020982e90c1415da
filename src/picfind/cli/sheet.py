"""Contact sheets: the results as one PNG of thumbnails with rank, score and file name."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from picfind.errors import terminal
from picfind.media.timecode import time_label
from picfind.search.ranking import Hit

if TYPE_CHECKING:
    from picfind.library import Library

CELL = 200
LABEL = 34
PAD = 8


def thumbnail(hit: Hit, lib: Library, size: int = CELL) -> Image.Image | None:
    """The hit's thumbnail through the library's door (`Library.thumbnail`): the cached one, else
    made now from the file only while it is the indexed file inside a root; a video's, the frame
    of its best moment."""
    data = lib.thumbnail(hit.id, hit.time)  # a video: the frame of its moment
    try:
        img = Image.open(io.BytesIO(data or b"")).convert("RGB")
    except OSError:
        return None
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    return img


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def contact_sheet(hits: list[Hit], out: Path | str, lib: Library, title: str = "",
                  columns: int | None = None) -> Path:
    """Write the hits as a grid of thumbnails; returns the file written."""
    cells = []
    for rank, hit in enumerate(hits, 1):
        n = len(hit.duplicates)
        copies = f"  +{n} {'copy' if n == 1 else 'copies'}" if n else ""
        name = _name(hit.path)
        if hit.time is not None:
            name = f"@ {time_label(hit.time)}  {name}"
        cells.append((thumbnail(hit, lib), f"#{rank}  {hit.score:.3f}{copies}", name))
    return grid(cells, out, title, columns)


def face_sheet(faces: list[dict], out: Path | str, lib: Library, title: str = "") -> Path:
    """Write a person's faces (`Library.person_faces`) as a grid: each crop, its id and its picture."""
    cells = []
    for face in faces:
        try:
            img = Image.open(io.BytesIO(lib.face_thumb(face["id"]) or b"")).convert("RGB")
            img = img.resize((CELL, CELL), Image.Resampling.LANCZOS)
        except OSError:
            img = None
        cells.append((img, f"face {face['id']}", _name(face["path"]) if face["path"] else "(no file left)"))
    return grid(cells, out, title, None)


def _name(path: str) -> str:
    return terminal(os.path.basename(path).encode("utf-8", "replace").decode("utf-8"))  # one line


def grid(cells: list[tuple[Image.Image | None, str, str]], out: Path | str, title: str = "",
         columns: int | None = None) -> Path:
    """Pictures in a grid, each with two lines under it, written to `out`; returns the file written."""
    out = Path(out)
    columns = columns or max(1, min(5, len(cells)))
    rows = max(1, math.ceil(len(cells) / columns))
    head = 30 if title else 0
    sheet = Image.new("RGB", (columns * (CELL + PAD) + PAD, head + rows * (CELL + LABEL + PAD) + PAD),
                      (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    small, big = _font(12), _font(16)
    if title:
        draw.text((PAD, 6), _fit(draw, terminal(title), big, sheet.width - 2 * PAD), fill=(20, 20, 20), font=big)
    for k, (img, first, second) in enumerate(cells):
        r, c = divmod(k, columns)
        x, y = PAD + c * (CELL + PAD), head + PAD + r * (CELL + LABEL + PAD)
        draw.rectangle((x, y, x + CELL - 1, y + CELL - 1), fill=(230, 230, 230))
        if img is not None:
            sheet.paste(img, (x + (CELL - img.width) // 2, y + (CELL - img.height) // 2))
        draw.text((x, y + CELL + 3), _fit(draw, first, small, CELL), fill=(20, 20, 20), font=small)
        draw.text((x, y + CELL + 18), _fit(draw, second, small, CELL), fill=(90, 90, 90), font=small)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
