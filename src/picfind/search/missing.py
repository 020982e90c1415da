"""Results whose files are not on disk now, and where they were: most likely on a drive that is
not connected. A search leaves such a place out and asks again (the catalog then finds what is
there, as under any filter), and says so in one line, instead of doubling its pool until it has
walked the whole index for results that cannot show (270 s at a million pictures).
"""

from __future__ import annotations

import os


class Missing:
    """The places a search found its results' files missing from, with how many results (the
    contents that would have shown) each held. A few stats per folder, never per file."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._places: dict[str, str | None] = {}  # a missing file's folder -> its place

    def place_of(self, path: str) -> str | None:
        """The place that held this file: the highest folder on its path that is not there, or
        the empty folder above it (a mount point with nothing mounted). None when its folder is
        there and holds something: the file alone is gone (deleted or moved since the last run)."""
        folder = os.path.dirname(path)
        if folder not in self._places:
            self._places[folder] = _place(folder)
        return self._places[folder]

    def tally(self, counts: dict[str, int]) -> None:
        """One try's counts: a later try, over a bigger pool, counts at least as many (a place
        left out by then counts none: its first count stands)."""
        for place, n in counts.items():
            self.counts[place] = max(self.counts.get(place, 0), n)

    def line(self) -> str | None:
        """What to tell the person searching, in one line (None: nothing was missing)."""
        if not self.counts:
            return None
        total, places = sum(self.counts.values()), sorted(self.counts)
        are = "is" if len(places) == 1 else "are"
        return (f"{total} result{'s' * (total != 1)} not shown: {', '.join(places)} {are} not there "
                "(a drive not connected?)")


def _place(folder: str) -> str | None:
    there = _entries(folder)
    if there is not None:
        return folder if there == 0 else None  # an empty folder is the place; a full one lost one file
    place = folder
    while (parent := os.path.dirname(place)) != place:
        listed = _entries(parent)
        if listed is not None:  # the nearest folder that is there: if empty, a mount point
            return parent if listed == 0 else place
        place = parent
    return place


def _entries(folder: str) -> int | None:
    """0 for an empty folder, 1 for one that holds something, None when it cannot be listed
    (not there)."""
    try:
        with os.scandir(folder) as it:
            return int(next(it, None) is not None)
    except OSError:
        return None
