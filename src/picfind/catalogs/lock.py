"""One `picfind index` at a time per catalog: a lock file beside it.

Two runs over one catalog would both read and embed every new file (hours of work done twice).
The second waits for the first, and says which process it waits for. The lock is an OS file
lock (`flock`), so it goes away with its process, even after kill -9: no stale lock to clear.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from picfind.records import CatalogError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's own locking is all there is
    fcntl = None  # type: ignore[assignment]

Waiting = Callable[[str], None]  # told once, with the holder's pid (or "another process")


def lock_path(catalog: Path) -> Path:
    return catalog.with_name(catalog.name + ".lock")


@contextmanager
def index_lock(catalog: Path, waiting: Waiting | None = None) -> Iterator[None]:
    """Hold the catalog's index lock; when another process holds it, tell `waiting`, then wait."""
    if fcntl is None:
        yield
        return
    path = lock_path(catalog)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise CatalogError(f"cannot create the index lock {path}: {e.strerror or e} "
                           "(is the catalog's folder read-only?)") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                waiting(f"pid {holder}" if holder.isdigit() else "another process")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
