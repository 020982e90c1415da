"""Suspects: files a run was decoding when its process died, each read alone in a child process
before this run risks its own life on it.

The journal (`indexing.inflight`) says which files were being decoded when a run died. Most were
innocent (they were read beside the one that crashed, or the run was killed); the culprit is
unknown. Each suspect is read alone in a child process (`trial`): one that kills the child is
skipped with reason `decoder crashed`, a skip like any other, so the catalog keeps it until the
file changes (and a changed file is a suspect again: tried alone first). A suspect that reads fine
alone is read here as any file, journaled with a strike: should the run die with it in flight
again (a crash the child did not reproduce, in OCR or face finding say), the next run skips it
without a trial, so no file can kill run after run.
"""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from picfind.indexing.inflight import Journal
from picfind.indexing.stages import IndexOptions, ReadResult, Task, read_file
from picfind.media.decode import SkipFile
from picfind.models.preprocess import Preprocessing

CRASHED = "decoder crashed"  # the skip reason of a file that killed the process decoding it
TRIAL_SECONDS = 600  # a suspect still being read alone after this long is given up on


class Quarantine:
    """One index run's journal and its suspects: `read` wraps the read stage of every file."""

    def __init__(self, folder: Path, trial: Callable[[Task], str | None]) -> None:
        self.journal = Journal(folder)
        self.trial = trial
        self.suspects = self.journal.open()  # path -> strikes: runs that died with it in flight, after a trial
        self.met: set[str] = set()

    def suspect(self, path: str) -> None:
        """A file to read alone first in this run (one that crashed a decoder, changed since)."""
        self.suspects.setdefault(path, 0)

    def read(self, task: Task, read: Callable[[Task], ReadResult]) -> ReadResult:
        """`read(task)`, journaled; a suspect read alone first (and skipped when that kills the child)."""
        strikes = self.suspects.get(task.path)
        if strikes is None:
            with self.journal.reading(task.path):
                return read(task)
        self.met.add(task.path)
        died = "picfind died twice while it was being read" if strikes else self.trial(task)
        if died:
            return ReadResult(task, skip=SkipFile(CRASHED, f"{died}; tried again when the file changes"))
        with self.journal.reading(task.path, strikes + 1):
            return read(task)

    def close(self, written: bool, whole: bool) -> None:
        """End the run's journal. `written`: the run wrote what it read (the outcome of each
        suspect it met); `whole`: it walked every root, so a suspect it did not meet is no longer
        in the library. Suspects not settled stay for the next run."""
        self.journal.close(None if written and whole else self.met if written else set())


def trial(task: Task, prep: Preprocessing, options: IndexOptions) -> str | None:
    """How a child process reading `task` alone (as the read stage does, without analyses) died;
    None when it did not (an error in Python is the read stage's to report, as a skip)."""
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=pickle.dumps((task, prep, options)),
                              capture_output=True, timeout=TRIAL_SECONDS)
    except subprocess.TimeoutExpired:
        return f"it was still being read alone after {TRIAL_SECONDS} s"
    except OSError:  # no child process to be had: read here, as before journals
        return None
    if done.returncode >= 0:
        return None
    try:
        how = signal.Signals(-done.returncode).name
    except ValueError:
        how = f"signal {-done.returncode}"
    return f"the decoder crashed on it ({how}) when it was read alone"


if __name__ == "__main__":  # the child of `trial`
    suspect, preprocessing, settings = pickle.loads(sys.stdin.buffer.read())
    read_file(suspect, frozenset(), preprocessing, settings)
