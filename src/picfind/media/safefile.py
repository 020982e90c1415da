"""Opening a picture file without trusting the path: regular files only, within a size limit,
and, for serving, only the very file that was indexed.

A FIFO named `x.jpg` would block a plain `open()` forever and `/dev/zero` would read until
memory runs out, so files are opened non-blocking and checked with `fstat` on the open file
(no gap between the check and the read). A file served to the web must still be the indexed
one: reached inside a root as the walk reaches it (the folder links it follows included), and its
size and time unchanged, or else its content hash unchanged.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

MAX_FILE_BYTES = 1 << 30  # the largest picture file picfind reads


def _open_regular(path: str, limit: int) -> BinaryIO:
    """The open file, or ValueError saying in one line why it is not a picture file."""
    if not path:
        raise ValueError("an empty path: name an image file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror or e}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a pipe, device or socket)"
        raise ValueError(f"{path} is {kind}: name an image file")
    if st.st_size > limit:
        os.close(fd)
        raise ValueError(f"{path} is too large ({st.st_size:,} bytes; the limit is {limit:,})")
    return os.fdopen(fd, "rb")


def read_regular(path: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, at most `limit` of them (a file growing meanwhile is cut short)."""
    with _open_regular(path, limit) as f:
        return f.read(limit + 1)[:limit]


@dataclass(frozen=True)
class Indexed:
    """What the catalog says of one file, enough to open it only while it is still that file
    (`open`). Asked of the catalog on one thread; opened, and hashed if need be, on another."""
    path: str
    roots: tuple[str, ...]
    size: int
    mtime_ns: int
    content_hash: str
    hasher: Callable[[bytes], str]
    limit: int
    stream_hasher: Callable[[BinaryIO], str] | None = None

    def open(self) -> BinaryIO | None:
        return open_indexed(self.path, self.roots, self.size, self.mtime_ns, self.content_hash, self.hasher,
                            self.limit, self.stream_hasher)


def open_indexed(path: str, roots: Iterable[str], size: int, mtime_ns: int, content_hash: str,
                 hasher: Callable[[bytes], str], limit: int,
                 stream_hasher: Callable[[BinaryIO], str] | None = None) -> BinaryIO | None:
    """The indexed file, opened, when it is still that file; else None (the caller answers 404).
    `stream_hasher` hashes the open file itself (a video: never read whole into memory). A file
    whose size or time changed is hashed once per (device, inode, size, time, ctime): a touched
    1.5 GB video is not read again on every request."""
    try:
        f = _open_regular(path, limit)
    except ValueError:
        return None
    try:
        real = _opened_path(f, path)
        if not (any(_inside(real, os.path.realpath(r)) for r in roots) or _walked_to(path, real, roots)):
            raise LookupError(real)
        st = os.fstat(f.fileno())
        if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
            key = (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if _HASHES.get(key, lambda: stream_hasher(f) if stream_hasher else hasher(f.read(limit + 1))) \
                    != content_hash:
                raise LookupError(real)
            f.seek(0)
        return f
    except (LookupError, OSError):
        f.close()
        return None


class _Hashes:
    """Content hashes of changed files, by (path, device, inode, size, time, ctime): each asked
    once, however many requests ask at the same time (the others wait for that one)."""

    def __init__(self, most: int = 256) -> None:
        self.most = most
        self.known: OrderedDict[tuple, str] = OrderedDict()
        self.lock = threading.Lock()
        self.busy: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, compute: Callable[[], str]) -> str:
        with self.lock:
            if key in self.known:
                self.known.move_to_end(key)
                return self.known[key]
            one = self.busy.setdefault(key, threading.Lock())
        with one:
            with self.lock:
                if key in self.known:
                    return self.known[key]
            try:
                digest = compute()
            finally:
                with self.lock:
                    self.busy.pop(key, None)
            with self.lock:
                self.known[key] = digest
                while len(self.known) > self.most:
                    self.known.popitem(last=False)
            return digest


_HASHES = _Hashes()


def _walked_to(path: str, real: str, roots: Iterable[str]) -> bool:
    """Whether the walk reaches the opened file at `path`: a path inside a root, through folder
    (or file) links the walk follows, that still leads where the file was opened. Results list
    such files (`crawl.walk`), so the page must open them too; that it is the very file indexed
    is checked after, by size and time or content hash."""
    return (os.path.isabs(path) and os.path.normpath(path) == path and any(_inside(path, r) for r in roots)
            and os.path.realpath(path) == real)


def _opened_path(f: BinaryIO, path: str) -> str:
    """Where the open file really is: the kernel's answer on Linux, realpath elsewhere."""
    try:
        return os.readlink(f"/proc/self/fd/{f.fileno()}")
    except OSError:
        return os.path.realpath(path)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
