"""Walking the roots: which files are candidates, and which cannot even be looked at.

Folder symlinks that lead out of the root are followed (a loop is reported, not walked forever;
one that leads into the root is reported, its pictures found at their own path); unreadable
folders and broken links are reported with a reason instead of stopping the walk. A folder that
cannot be read is a `place`: what was indexed under it is kept (offline), not deleted.
"""

from __future__ import annotations

import errno
import fnmatch
import functools
import operator
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

# the default excludes, stored with each root (they live in `picfind.records`, for the schema steps)
from picfind.records import CLUTTER, DEFAULT_EXCLUDES, FS  # noqa: F401 - the names benchmarks import from here


class Found(NamedTuple):
    """A file the walk found (a tuple: a re-scan makes one a file)."""
    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Unreachable:
    path: str
    reason: str
    detail: str
    place: bool = False  # a folder (or a link to one, now broken): files known under it are offline


Identity = tuple[int, int]  # (st_dev, st_ino)


def identities(paths: list[str]) -> set[Identity]:
    """The files and folders among these paths that exist, as the walk recognises them."""
    out = set()
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.add((st.st_dev, st.st_ino))
    return out


_NAME = operator.attrgetter("name")  # the order a folder is walked in
_FOLDS = os.path.normcase("A") != "A"  # names compared case-folded (Windows); elsewhere as they are


def _excluded(pattern: re.Pattern | None, name: str, folder: str, firsts: frozenset[str] | None = None) -> bool:
    """Whether an entry is left out: its name, or its path from the root (`folder` + name, `folder`
    ending in a separator or empty), matches a root's excludes. `firsts`: the characters every
    exclude starts with (`_firsts`), to answer most names at once."""
    if pattern is None or firsts is not None and name[:1] not in firsts and (folder or name)[:1] not in firsts:
        return False
    rel = folder + name
    if _FOLDS:
        name, rel = os.path.normcase(name), os.path.normcase(rel)
    return pattern.match(name) is not None or pattern.match(rel) is not None


@functools.lru_cache(maxsize=64)
def _compiled(excludes: tuple[str, ...]) -> re.Pattern | None:
    """A root's exclude globs as one expression: the walk asks it twice a file, where matching
    each of the 35 default globs in turn cost a re-scan several times its walk."""
    return re.compile("|".join(fnmatch.translate(os.path.normcase(g)) for g in excludes)) if excludes else None


@functools.lru_cache(maxsize=64)
def _firsts(excludes: tuple[str, ...]) -> frozenset[str] | None:
    """The first characters of these globs in either case (None: one starts with a wildcard)."""
    if any(g[:1] in "*?[" for g in excludes):
        return None
    return frozenset(c for g in excludes for c in (g[:1].lower(), g[:1].upper()))


def excluded_path(root: str, path: str, excludes: list[str]) -> bool:
    """Whether the walk of `root` would leave `path` out: it, or a folder on the way down, matches."""
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    pattern = _compiled(tuple(excludes))
    return any(_excluded(pattern, parts[i], os.path.join(*parts[:i], "")) for i in range(len(parts)))


class Sieve:
    """Files a walk need not yield: those the catalog knows at the size and time they have.
    `rows`: the catalog's (path, size, mtime_ns) by the path's bytes; a file found as known is
    taken out of them and counted, a changed one left in. A re-scan's million unchanged files
    then cost the walk a dictionary lookup each, not a tuple handed to another thread."""

    def __init__(self, rows: dict[bytes, tuple] | None = None) -> None:
        self.rows, self.count = rows, 0


def walk(root: str, extensions: list[str], excludes: list[str], skip: set[Identity] = frozenset(),
         start: str | None = None, sieve: Sieve | None = None) -> Iterator[Found | Unreachable]:
    """Yield every file under `root` with a wanted extension, and every place that failed;
    `skip`: files and folders never to look at or into (picfind's own, other roots).
    `start`: walk only this file or folder inside `root` (what changed, for `picfind watch`),
    by the same rules and with the same answers as the whole walk (one that no longer exists
    yields nothing, so what was known under it is gone). `sieve`: files not to yield."""
    w = _Walk(root, {"." + e for e in extensions}, excludes, skip, sieve or Sieve())
    try:
        st = os.stat(root)
        w.visited.add((st.st_dev, st.st_ino))
    except OSError as e:
        yield Unreachable(root, "unreadable folder", e.strerror or str(e), place=True)
        return
    if start is not None and start != root:
        yield from w.scoped(start)
    else:
        yield from w.folders([root])


