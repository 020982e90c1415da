"""`picfind serve --watch`: the catalog kept current on a thread of its own, with its own library
(SQLite connections belong to one thread). Its batches reach searches at once: the search side
sees the catalog's vector log move. The page polls `state` (/api/watch) to offer new pictures."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from picfind.errors import terminal
from picfind.library import Library

if TYPE_CHECKING:
    from picfind.indexing.watch import Batch

RETRY_SECONDS = 30
OFF = {"on": False, "batches": 0, "changes": 0, "last": None, "error": None}


class Watching:
    def __init__(self, db: Path | str, model: str | None) -> None:
        self.db, self.model = db, model
        self.state = {**OFF, "on": True}  # read by the event loop, written by the thread (whole values)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="picfind-watch", daemon=True)
        self.thread.start()

    def _batch(self, b: Batch) -> None:
        self.state["batches"] += 1
        if b.changed:
            self.state["changes"] += 1
            self.state["last"] = time.time()
            _say(b.line())

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                with Library(self.db, model=self.model) as lib:
                    lib.watch(on_batch=self._batch, on_note=_say, stop=self.stop,
                              waiting=lambda holder: _say(f"waiting for {holder} to finish indexing"))
            except Exception as e:  # noqa: BLE001 - the page keeps serving; the terminal says why
                self.state["error"] = str(e)
                _say(f"watching stopped: {e}; starting again in {RETRY_SECONDS} s (its first scan catches up)")
                self.stop.wait(RETRY_SECONDS)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)  # the batch under way is finished and committed


def _say(line: str) -> None:
    print(f"picfind: {terminal(line)}", file=sys.stderr, flush=True)
