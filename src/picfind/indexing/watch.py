"""`picfind watch`: the OS's file events turned into small index runs, so the catalog keeps up.

Events come from watchfiles (a Rust thread reading inotify, FSEvents or ReadDirectoryChangesW:
no polling of the files). A path no walk wants (excluded, picfind's own, a file of another type)
is dropped as its event comes. Each other path settles on its own: no event for it for `settle`
seconds and the same size and time as half a `settle` before, so a copy in progress is never
read half, and a file that keeps changing (a download, a growing file) holds back nothing but
the folders it lies in. Then each root re-walks only what settled (`Indexer.plan` with a scope)
by the rules of a full run: moved and renamed files keep their vector (same content hash, no
model run), deleted ones go, places that cannot be read are kept offline.

Every `check_every` seconds the roots are looked at (`changes`: a stat each, and the mount table):
a root that disappears, comes back, or gets another drive mounted on or under it is re-scanned
whole and watched anew, and so are all roots when the event source reports an error. A root on
a network file system (whose changes made elsewhere raise no event here) is re-scanned every
`rescan_every` seconds. Idle, the process wakes a few times a second for a flag and a few
system calls: near zero CPU.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from watchfiles._rust_notify import RustNotify, WatchfilesRustInternalError

from picfind.errors import terminal
from picfind.indexing import changes
from picfind.indexing.indexer import Scope
from picfind.indexing.stages import IndexReport
from picfind.records import Root, printable

Apply = Callable[[list[Root], Scope], IndexReport]  # index these roots (a root in the scope: only that)
Note = Callable[[str], None]  # one line about the watch itself (a root gone, events lost)


@dataclass
class WatchOptions:
    settle: float = 1.0  # seconds without an event before a burst is applied
    check_every: float = 2.0  # seconds between looks at the roots and the mount table
    rescan_every: float = 600.0  # seconds between re-scans of a root events cannot be trusted for
    step_ms: int = 200  # how often the event thread's caller wakes (for the stop flag, signals)
    burst_max: int = 20_000  # more changed paths than this in one root: re-scan it whole


@dataclass
class _Change:
    """One changed path waiting to settle."""
    last_event: float
    stat: tuple[int, int] | None = None  # its size and time when last looked at (None: not there)
    stat_at: float = -1.0  # since when it is so (-1: not looked at yet)


@dataclass
class Batch:
    """One change batch applied to the catalog, as `picfind watch` prints it."""
    report: IndexReport
    reason: str  # "start", "changes", "root gone", "root back", "remounted", "new root", "rescan", "events lost"
    rescanned: list[str] = field(default_factory=list)  # roots walked whole

    @property
    def removed(self) -> int:
        return self.report.removed - self.report.moved

    @property
    def skipped(self) -> int:
        return sum(self.report.skipped.values())

    @property
    def changed(self) -> bool:
        """Whether the catalog changed (a re-scan that found nothing new changed nothing)."""
        r = self.report
        return bool(r.added or r.updated or r.moved or self.removed or self.skipped or r.offline)

    def line(self) -> str:
        """The batch on one line, for a terminal or a log."""
        r = self.report
        parts = [f"{r.added} added", f"{r.updated} updated", f"{r.moved} moved", f"{self.removed} removed"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped ({', '.join(f'{n} {why}' for why, n in r.skipped.most_common())})")
        offline = "".join(f"; {n:,} kept offline under {_shown(place)}" for place, n in r.offline.items())
        whole = f" ({', '.join(_shown(p) for p in self.rescanned)} re-scanned)" if self.rescanned else ""
        return (f"{time.strftime('%H:%M:%S')} {self.reason}{whole}: {', '.join(parts)}; {r.embedded} embedded; "
                f"{r.seconds:.2f} s{offline}{' (interrupted)' if r.interrupted else ''}")

    def as_dict(self) -> dict:
        r = self.report
        return {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "reason": self.reason, "added": r.added,
                "updated": r.updated, "moved": r.moved, "removed": self.removed, "skipped": self.skipped,
                "embedded": r.embedded, "offline": r.offline, "rescanned": self.rescanned,
                "seconds": round(r.seconds, 3), "interrupted": r.interrupted}


class Watcher:
    """Keeps the catalog's roots current until `stop` is set (`run`)."""

    def __init__(self, roots: Callable[[], list[Root]], apply: Apply, own: list[str],
                 options: WatchOptions | None = None, on_batch: Callable[[Batch], None] | None = None,
                 on_note: Note | None = None, stop: threading.Event | None = None) -> None:
        self.roots, self.apply, self.own = roots, apply, own
        self.o = options or WatchOptions()
        self.on_batch = on_batch or (lambda batch: None)
        self.on_note = on_note or (lambda line: None)
        self.stop = stop or threading.Event()
        self.pending: dict[str, _Change] = {}
        self.seen: dict[str, changes.Identity] = {}  # root path -> identity when last looked at
        self.mount_table: dict[str, str] = {}
        self.next_rescan: dict[str, float] = {}  # network roots -> when to re-scan them
        self.watched: set[str] = set()
        self.rescans: list[tuple[str, list[Root]]] = []  # (why, roots) to re-scan whole
        self.failed = ""  # why the folders cannot be watched now ("": they are)
        self.tried: set[str] = set()  # the folders last watched, or tried

    def run(self) -> None:
        """A full scan first (what changed while nobody watched), then events until `stop`.
        Each time, the folders are watched before they are scanned: a change made during the
        scan raises an event, and none falls between the two."""
        roots = self.roots()
        self.mount_table = changes.mounts()
        self.seen = {r.path: changes.identity(r.path) for r in roots}
        self.rescans.append(("start", roots))
        while not self.stop.is_set():
            notify = self._open([r for r in roots if self.seen.get(r.path) is not None])
            try:
                self._rescan()
                self._events(notify)
            finally:
                if notify is not None:
                    notify.close()
            roots = self.roots()

    def _open(self, roots: list[Root]) -> RustNotify | None:
        self.watched = self.tried = {r.path for r in roots}
        if not roots:
            return None
        try:
            notify = RustNotify([r.path for r in roots], False, False, 0, True, True)
        except (OSError, WatchfilesRustInternalError) as e:  # a root gone meanwhile, too many folders for inotify
            if str(e) != self.failed:  # said once, not every few seconds
                self.on_note(f"cannot watch for changes ({e}); re-scanning every {self.o.rescan_every / 60:g} min "
                             "instead (and trying to watch again then)")
            self.failed = str(e)
            self.watched = set()
            return None
        self.failed = ""
        return notify

    def _events(self, notify: RustNotify | None) -> None:
        """Gather events and apply bursts; return when the roots must be watched anew."""
        next_check = time.monotonic() + self.o.check_every
        while not self.stop.is_set():
            wait = self.o.settle / 4 if self.pending else self.o.check_every
            if notify is None:
                self.stop.wait(wait)
                got: object = "timeout"
            else:
                try:
                    got = notify.watch(min(500, int(wait * 1000)), self.o.step_ms, int(wait * 1000), self.stop)
                except WatchfilesRustInternalError as e:  # events lost: trust none of them
                    self.on_note(f"file events failed ({e}); re-scanning every root")
                    self.pending.clear()
                    self.rescans.append(("events lost", self.roots()))
                    return
            if got == "signal":
                raise KeyboardInterrupt
            if isinstance(got, set):
                self._note_events({path for _, path in got})
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.o.check_every
                if self._look_at_roots():
                    return  # watched anew, then re-scanned
                self._rescan()
            if self.pending:
                self._apply(self._settled())

    def _note_events(self, paths: set[str]) -> None:
        """Changed paths join the waiting ones; paths no walk wants are dropped here."""
        ordered, now = changes.innermost_first(self.roots()), time.monotonic()
        for path in paths:
            if changes.owner(path, ordered, self.own) is None:
                continue
            if path in self.pending:
                self.pending[path].last_event = now
            else:
                self.pending[path] = _Change(now)

    def _settled(self) -> set[str]:
        """The waiting paths that settled: no event for `settle` seconds, as big and as old as half a
        settle before (a writer that pauses is waited for), and no path still changing inside them
        (a folder whose files are still arriving waits for them; each file settles by itself)."""
        now = time.monotonic()
        ready = set()
        for path, c in self.pending.items():
            if now - c.last_event < self.o.settle / 2:
                continue  # still changing: not even looked at (a busy file costs no system call)
            st = _stat(path)
            if st != c.stat or c.stat_at < 0:
                c.stat, c.stat_at = st, now
            elif now - c.last_event >= self.o.settle and now - c.stat_at >= self.o.settle / 2:
                ready.add(path)
        busy = {os.path.dirname(p) for p in self.pending if p not in ready}
        held = set()
        for p in busy:
            while p not in held and os.path.dirname(p) != p:
                held.add(p)
                p = os.path.dirname(p)
        return ready - held

    def _apply(self, changed: set[str]) -> None:
        if not changed:
            return
        for path in changed:
            del self.pending[path]
        roots = self.roots()
        scope, whole = changes.scopes(changed, roots, self.own)
        whole |= {rid for rid, starts in scope.items() if len(starts) > self.o.burst_max}
        targets = [r for r in roots if r.id in scope or r.id in whole]
        if targets:
            self._batch(targets, {rid: s for rid, s in scope.items() if rid not in whole}, "changes")

    def _look_at_roots(self) -> bool:
        """Re-scan the roots whose folder or mounts changed (and network roots when due); True
        when the set of folders to watch changed."""
        roots = self.roots()
        now = {r.path: changes.identity(r.path) for r in roots}
        table = changes.mounts()
        moved_mounts = {m for m in set(table) ^ set(self.mount_table)}
        moved_mounts |= {m for m in table if m in self.mount_table and table[m] != self.mount_table[m]}
        self.mount_table = table
        groups: dict[str, list[Root]] = {}
        for r in roots:
            before, after = self.seen.get(r.path, "new"), now[r.path]
            if before == after:
                continue
            reason = ("new root" if before == "new" else "root gone" if after is None
                      else "root back" if before is None else "remounted")
            if after is None:
                self.on_note(f"{r.path} is gone (unplugged or unmounted?): its files are kept offline")
            groups.setdefault(reason, []).append(r)
        touched = {r.path for rs in groups.values() for r in rs}
        groups.setdefault("remounted", []).extend(
            r for r in changes.touched_by(moved_mounts, roots) if r.path not in touched and now[r.path] is not None)
        self.seen = now
        self.rescans += [(reason, rs) for reason, rs in groups.items() if rs]
        self._rescan_untrusted(roots, table)
        present = {p for p, ident in now.items() if ident is not None}
        retry = bool(self.failed) and any(why == "rescan" for why, _ in self.rescans)
        return present != self.tried or retry or bool(groups.get("remounted")) or bool(groups.get("root back"))

    def _rescan_untrusted(self, roots: list[Root], table: dict[str, str]) -> None:
        """Roots whose changes raise no event here (a network file system, or not watched because
        watching failed) are re-scanned every `rescan_every` seconds."""
        clock = time.monotonic()
        due = []
        for r in roots:
            if self.seen.get(r.path) is None or (r.path in self.watched and not changes.on_network(r.path, table)):
                continue
            when = self.next_rescan.setdefault(r.path, clock + self.o.rescan_every)
            if clock >= when:
                due.append(r)
                self.next_rescan[r.path] = clock + self.o.rescan_every
        if due:
            self.rescans.append(("rescan", due))

    def _rescan(self) -> None:
        while self.rescans and not self.stop.is_set():
            reason, roots = self.rescans.pop(0)
            self._batch(roots, {}, reason, whole=True)

    def _batch(self, roots: list[Root], scope: Scope, reason: str, whole: bool = False) -> None:
        if not roots:
            return
        report = self.apply(roots, scope)
        self.on_batch(Batch(report, reason, [r.path for r in roots if whole or r.id not in scope]))
        if report.interrupted:
            raise KeyboardInterrupt


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _shown(path: str) -> str:
    return terminal(str(printable(path)))