class _Walk:
    """One walk's rules, shared by the whole walk and a scoped one. Order-independent, so a scoped
    walk can decide on its own what the whole walk would: a folder link is followed only when it
    leads out of the root (a link to a folder inside it would list the same pictures twice under
    two paths, and `dupes` would offer one as a deletable copy of itself), and never into a folder
    on its own way down (a loop)."""

    def __init__(self, root: str, wanted: set[str], excludes: list[str], skip: set[Identity], sieve: Sieve) -> None:
        self.root, self.wanted, self.excludes, self.skip, self.sieve = root, wanted, excludes, skip, sieve
        self.pattern = _compiled(tuple(excludes))  # asked twice a file: looked up once a walk
        self.firsts = _firsts(tuple(excludes))
        self.real = os.path.realpath(root)
        self.visited: set[Identity] = set()

    def scoped(self, start: str) -> Iterator[Found | Unreachable]:
        """`start` as the whole walk would meet it: every folder on the way down must be one it
        walks into (no excluded one, no link back into the root, no loop)."""
        if excluded_path(self.root, start, self.excludes):
            return
        parts = os.path.relpath(start, self.root).split(os.sep)
        if ".." in parts:
            return
        path = self.root
        for i, name in enumerate(parts):
            path, last = os.path.join(path, name), i == len(parts) - 1
            try:
                st = os.stat(path)
            except OSError as e:
                if last and os.path.islink(path):  # the start itself: a broken link, a loop of links
                    yield from self._broken(path, name, e)
                elif not isinstance(e, FileNotFoundError) and e.errno != errno.ELOOP:
                    yield Unreachable(path, "unreadable folder", e.strerror or str(e), place=True)
                return  # gone, or through a link the whole walk does not follow: what was known under it goes
            got = self._entry(path, name, st, os.path.islink(path))
            if not last:
                if not isinstance(got, str):
                    return  # a folder the whole walk does not enter
            elif isinstance(got, str):
                yield from self.folders([got])
            elif got is not None:
                yield got

    def folders(self, stack: list[str]) -> Iterator[Found | Unreachable]:
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=_NAME)
            except OSError as e:
                reason = "permission denied" if isinstance(e, PermissionError) else "unreadable folder"
                yield Unreachable(folder, reason, e.strerror or str(e), place=True)
                continue
            subdirs = []
            base = os.path.relpath(folder, self.root)  # once a folder: per file it was half of a re-scan's time
            prefix = "" if base == "." else base + os.sep
            for entry in entries:
                name = entry.name
                if _excluded(self.pattern, name, prefix, self.firsts):
                    continue
                try:
                    st = entry.stat()  # follows symlinks
                except OSError as e:
                    if entry.is_symlink():
                        yield from self._broken(entry.path, name, e)
                    else:
                        yield Unreachable(entry.path, "unreadable", e.strerror or str(e))
                    continue
                if not stat.S_ISDIR(st.st_mode):  # most entries: a file, asked straight
                    got = self._file(entry.path, name, st)
                else:
                    got = self._folder(entry.path, st, entry.is_symlink())
                    if isinstance(got, str):
                        subdirs.append(got)
                        continue
                if got is not None:
                    yield got
            stack.extend(reversed(subdirs))

    def _broken(self, path: str, name: str, e: OSError | None) -> Iterator[Unreachable]:
        loop = e is not None and e.errno == errno.ELOOP
        reason, detail = ("symlink loop" if loop else "broken symlink"), (e.strerror or str(e)) if e else "broken"
        if extension(name) in self.wanted or loop:
            yield Unreachable(path, reason, detail)
        else:  # perhaps a link to a drive that is not plugged in
            yield Unreachable(path, reason, detail, place=True)

    def _entry(self, path: str, name: str, st: os.stat_result, link: bool) -> Found | Unreachable | str | None:
        """What the walk makes of one entry: a file found, a reason, a folder to walk (its path), or nothing."""
        return self._folder(path, st, link) if stat.S_ISDIR(st.st_mode) else self._file(path, name, st)

    def _folder(self, path: str, st: os.stat_result, link: bool) -> Unreachable | str | None:
        """A folder: its path to walk into, a reason not to, or nothing (skipped, or walked already)."""
        key = (st.st_dev, st.st_ino)
        if key in self.skip:
            return None
        if link:
            target = os.path.realpath(path)
            if _inside(os.path.realpath(os.path.dirname(path)), target):
                return Unreachable(path, "symlink loop", "links back to a folder on its own way down")
            if _inside(target, self.real):
                return Unreachable(path, "folder link inside the root",
                                   "its pictures are indexed where it leads, at their own path")
            if key in self.visited:
                return Unreachable(path, "symlink loop", "links to a folder already walked")
        elif key in self.visited:  # a folder reached twice (a bind mount): walked once
            return None
        self.visited.add(key)
        return path

    def _file(self, path: str, name: str, st: os.stat_result) -> Found | Unreachable | None:
        """Anything else: a file found, a reason, or nothing (not a wanted kind, or picfind's own)."""
        if extension(name) not in self.wanted or (st.st_dev, st.st_ino) in self.skip:
            return None
        if not stat.S_ISREG(st.st_mode):
            return Unreachable(path, "not a regular file", "a pipe, device or socket")  # a FIFO would block a reader
        rows = self.sieve.rows
        if rows is not None:  # (inline: a call a file would cost a tenth of the walk)
            key = path.encode(*FS)
            row = rows.pop(key, None)
            if row is not None:
                if row[1] == st.st_size and row[2] == st.st_mtime_ns:
                    self.sieve.count += 1
                    return None
                rows[key] = row  # changed: the planner takes it with the file
        return Found(path, st.st_size, st.st_mtime_ns)


def extension(name: str) -> str:
    """`os.path.splitext(name)[1].lower()` (leading dots are not an extension), at a fifth of its
    cost: the walk asks it of every file."""
    dot = name.rfind(".")
    if dot <= 0 or name[0] == "." and not name[:dot].lstrip("."):
        return ""
    return name[dot:].lower()


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
