"""A file that crashes a decoder (a segfault or an abort in native code, not an exception) kills
the run that meets it; the next run reads every other file, skips that one with its reason, and no
later run tries it again until it changes (`indexing.inflight`, `indexing.quarantine`). The real
CLI, a real process death.

The death is a Pillow plugin's, not a damaged file's: picfind keeps every input known to crash the
decoders it reads with from reaching them (`media.heif.sanitized`: the HEIC header strings that
crashed pi-heif 1.4 were these tests' file), and mutating HEIC, JPEG XL, DNG and TIFF files found
no other crash. So the tests' Python (its `sitecustomize`, `tests.unimportable.python_with`)
registers through Pillow's own extension point (`Image.register_open`) a PNG reader that aborts
the process when it decodes a PNG holding the text chunk `crash`, as a decoder's C code would; the
child that reads a suspect alone is that Python too. Every other PNG is read as Pillow reads it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from picfind import Library

from .conftest import picfind, write_shapes
from .test_watch import lines, until
from .unimportable import python_with

pytestmark = pytest.mark.slow

CRASHED = "decoder crashed"
CRASHING_PNG = '''import os

from PIL import Image, PngImagePlugin


class CrashingPng(PngImagePlugin.PngImageFile):
    """Pillow's PNG reader, except that a PNG with the text chunk `crash` kills the process as it is decoded."""

    def load(self):
        if "crash" in self.info:
            os.abort()
        return super().load()


Image.register_open(CrashingPng.format, CrashingPng, lambda prefix: prefix[:8] == b"\\x89PNG\\r\\n\\x1a\\n")
'''


@pytest.fixture
def crashing(tmp_path: Path) -> dict[str, str]:
    """The environment of a Python in which `odd_png(crash=True)` kills the process that decodes it."""
    return python_with(tmp_path / "site", CRASHING_PNG)


def odd_png(path: Path, crash: bool, colour: tuple[int, int, int] = (200, 30, 30)) -> None:
    info = PngImagePlugin.PngInfo()
    if crash:
        info.add_text("crash", "yes")
    Image.new("RGB", (64, 48), colour).save(path, pnginfo=info)


def index(db: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return picfind("index", *args, "--db", db, "--ext", "png", "--json", "--workers", "4", env=env)


def report(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def skipped(db: str) -> dict[str, tuple[str, str]]:
    files = report(picfind("status", "--db", db, "--skipped", "--json"))["skipped_files"]
    return {os.path.basename(f["path"]): (f["reason"], f["detail"]) for f in files}


def check_crash_then_quarantine(db: str, root: Path, env: dict[str, str]) -> None:
    write_shapes(root, 6)
    odd_png(root / "odd.png", crash=True)

    first = index(db, str(root), env=env)
    assert first.returncode == -signal.SIGABRT, first.stderr[-500:]

    second = report(index(db, env=env))
    assert second["skipped"] == {CRASHED: 1}
    reason, detail = skipped(db)["odd.png"]
    assert reason == CRASHED and "crashed on it (SIGABRT)" in detail
    with Library(db) as lib:
        assert lib.count() == 6  # every other picture, the suspects that were in flight beside it included

    third = report(index(db, env=env))
    assert third["unchanged"] == 7 and third["read"] == 0  # never tried again as it is

    os.utime(root / "odd.png", ns=(time.time_ns(), time.time_ns() + 10**9))  # changed: tried again, alone
    fourth = report(index(db, env=env))
    assert fourth["read"] == 1 and fourth["skipped"] == {CRASHED: 1}

    odd_png(root / "odd.png", crash=False, colour=(30, 200, 30))  # mended: indexed
    fifth = report(index(db, env=env))
    assert fifth["embedded"] == 1 and fifth["skipped_total"] == 0 and skipped(db) == {}


def test_a_file_that_crashes_the_decoder_kills_one_run_only(tmp_path: Path, crashing: dict[str, str]) -> None:
    check_crash_then_quarantine(str(tmp_path / "c.db"), tmp_path / "Pictures", crashing)


def test_a_shared_catalog_keeps_the_journal_on_this_machine(tmp_path: Path, pg_url: str,
                                                              crashing: dict[str, str]) -> None:
    check_crash_then_quarantine(pg_url, tmp_path / "Pictures", crashing)


def test_the_watcher_dies_once_and_skips_the_file_when_started_again(tmp_path: Path,
                                                                     crashing: dict[str, str]) -> None:
    root, db = tmp_path / "Pictures", str(tmp_path / "c.db")
    write_shapes(root, 3)
    args = [sys.executable, "-m", "picfind", "watch", str(root), "--db", db, "--json", "--settle", "0.3"]
    env = {**os.environ, **crashing}
    watch = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert json.loads(lines(watch)())["added"] == 3
        odd_png(root / "odd.png", crash=True)
        assert watch.wait(60) == -signal.SIGABRT  # the batch that read it died with it
        watch = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = lines(watch)
        start = json.loads(line())
        assert start["reason"] == "start" and start["skipped"] == 1
        write_shapes(root / "more", 2, seed=5)  # and it goes on watching
        assert json.loads(line())["added"] == 2
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(30) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
    assert skipped(db)["odd.png"][0] == CRASHED


def big_png(path: Path, seed: int) -> None:
    """A picture that takes a while to decode (49 MP): a kill can land while it is read."""
    ramp = np.linspace(0, 255, 7000, dtype=np.float32)
    pixels = np.empty((7000, 7000, 3), np.uint8)
    pixels[..., 0] = ramp[None, :]
    pixels[..., 1] = ramp[:, None]
    pixels[..., 2] = seed
    Image.fromarray(pixels).save(path, compress_level=1)


def killed_while_reading(db: str, path: Path, strikes: int) -> None:
    """An index run killed (SIGKILL) while `path` is being read with this many strikes."""
    name = os.fsencode(str(path))
    entry = b"+%d %d\n%s" % (strikes, len(name), name)
    journals = Path(db + ".decoding")
    run = subprocess.Popen([sys.executable, "-m", "picfind", "index", "--db", db, "--workers", "1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        until(lambda: any(entry in f.read_bytes() for f in journals.glob("*.inflight")), f"{path.name} read")
        run.send_signal(signal.SIGKILL)
        assert run.wait(30) == -signal.SIGKILL
    finally:
        if run.poll() is None:
            run.kill()


def test_a_file_in_flight_when_the_run_was_killed_reads_alone_first_and_only_twice(tmp_path: Path) -> None:
    """Killed once while reading a good picture: the next run indexes it. A run that dies with the
    same file in flight again, although it read fine alone (a crash the child did not reproduce),
    gets it skipped: no file can kill run after run."""
    root, db = tmp_path / "Pictures", str(tmp_path / "c.db")
    root.mkdir()
    report(index(db, str(root)))
    big_png(root / "big.png", 0)
    killed_while_reading(db, root / "big.png", 0)
    assert report(index(db))["embedded"] == 1 and skipped(db) == {}

    big_png(root / "again.png", 90)
    killed_while_reading(db, root / "again.png", 0)
    killed_while_reading(db, root / "again.png", 1)  # read alone fine; then in flight again
    assert report(index(db))["skipped"] == {CRASHED: 1}
    assert skipped(db)["again.png"] == (CRASHED, "picfind died twice while it was being read; "
                                                 "tried again when the file changes")
