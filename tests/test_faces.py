"""The faces reach pictures only through the library's doors: the contact sheet draws a hit's
thumbnail through `Library.thumbnail`, never from whatever is at the hit's path now."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from picfind.cli.sheet import CELL, thumbnail
from picfind.indexing.stages import IndexOptions
from picfind.library import Library

from .conftest import write_shapes


def test_the_contact_sheet_draws_only_the_indexed_file(tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    write_shapes(folder, 3)
    with Library(tmp_path / "c.db", model="tiny-shapes") as lib:
        lib.index([str(folder)], options=IndexOptions(workers=1, thumbnails=False))  # none cached yet
        changed, kept = lib.search("a red circle", n=2)
        img = thumbnail(kept, lib)
        assert img is not None and max(img.size) <= CELL  # made now, from the indexed file
        with Image.open(changed.path) as before:
            fmt = before.format
        Image.new("RGB", (160, 160), (0, 0, 255)).save(changed.path, fmt)  # another picture, same path
        assert thumbnail(changed, lib) is None  # no longer the file indexed: an empty cell, not its new bytes
