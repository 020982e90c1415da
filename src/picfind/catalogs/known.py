"""Which contents already have a vector, asked only for the contents an index run meets.

An index run must not decode or embed a content the catalog already holds (a copy, a rename, a
file touched without changing). It used to read every embedded hash into a set first: 10 million
hashes for a watch batch of 10 files. `KnownContents` asks the catalog's `has_vectors` about the
hashes the run actually reads (the planner asks in one batch for the files it re-checks, a
reader thread for one file it just hashed) and remembers the answers that are yes. A Ray run's
workers hold one too, whose lookup asks the driver about a batch's contents at once
(`among`, `indexing/ray_questions.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

WHOLE_FROM = 50_000  # contents asked about at once: read them all instead (a whole re-scan)
Lookup = Callable[[list[str]], set[str]]  # these hashes -> those among them with vectors (thread-safe)


class KnownContents:
    """A set-like view of one model's embedded contents (pictures, and videos with frames).

    `in` asks the catalog (once per hash that is not yet known); `add` records a content embedded
    in this run. `everything` reads every embedded content, for a whole re-scan (`prefetch`);
    without it, every question goes to `lookup`."""

    def __init__(self, lookup: Lookup, everything: Callable[[], Iterable[str]] | None = None) -> None:
        self._lookup = lookup
        self._everything = everything
        self._yes: set[str] = set()
        self._lock = threading.Lock()

    def prefetch(self, hashes: Iterable[str | None]) -> None:
        """Ask once for many (the files a run re-checks), instead of one question each. A whole
        re-scan asks about every file: past `WHOLE_FROM` contents one read of every embedded
        content is cheaper than as many lookups."""
        wanted = set(hashes) - self._yes  # in C: a whole re-scan hands a million
        wanted.discard(None)
        wanted.discard("")
        if wanted:
            with self._lock:
                if self._everything is not None and len(wanted) >= WHOLE_FROM:
                    self._yes |= set(self._everything())
                else:
                    self._yes |= self._lookup(sorted(wanted))

    def among(self, hashes: list[str]) -> list[str]:
        """Those of these hashes that are known, asking once about all not yet known (a Ray
        worker's question, answered by the driver)."""
        self.prefetch(hashes)
        return [h for h in hashes if h in self._yes]

    def __contains__(self, content_hash: object) -> bool:
        if not isinstance(content_hash, str) or not content_hash:
            return False
        if content_hash in self._yes:
            return True
        with self._lock:
            found = self._lookup([content_hash])
            self._yes |= found
        return content_hash in found

    def add(self, content_hash: str) -> None:
        self._yes.add(content_hash)
