"""How the `picfind` command shows things: results (text, JSON, paths for pipes), contact sheets
and the system viewer, messages, and the progress bar of long work."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from picfind.cli.args import UsageError
from picfind.errors import terminal
from picfind.media.timecode import time_label
from picfind.ocr.matching import snippet
from picfind.records import printable
from picfind.search.ranking import Hit

if TYPE_CHECKING:  # indexing is imported by the command that uses it
    from picfind.filters import Filter
    from picfind.indexing.stages import IndexReport
    from picfind.library import Library

PREVIEW_MAX = 10  # pictures drawn per search (--preview): the top results


def dumps(value: object) -> str:
    """JSON as picfind prints it: strict (NaN or Infinity anywhere is a ValueError, never output
    that other tools cannot read)."""
    return json.dumps(value, indent=2, allow_nan=False)


def say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(terminal(text), file=sys.stderr)


def shown(value: str) -> str:
    """A path or message for human output: printable text, control characters escaped."""
    return terminal(printable(value))


def print_hits(hits: list[Hit], args: argparse.Namespace, draw: Callable[[Hit], str | None] | None = None,
               drawn: int = PREVIEW_MAX) -> None:
    """Results as JSON, paths, or lines of text; with `draw` (`picfind.cli.preview`), the first
    `drawn` results' pictures below their lines."""
    if args.json:
        print(dumps([printable(h.as_dict()) for h in hits]))
    elif args.paths_only or args.null:
        out = sys.stdout.buffer
        end = b"\0" if args.null else b"\n"
        for h in hits:
            out.write(os.fsencode(h.path) + end)
        out.flush()
    else:
        if not hits:
            print("no matches")
        for rank, h in enumerate(hits, 1):
            size = f"  {h.width}x{h.height}" if h.width else ""
            at = f" @ {time_label(h.time)}" if h.time is not None else ""
            print(f"{rank:>3}  {h.score:.3f}  {shown(h.path)}{at}{size}")
            if len(h.moments) > 1:
                others = ", ".join(f"{time_label(m['time'])} ({m['score']:.3f})" for m in h.moments[1:])
                print(f"{'':>3}  {'':>5}  moments: {others}")
            for d in h.duplicates:
                print(f"{'':>3}  {'':>5}  = {shown(d)}")
            if h.motion:
                print(f"{'':>3}  {'':>5}  live photo: {shown(h.motion)}")
            if h.raw:
                print(f"{'':>3}  {'':>5}  raw: {shown(h.raw)}")
            if h.place or h.lat is not None:
                print(f"{'':>3}  {'':>5}  place: {terminal(h.place or '')}"
                      + (f"  ({h.lat:.5f}, {h.lon:.5f})" if h.lat is not None and h.lon is not None else ""))
            if h.matched and h.ocr_text:
                print(f"{'':>3}  {'':>5}  text: {terminal(snippet(h.ocr_text, h.matched))}")
            shown_picture = draw(h) if draw is not None and rank <= drawn else None
            if shown_picture:
                sys.stdout.write(shown_picture)
                sys.stdout.flush()


def no_match_hints(where: Filter, lib: Library) -> list[str]:
    """Why a filtered search may have found nothing, where it can be told: a folder that is not
    there or not under any root (instead of a silent "no matches")."""
    hints = []
    roots = [r.path.rstrip(os.sep) + os.sep for r in lib.roots()]
    for folder in where.folders:
        if not os.path.isdir(folder):
            hints.append(f"--in {shown(folder)}: no such folder here (results show where pictures are)")
        elif not any((folder.rstrip(os.sep) + os.sep).startswith(r) or r.startswith(folder.rstrip(os.sep) + os.sep)
                     for r in roots):
            hints.append(f"--in {shown(folder)} is under no indexed folder: `picfind roots` lists them, "
                         f"`picfind index {shown(folder)}` adds it")
    return hints


def after_results(hits: list[Hit], args: argparse.Namespace, query: str, lib: Library) -> None:
    if args.sheet:
        from picfind.cli.sheet import contact_sheet

        out = contact_sheet(hits, args.sheet, lib, title=f"picfind: {query}")
        say(args, f"contact sheet: {out}")
    if args.open and hits:
        open_paths([h.path for h in hits[:5]], [h.time for h in hits[:5]])


# Players that start a video at a second, and how they are told.
START_FLAGS = {"mpv": "--start={}", "vlc": "--start-time={}", "cvlc": "--start-time={}", "celluloid": "--mpv-start={}"}


def open_paths(paths: list[str], times: list[float | None] | None = None) -> None:
    """Open each path in the system viewer; a video's at its moment where the player takes a start
    time (mpv, vlc: $PICFIND_OPENER="mpv"), from the beginning otherwise."""
    opener = os.environ.get("PICFIND_OPENER")
    if opener:
        cmd = shlex.split(opener)
    elif sys.platform == "darwin":
        cmd = ["open"]
    elif os.name == "nt":  # pragma: no cover
        for p in paths:
            os.startfile(p)  # type: ignore[attr-defined]
        return
    else:
        cmd = ["xdg-open"]
    for p, t in zip(paths, times or [None] * len(paths)):
        flag = START_FLAGS.get(os.path.basename(cmd[0])) if t is not None else None
        try:
            subprocess.Popen([*cmd, *([flag.format(int(t))] if flag else []), p], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        except OSError as e:
            raise UsageError(f"cannot open {p}: {cmd[0]} failed ({e.strerror}); set PICFIND_OPENER") from e


class ProgressBar:
    """Progress on stderr: files/s, embedded, skipped and ETA (tqdm)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None

    def __call__(self, report: IndexReport, done: int, total: int) -> None:
        if self._advance("indexing", "file", done, total):
            text = {"text": report.texts_read} if report.texts_read else {}  # pictures OCR read (index --ocr)
            self.bar.set_postfix(embedded=report.embedded, skipped=sum(report.skipped.values()), **text,
                                 refresh=False)

    def comparing(self, done: int, total: int) -> None:
        self._advance("comparing", "vector", done, total)

    def vectors(self, done: int, total: int) -> None:
        """Building the vector index (minutes at a million images)."""
        self._advance("vector index", "vector", done, total)

    def _advance(self, desc: str, unit: str, done: int, total: int) -> bool:
        if not self.enabled:
            return False
        if self.bar is None or self.bar.desc != desc:
            from tqdm import tqdm

            self.close()
            self.bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
        self.bar.total = total  # (an index run may find more to read: the RAWs whose JPEG went, `indexing.pairs`)
        self.bar.update(done - self.bar.n)
        return True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def holdings(counts: dict) -> str:
    """What a catalog holds, the one way status and the shell say it (the page says it alike):
    "74 pictures, 6 videos (41 moments)"; copies once, a video's moments apart."""
    def n(count: int, word: str) -> str:
        return f"{count:,} {word}{'s' if count != 1 else ''}"
    videos = f", {n(counts['videos'], 'video')} ({n(counts['moments'], 'moment')})" if counts["videos"] else ""
    return n(counts["pictures"], "picture") + videos


def size_text(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"

