"""Which files an index run is decoding, kept where a crash of the whole process leaves them.

A native decoder (libheif, LibRaw, libjxl, FFmpeg) that crashes on one file kills the process:
no exception, no skip, and the next run decodes the same file and dies again. So each run keeps
a journal, one small file per run in the catalog's journal folder (`CatalogBackend.journal_folder`):
one fixed slot per reader thread, the file's path written into it before the read and cleared
after, two `pwrite`s and no fsync (a few µs a file, `benchmarks/inflight.py`): what a crashed
process wrote is in the OS's buffers and reaches the file all the same. (Not a memory map: on a
full copy-on-write disk a write into one is a SIGBUS, the very death this is here for.) A write
that fails (a full disk) ends the journaling, never the run. A run that ends in Python removes
its journal; one whose process died leaves it, unlocked, and the next run takes the paths in it
as *suspects* (`indexing.quarantine`).

Each run's journal holds an OS file lock (`flock`) while it lives, so runs on a shared catalog
that share this machine's folder never take each other's journals for a dead run's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one run at a time is all there is (`catalogs.lock`)
    fcntl = None  # type: ignore[assignment]

SLOT = 4352  # bytes per slot: a header and a path of up to 4,096 bytes (PATH_MAX); longer ones go unrecorded
SUFFIX = ".inflight"


class Journal:
    """This run's journal: `open` takes over what dead runs left (path -> strikes, see
    `indexing.quarantine`) and keeps it here until `close` says it is settled; `reading` marks
    one file as being decoded by the calling thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd = -1
        self._path: Path | None = None
        self._slots = 0  # slots handed out
        self._held: dict[str, int] = {}  # path -> its slot: suspects kept until settled
        self._lock = threading.Lock()
        self._local = threading.local()
        self._reading = 0  # reads in progress: the file is closed after the last, never under one
        self._closing = False
        self._failed = False  # a write failed: the run goes on unjournaled

    def open(self) -> dict[str, int]:
        """Start this run's journal; the suspects dead runs left, with their strikes. Nothing is
        journaled when the folder cannot be written (the run goes on, as before journals)."""
        fresh = self.folder / f"{os.getpid()}-{os.urandom(6).hex()}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # before its name says "journal": never taken for a dead run's
            os.rename(fresh, fresh.with_name(fresh.name + SUFFIX))
        except OSError:
            if self._fd >= 0:
                os.close(self._fd)
                fresh.unlink(missing_ok=True)
            self._fd = -1
            return {}
        self._path = fresh.with_name(fresh.name + SUFFIX)
        suspects: dict[str, int] = {}
        dead = self._dead()
        for path, strikes in (entry for entries in dead.values() for entry in entries):
            suspects[path] = max(strikes, suspects.get(path, 0))
        for path, strikes in suspects.items():
            if self._write(self._slots, path, strikes):
                self._held[path] = self._slots
            self._slots += 1
        for journal in dead if not self._failed else ():  # their entries are this journal's now
            journal.unlink(missing_ok=True)
        return suspects

    def _dead(self) -> dict[Path, list[tuple[str, int]]]:
        """The entries (path, strikes) of each journal that no live run holds."""
        dead: dict[Path, list[tuple[str, int]]] = {}
        for name in sorted(os.listdir(self.folder)):
            path = self.folder / name
            if not name.endswith(SUFFIX) or path == self._path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                dead[path] = list(_entries(path.read_bytes()))
            except OSError:  # BlockingIOError: a run alive on this machine holds it
                continue
            finally:
                os.close(fd)
        return dead

    def _write(self, slot: int, path: str, strikes: int) -> bool:
        name = os.fsencode(path)
        entry = b"+%d %d\n" % (strikes, len(name)) + name
        return len(entry) <= SLOT and self._pwrite(entry, slot)

    def _pwrite(self, data: bytes, slot: int) -> bool:
        try:
            os.pwrite(self._fd, data, slot * SLOT)
            return True
        except OSError:  # a full disk, say: no more journaling in this run
            self._failed = True
            return False

    @contextmanager
    def reading(self, path: str, strikes: int = 0) -> Iterator[None]:
        """`path` is being decoded by this thread (`strikes`: how often a run died with it so far)."""
        with self._lock:
            journaled = self._fd >= 0 and not self._closing and not self._failed
            if journaled:
                self._reading += 1
                slot = getattr(self._local, "slot", None)
                if slot is None:
                    slot = self._local.slot = self._slots
                    self._slots += 1
        if not journaled:
            yield
            return
        written = self._write(slot, path, strikes)
        try:
            yield
        finally:
            if written:
                self._pwrite(b"-", slot)
            with self._lock:
                self._reading -= 1
                if self._closing and not self._reading:
                    self._close_file()

    def close(self, settled: set[str] | None) -> None:
        """End this run's journal. `settled`: the suspects this run has written an outcome for,
        and dropped (None: all of them); the others stay for the next run. Called only when the
        run ends in Python (a run whose process died never gets here). A read still running (a
        reader thread left behind by Ctrl-C) keeps the file open until it ends."""
        if self._fd < 0:
            return
        for path, slot in self._held.items():
            if settled is None or path in settled:
                self._pwrite(b"-", slot)
        assert self._path is not None
        if settled is None or not set(self._held) - settled:
            self._path.unlink(missing_ok=True)
        with self._lock:
            self._closing = True
            if not self._reading:
                self._close_file()

    def _close_file(self) -> None:
        os.close(self._fd)  # the lock goes: a journal left behind is the next run's
        self._fd = -1


def _entries(data: bytes) -> Iterator[tuple[str, int]]:
    """(path, strikes) of each slot in use; a slot that cannot be read is passed over."""
    for at in range(0, len(data), SLOT):
        slot = data[at:at + SLOT]
        head, _, rest = slot.partition(b"\n")
        if not head.startswith(b"+"):
            continue
        try:
            strikes, length = map(int, head[1:].split())
        except ValueError:
            continue
        if 0 < length <= len(rest):
            yield os.fsdecode(rest[:length]), strikes
