"""A root's walk compared with what the catalog knows of it: the files to read, the places that
failed, and the catalog's rows the walk did not meet (gone, or offline).

A re-scan of a million unchanged files is two long reads: the catalog's rows for the root, and the
file system (a stat a file). The sizes and times are read first (a million rows, made at C speed;
read beside the walk, each row's hand-back of the GIL would wait on the walk's thread); then the
walk runs on a thread of its own (`Ahead`) and sieves (`crawl.Sieve`): a file the catalog knows
at its size and time costs one dictionary lookup there, and is never handed over. Meanwhile the
catalog finds, in SQL, the few files that still want something (`unsettled_of_root`: long steps
that let the GIL go); those the sieve passed are taken back when the walk is over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from picfind.indexing.ahead import Ahead
from picfind.indexing.crawl import Found, Identity, Sieve, Unreachable, walk
from picfind.records import FS, Root, fs

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend


@dataclass
class Compared:
    changed: list[tuple[Found, bool]] = field(default_factory=list)  # to read; True: the path was known
    unreachable: list[Unreachable] = field(default_factory=list)
    places: set[str] = field(default_factory=set)  # folders that could not be read: kept offline
    left: dict[bytes, tuple] = field(default_factory=dict)  # rows the walk did not meet
    files: int = 0  # files the walk met, unchanged ones too
    unchanged: int = 0

    @property
    def met(self) -> bool:
        return bool(self.files or self.unreachable)


def compare(catalog: CatalogBackend, root: Root, skip: set[Identity], starts: list[str] | None,
            model: str, analyses: list[tuple[str, str]], transient: set[str]) -> Compared:
    """Walk the root (`starts`: only these files and folders in it) beside the catalog's rows."""
    rows = catalog.sizes_of_root(root.id, starts)  # before the walk: a row at a time takes the GIL
    sieve = Sieve(rows)  # a file the catalog knows at its size and time is passed over in the walk
    found = Ahead(item for start in (starts or [None]) if starts != []
                  for item in walk(root.path, root.extensions, root.excludes, skip, start, sieve))
    try:
        unsettled = catalog.unsettled_of_root(root.id, starts, model, analyses, transient)  # beside the walk
    except BaseException:
        found.close()
        raise
    out = Compared(left=rows)
    take = rows.pop
    met: set[bytes] = set()  # the few files the walk yields: changed, new
    unreached: set[bytes] = set()
    for item in found:
        key = item.path.encode(*FS)
        if type(item) is not Found:
            assert isinstance(item, Unreachable)
            if item.place:
                out.places.add(item.path)
            if not item.place or item.reason != "broken symlink":  # a link to a folder is not a file
                take(key, None)
                unreached.add(key)
                out.unreachable.append(item)
            continue
        met.add(key)
        out.changed.append((item, take(key, None) is not None))  # (the sieve passed it over if unchanged)
    out.files = len(met) + sieve.count
    out.unchanged += sieve.count
    for key, (path, size, mtime_ns) in unsettled.items():  # passed for its size and time, yet wanting
        if key not in rows and key not in met and key not in unreached:
            out.changed.append((Found(fs(path), size, mtime_ns), True))
            out.unchanged -= 1
    return out
