"""A photograph in two files: which RAW or Live Photo motion is shown with its picture.

A camera set to RAW+JPEG writes `DSC_0001.NEF` beside `DSC_0001.JPG`; a Live Photo is
`IMG_0001.HEIC` beside its motion, `IMG_0001.MOV`. The RAW, or the movie (when it lasts at most
`LIVE_MAX_SECONDS`), is *paired*: not indexed on its own, named on its picture's results. It is
paired only with a picture of its name (`.jpg`, `.jpeg`, `.heic`, `.heif`, each extension in one
case) that is itself indexed (status ok) in this catalog. A picture the walk leaves out (`--ext`, an
exclude), that cannot be read, or that is gone leaves the RAW or movie to be indexed on its own;
when the picture is back (or mended) the RAW or movie is paired again.

Only where a pair may have formed or come apart is anything done: beside a file of the run's
to read (new or changed) or gone. A re-scan of unchanged files names none, so it costs nothing
here. Each such folder is listed once. A RAW or movie to read beside a picture of its name waits
(`Pairs.first`) until the rest is read and written; then the picture's row says whether it is
indexed, and each RAW or movie there, waiting or read before, is read knowing its partner
(`Task.shown_with`; `Pairs.then`): a paired RAW is skipped unread, a paired movie once its
header says it is short, an unpaired one read as any file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from picfind.indexing.stages import IndexReport, Task
from picfind.media.formats import LIVE_MOTION, LIVE_MOTIONS, LIVE_STILLS, RAW_EXTENSIONS, RAW_JPEGS, RAW_WITH_JPEG

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend

PAIRED = frozenset({RAW_WITH_JPEG, LIVE_MOTION})  # the skip reasons of a RAW or movie shown with its picture
_PICTURES = frozenset(RAW_JPEGS) | frozenset(LIVE_STILLS)
_RAWS = frozenset(RAW_EXTENSIONS)
_SHOWN = _RAWS | frozenset(LIVE_MOTIONS)  # what is shown with a picture
_PARTS = _PICTURES | _SHOWN


def _part(name: str) -> tuple[str, str] | None:
    """(stem, extension in lower case) of a file that may be half of a pair: a picture, a RAW or
    a movie whose extension is written in one case (as `formats.live_motion` finds a motion)."""
    stem, dot, ext = name.rpartition(".")
    low = ext.lower()
    if not dot or not stem or low not in _PARTS or ext not in (low, low.upper()):
        return None
    return stem, low


@dataclass
class _Pair:
    """One name in one folder: its pictures and the RAWs and movies beside them (paths)."""
    root_id: int
    pictures: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)


class Pairs:
    """One run's pairs: `note` each root's files to read and gone as the walk leaves them,
    read `first` those files less the RAWs and movies that wait, and `then` what waited, with
    the RAWs and movies read before whose picture came, went, was mended or broke."""

    def __init__(self) -> None:
        self._names: dict[tuple[int, str], set[str]] = {}  # (root id, folder) -> names changed or gone there
        self._todo: dict[str, Task] = {}  # RAWs and movies to read, by path
        self._scopes: dict[int, list[str] | None] = {}  # root id -> what its walk covered (None: all of it)
        self._pairs: list[_Pair] = []
        self._waiting: set[str] = set()

    def note(self, root_id: int, todo: Iterable[Task], gone: Iterable[str], scope: list[str] | None) -> None:
        """A root's files to read and files gone; `scope`: what its walk covered (None: the root)."""
        self._scopes[root_id] = scope
        for path, task in [*((t.path, t) for t in todo), *((p, None) for p in gone)]:
            folder, name = os.path.split(path)
            part = _part(name)
            if part is not None:
                self._names.setdefault((root_id, folder), set()).add(part[0])
                if task is not None and part[1] in _SHOWN:
                    self._todo[path] = task

    def first(self, todo: list[Task]) -> list[Task]:
        """The files to read now: `todo` less the RAWs and movies beside a picture of their name."""
        for (root_id, folder), names in self._names.items():
            try:
                listed = os.listdir(folder or ".")
            except OSError:  # gone, or unreadable: the walk has said so
                continue
            pairs: dict[str, _Pair] = {}
            if len(names) <= 16:  # a few names changed here (a watcher's batch): only theirs looked at
                starts = tuple(f"{stem}." for stem in names)
                listed = [n for n in listed if n.startswith(starts)]
            for name in listed:
                part = _part(name)
                if part is not None and part[0] in names:
                    pair = pairs.setdefault(part[0], _Pair(root_id))
                    (pair.pictures if part[1] in _PICTURES else pair.shown).append(os.path.join(folder, name))
            # a RAW or movie to read with no picture beside it is read at once, as any file
            self._pairs += [p for p in pairs.values() if p.pictures and p.shown or set(p.shown) - self._todo.keys()]
        self._waiting = {path for p in self._pairs if p.pictures for path in p.shown if path in self._todo}
        return [t for t in todo if t.path not in self._waiting] if self._waiting else todo

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def __bool__(self) -> bool:
        """Whether anything is left for `then` (a re-scan of unchanged files: never)."""
        return bool(self._pairs)

    def then(self, catalog: CatalogBackend, report: IndexReport, indexed_before: set[str],
             replaced: set[str]) -> list[Task]:
        """Once the rest is written: the RAWs and movies that waited, and those read before whose
        pairing may have changed, each told the picture it is shown with (None: on its own). One
        that was indexed joins `indexed_before`, its content `replaced` (pruned if it is left with
        no file); one this run's walk counted as unchanged is not counted so any more."""
        again: list[Task] = []
        for root_id in {p.root_id for p in self._pairs}:
            pairs = [p for p in self._pairs if p.root_id == root_id]
            asked = [path for p in pairs for path in (*p.pictures, *p.shown) if path not in self._todo]
            rows = catalog.files_of_root(root_id, asked) if asked else {}
            for pair in pairs:
                indexed = [path for path in pair.pictures if (rec := rows.get(path)) and rec.status == "ok"]
                for path in pair.shown:
                    partner = _partner(path, indexed)
                    if path in self._todo:
                        if path in self._waiting:
                            again.append(replace(self._todo[path], shown_with=partner))
                        continue
                    rec = rows.get(path)
                    if rec is None or partner is None and not (rec.status == "skipped" and rec.reason in PAIRED):
                        continue  # not the catalog's (left out by the walk), or on its own and staying so
                    if rec.status == "ok":
                        indexed_before.add(path)
                        replaced.add(rec.content_hash)
                    report.unchanged -= _walked(path, self._scopes[root_id])
                    again.append(Task(path, root_id, rec.size, rec.mtime_ns, partner))
        return again


def _partner(path: str, pictures: list[str]) -> str | None:
    """The picture a RAW (or movie) is shown with, among the indexed pictures of its name: the
    camera's JPEG before its HEIF for a RAW, a Live Photo's HEIC before its JPEG for a movie."""
    order = RAW_JPEGS if path.rpartition(".")[2].lower() in _RAWS else LIVE_STILLS

    def rank(picture: str) -> tuple[int, bool]:
        ext = picture.rpartition(".")[2]
        return order.index(ext.lower()), ext != ext.upper()  # .JPG before .jpg, as cameras write it
    return min(pictures, key=rank, default=None)


def _walked(path: str, scope: list[str] | None) -> bool:
    """Whether the run's walk met this file (and counted it unchanged)."""
    return scope is None or any(path == s or path.startswith(s.rstrip(os.sep) + os.sep) for s in scope)
