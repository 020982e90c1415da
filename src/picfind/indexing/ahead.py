"""The walk on a thread of its own, so the planner asks the catalog meanwhile.

A re-scan (`rescan.compare`) walks here while the catalog finds, in SQL, the files that still
want something: the walk's stats and SQLite's steps both let go of the GIL, so on two cores they
overlap. The planner then takes what the walk found (with a sieve, only what changed) as it
comes. A watcher's scoped walks go the same way (a thread is started in well under a millisecond).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()
_BATCH = 512  # items handed over at a time: a queue operation per file would cost a tenth of the walk


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Ahead(Generic[T]):
    """Iterate over `items` on a thread started now; iterating this yields them in order and
    raises what the walk raised. `close()` (or the end of iteration) stops the thread early."""

    def __init__(self, items: Iterator[T]) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name="picfind-walk", daemon=True)
        self._thread.start()

    def _run(self, items: Iterator[T]) -> None:
        batch: list[T] = []
        try:
            for item in items:
                batch.append(item)
                if len(batch) >= _BATCH:
                    if self._stop.is_set():
                        return
                    self._queue.put(batch)
                    batch = []
            self._queue.put(batch)
        except Exception as e:  # noqa: BLE001 - raised in the planner, where the walk would have
            self._queue.put(batch)
            self._queue.put(_Failed(e))
        finally:
            self._queue.put(_END)

    def __iter__(self) -> Iterator[T]:
        try:
            while (got := self._queue.get()) is not _END:
                if isinstance(got, _Failed):
                    raise got.error
                yield from got
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
