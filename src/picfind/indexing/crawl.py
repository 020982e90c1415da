"""Walking the roots: which files are candidates, and which cannot even be looked at.

Directory symlinks are followed once (a loop is reported, not walked forever); unreadable
folders and broken links are reported with a reason instead of stopping the walk. A folder that
cannot be read is a `place`: what was indexed under it is kept (offline), not deleted.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

# What operating systems, phones, NASes and sync tools leave beside pictures: never what a person
# took (trash, old versions, thumbnails, resource forks). Stored with each root when it is added
# (`index --no-default-excludes` leaves them out); listed in docs/guide/commands.md.
CLUTTER = (
    ".thumbnails", ".thumbnail", ".thumbs", ".cache", ".trashed-*", ".pending-*",  # Android, Linux caches
    ".Trash", ".Trash-*", ".trash", ".Trashes", "$RECYCLE.BIN", "RECYCLER", "System Volume Information",
    "lost+found", "._*", ".AppleDouble", ".AppleDB", ".Spotlight-V100", ".fseventsd",  # macOS, Windows
    ".DocumentRevisions-V100", ".TemporaryItems",
    ".stversions", ".stfolder", ".sync", ".dropbox.cache", "@eaDir", "#recycle", "@Recycle", ".@__thumb",
    ".recycle", ".SynologyWorkingDirectory",  # sync tools, Synology and QNAP NASes, Samba
    ".picasaoriginals", ".dtrash",  # Picasa's originals of edited pictures, digiKam's trash
)
DEFAULT_EXCLUDES = (*CLUTTER, "node_modules", ".git", ".picfind")


@dataclass(frozen=True)
class Found:
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



def _excluded(name: str, rel: str, excludes: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, g) or fnmatch.fnmatch(rel, g) for g in excludes)


def excluded_path(root: str, path: str, excludes: list[str]) -> bool:
    """Whether the walk of `root` would leave `path` out: it, or a folder on the way down, matches."""
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    return any(_excluded(parts[i], os.path.join(*parts[:i + 1]), excludes) for i in range(len(parts)))


def walk(root: str, extensions: list[str], excludes: list[str],
         skip: set[Identity] = frozenset(), start: str | None = None) -> Iterator[Found | Unreachable]:
    """Yield every file under `root` with a wanted extension, and every place that failed;
    `skip`: files and folders never to look at or into (picfind's own, other roots).
    `start`: walk only this file or folder inside `root` (what changed, for `picfind watch`);
    one that no longer exists yields nothing, so what was known under it is gone."""
    wanted = {"." + e for e in extensions}
    visited: set[tuple[int, int]] = set()
    if start is not None and start != root:
        yield from _walk_from(root, start, wanted, excludes, skip)
        return
    try:
        st = os.stat(root)
        visited.add((st.st_dev, st.st_ino))
    except OSError as e:
        yield Unreachable(root, "unreadable folder", e.strerror or str(e), place=True)
        return
    yield from _walk_folders([root], root, wanted, excludes, skip, visited)


def _walk_from(root: str, start: str, wanted: set[str], excludes: list[str],
               skip: set[Identity]) -> Iterator[Found | Unreachable]:
    if excluded_path(root, start, excludes):
        return
    try:
        st = os.stat(start)
    except FileNotFoundError:
        return
    except OSError as e:  # a folder on the way cannot be read: what was under it is kept offline
        yield Unreachable(start, "unreadable folder", e.strerror or str(e), place=True)
        return
    if (st.st_dev, st.st_ino) in skip:
        return
    if stat.S_ISDIR(st.st_mode):
        yield from _walk_folders([start], root, wanted, excludes, skip, {(st.st_dev, st.st_ino)})
    elif stat.S_ISREG(st.st_mode) and os.path.splitext(start)[1].lower() in wanted:
        yield Found(start, st.st_size, st.st_mtime_ns)


def _walk_folders(stack: list[str], root: str, wanted: set[str], excludes: list[str], skip: set[Identity],
                  visited: set[Identity]) -> Iterator[Found | Unreachable]:
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            reason = "permission denied" if isinstance(e, PermissionError) else "unreadable folder"
            yield Unreachable(folder, reason, e.strerror or str(e), place=True)
            continue
        subdirs = []
        for entry in entries:
            rel = os.path.relpath(entry.path, root)
            if _excluded(entry.name, rel, excludes):
                continue
            try:
                st = entry.stat()  # follows symlinks
            except OSError as e:
                if entry.is_symlink():
                    reason = "symlink loop" if e.errno == 40 else "broken symlink"
                    if os.path.splitext(entry.name)[1].lower() in wanted or reason == "symlink loop":
                        yield Unreachable(entry.path, reason, e.strerror or str(e))
                    else:  # perhaps a link to a drive that is not plugged in
                        yield Unreachable(entry.path, reason, e.strerror or str(e), place=True)
                else:
                    yield Unreachable(entry.path, "unreadable", e.strerror or str(e))
                continue
            if (st.st_dev, st.st_ino) in skip:
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in visited:
                    if entry.is_symlink():
                        yield Unreachable(entry.path, "symlink loop", "links back to a folder already walked")
                    continue
                visited.add(key)
                subdirs.append(entry.path)
            elif os.path.splitext(entry.name)[1].lower() in wanted:
                if stat.S_ISREG(st.st_mode):
                    yield Found(entry.path, st.st_size, st.st_mtime_ns)
                else:  # a FIFO named .mp4 would block a reader for ever
                    yield Unreachable(entry.path, "not a regular file", "a pipe, device or socket")
        stack.extend(reversed(subdirs))
