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
    out = Path(out)
    columns = columns or max(1, min(5, len(hits)))
    rows = max(1, math.ceil(len(hits) / columns))
    head = 30 if title else 0
    sheet = Image.new("RGB", (columns * (CELL + PAD) + PAD, head + rows * (CELL + LABEL + PAD) + PAD),
                      (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    small, big = _font(12), _font(16)
    if title:
        draw.text((PAD, 6), _fit(draw, terminal(title), big, sheet.width - 2 * PAD), fill=(20, 20, 20), font=big)
    for rank, hit in enumerate(hits, 1):
        r, c = divmod(rank - 1, columns)
        x, y = PAD + c * (CELL + PAD), head + PAD + r * (CELL + LABEL + PAD)
        draw.rectangle((x, y, x + CELL - 1, y + CELL - 1), fill=(230, 230, 230))
        thumb = thumbnail(hit, lib)
        if thumb is not None:
            sheet.paste(thumb, (x + (CELL - thumb.width) // 2, y + (CELL - thumb.height) // 2))
        n = len(hit.duplicates)
        copies = f"  +{n} {'copy' if n == 1 else 'copies'}" if n else ""
        draw.text((x, y + CELL + 3), f"#{rank}  {hit.score:.3f}{copies}", fill=(20, 20, 20), font=small)
        name = terminal(os.path.basename(hit.path).encode("utf-8", "replace").decode("utf-8"))  # one line
        if hit.time is not None:
            name = f"@ {time_label(hit.time)}  {name}"
        draw.text((x, y + CELL + 18), _fit(draw, name, small, CELL), fill=(90, 90, 90), font=small)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
