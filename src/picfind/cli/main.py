"""The `picfind` command: a thin layer over `picfind.Library` (its arguments in `args.py`, its output
in `output.py`, the prompt in `shell.py`, `picfind models` in `models.py`, `picfind people` in
`people.py`, `picfind serve` in `serve.py`)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from picfind.cli.args import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, UsageError, build_parser, where_of
from picfind.cli.models import cmd_models
from picfind.cli.output import (
    ProgressBar,
    after_results,
    dumps,
    holdings,
    no_match_hints,
    print_hits,
    say,
    shown,
    size_text,
)
from picfind.cli.people import cmd_people, understood_line
from picfind.cli.serve import cmd_serve
from picfind.cli.shell import run_shell
from picfind.errors import explain, terminal
from picfind.library import Library, check_models, default_db, folders, not_there
from picfind.library.models import MODEL_ERRORS
from picfind.media.formats import VIDEO_EXTRA
from picfind.ocr.reader import OcrUnavailable
from picfind.people.settings import FacesUnavailable
from picfind.records import CatalogError, printable
from picfind.search.moments import LIVE_MOTION

if TYPE_CHECKING:
    from picfind.filters import Filter
    from picfind.indexing.watch import Batch
    from picfind.search.ranking import Hit, Hits


# commands
def cmd_index(args: argparse.Namespace, lib: Library) -> int:
    from picfind.indexing.stages import IndexOptions

    options = IndexOptions(batch_size=args.batch_size or 0, workers=args.workers or 0,
                           max_pixels=int(args.max_megapixels * 1e6), commit_seconds=args.commit_seconds,
                           thumbnails=not args.no_thumbnails)
    quiet = getattr(args, "quiet", False) or args.json
    bar = ProgressBar(enabled=not quiet and sys.stderr.isatty() or os.environ.get("PICFIND_PROGRESS") == "1")
    try:
        report = lib.index(args.paths or None, args.ext, args.exclude, options, progress=bar, ann=args.ann,
                           build_progress=bar.vectors, ray=args.ray, ocr=args.ocr, faces=args.faces,
                           clutter=args.clutter,
                           waiting=lambda holder: say(
                               args, f"waiting for {holder}, which is indexing {lib.location}, to finish"))
    finally:
        bar.close()
    if args.json:
        print(dumps(report.as_dict()))
    elif not getattr(args, "quiet", False):
        left_out = {r: n for r, n in report.skipped.most_common() if r != LIVE_MOTION}  # motions: with stills
        skipped = sum(left_out.values())
        reasons = ", ".join(f"{n} {r}" for r, n in left_out.items())
        motions = report.skipped.get(LIVE_MOTION, 0)
        live = f"{motions} Live Photo motion{'s' * (motions != 1)} (shown with the still), " if motions else ""
        rate = report.read / report.seconds if report.seconds else 0
        seen = f"{report.files_seen} file{'s' * (report.files_seen != 1)} seen"
        print(f"{'interrupted' if report.interrupted else 'done'}: {seen}, "
              f"{report.unchanged} unchanged, {report.embedded} embedded, {report.reused} reused "
              f"(copies, moves), {skipped} skipped{f' ({reasons})' if reasons else ''}, {live}"
              f"{report.removed} removed, {report.seconds:.1f} s ({rate:.1f} files/s; "
              f"{lib.model}{f' on {report.device}' if report.embedded else ''})")
        if report.texts_read or report.texts_failed:
            failed = f"; OCR failed on {report.texts_failed} (tried again next run)" if report.texts_failed else ""
            print(f"text read from {report.texts_read} picture{'s' * (report.texts_read != 1)}, "
                  f"{report.texts_found} with text{failed}")
        if report.faces_read or report.faces_failed:
            failed = f"; failed on {report.faces_failed} (tried again next run)" if report.faces_failed else ""
            people = report.people
            grouped = (f"; {people['new_people']} new people, {people['waiting']} faces waiting"
                       if people else "")
            where = "picture or frame" if report.faces_read == 1 else "pictures and frames"
            print(f"faces: {report.faces_found} found in {report.faces_read} {where}{grouped}{failed}")
        if skipped:
            print("`picfind status --skipped` lists the skipped files and why", file=sys.stderr)
    for place, n in report.offline.items() if not quiet else ():
        print(f"kept {_offline_line(n, place)}: plug it in (or mount it) and run `picfind index` again; "
              f"`picfind roots remove` forgets a root on purpose", file=sys.stderr)
    if report.interrupted:
        print("interrupted: what was done is kept; run `picfind index` again to continue", file=sys.stderr)
    return EXIT_INTERRUPTED if report.interrupted else 0


def cmd_watch(args: argparse.Namespace, lib: Library) -> int:
    from picfind.indexing.watch import WatchOptions

    quiet = getattr(args, "quiet", False)
    stop = threading.Event()

    def stopping(signum: int, frame: object) -> None:
        if stop.is_set():  # the second time: stop inside the batch (what is committed stays)
            raise KeyboardInterrupt
        stop.set()  # the first: finish the batch under way, then stop

    def note(line: str) -> None:
        if not quiet:
            print(f"picfind: {terminal(line)}", file=sys.stderr, flush=True)

    def batch(b: Batch) -> None:
        if b.reason == "start":
            roots = ", ".join(shown(p) for p in b.rescanned) or "no folder present now"
            note(f"watching {roots} for {lib.location} (Ctrl-C stops)")
        if args.json and (b.changed or b.reason == "start"):
            print(json.dumps(printable(b.as_dict()), allow_nan=False), flush=True)
        elif not args.json and not quiet and b.changed:
            print(b.line(), flush=True)

    old = {sig: signal.signal(sig, stopping) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        lib.watch(args.paths or None, args.ext, args.exclude, batch, note, stop,
                  WatchOptions(settle=args.settle, rescan_every=args.rescan_minutes * 60),
                  waiting=lambda holder: note(f"waiting for {holder}, which is indexing {lib.location}, to finish"),
                  clutter=args.clutter)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    note("stopped; the catalog holds every batch shown")
    return 0


def cmd_search(args: argparse.Namespace, lib: Library) -> int:
    if args.here:
        _index_here(args, lib)
    lib.forks_text = not args.here  # one query in a fresh process: its text side beside the index's opening

    def find(where: Filter) -> Hits:
        line = understood_line(lib, args.query, where)
        if line and not args.json and not args.paths_only and not args.null:
            say(args, line)
        return lib.search(args.query, n=args.n, min_score=args.min_score, where=where, sort=args.sort,
                          ocr_only=args.ocr_only)
    code = _answer(args, lib, " ".join(args.query), find)
    hint = lib.language_hint(args.query)
    if hint:
        print(f"picfind: {terminal(hint)}", file=sys.stderr)
    return code


def _index_here(args: argparse.Namespace, lib: Library) -> None:
    """`search --here`: the folder this command runs in is indexed first (remembered as a root;
    later runs read only what changed), and the search looks only under it, as rclip does."""
    here = os.getcwd()
    bar = ProgressBar(enabled=not getattr(args, "quiet", False) and sys.stderr.isatty())
    try:
        report = lib.index([here], progress=bar, waiting=lambda holder: say(
            args, f"waiting for {holder}, which is indexing {lib.location}, to finish"))
    finally:
        bar.close()
    if report.embedded or report.removed:
        say(args, f"indexed {shown(here)}: {report.embedded} new, {report.removed} removed, "
                  f"{report.unchanged} unchanged")
    if report.interrupted:
        raise KeyboardInterrupt
    args.folders = args.folders or [here]


def cmd_similar(args: argparse.Namespace, lib: Library) -> int:
    return _answer(args, lib, f"like {args.image}", lambda where: lib.similar(
        args.image, n=args.n, min_score=args.min_score, where=where, sort=args.sort, at=args.at, faces=args.faces))


def _answer(args: argparse.Namespace, lib: Library, label: str, find: Callable[[Filter], Hits]) -> int:
    """Show what a search or a similar finds: the rows (with their pictures where asked), then the
    contact sheet or the viewer."""
    draw = _previews(args, lib)
    where = where_of(args, lib)
    hits = find(where)
    print_hits(hits, args, draw)
    for hint in [*(no_match_hints(where, lib) if not hits else ()), *filter(None, [hits.note()])]:
        print(f"picfind: {terminal(hint)}", file=sys.stderr)
    after_results(hits, args, label, lib)
    return 0


def _previews(args: argparse.Namespace, lib: Library) -> Callable[[Hit], str | None] | None:
    """With --preview, what draws a result's picture here (None where the terminal cannot)."""
    if not args.preview:
        return None
    if args.json or args.paths_only or args.null:
        raise UsageError("--preview draws pictures beside the listed results: not with --json, --paths-only or --null")
    from picfind.cli.preview import previewer

    return previewer(lib)


def cmd_dupes(args: argparse.Namespace, lib: Library) -> int:
    bar = ProgressBar(enabled=not getattr(args, "quiet", False) and not args.json and sys.stderr.isatty())
    try:
        groups = lib.dupes(args.near, args.threshold, progress=bar.comparing)
    finally:
        bar.close()
    if args.json:
        print(dumps([printable(g.as_dict()) for g in groups]))
        return 0
    for g in groups:
        print(f"{len(g.members)} {'similar pictures' if args.near else 'copies'}, "
              f"{size_text(g.wasted_bytes)} in all but the first (kept because {g.keep_reason}):")
        for k, m in enumerate(g.members):
            size = f"  {m.width}x{m.height}" if m.width else ""
            score = f"  {m.score:.3f}" if args.near and k else ""
            print(f"  {'keep' if k == 0 else '    '}  {shown(m.path)}{size}{score}")
            for c in m.copies:
                print(f"        = {shown(c)}")
    wasted = sum(g.wasted_bytes for g in groups)
    print(f"{len(groups)} group{'s' * (len(groups) != 1)}, {size_text(wasted)} in copies" if groups
          else "no duplicates found")
    return 0


def cmd_status(args: argparse.Namespace, lib: Library) -> int:
    st = lib.status()
    if args.skipped:
        st["skipped_files"] = [{**f, "path": printable(f["path"])} for f in lib.skipped_files()]
    if args.json:
        print(dumps(st))
        return 0
    print(f"catalog   {shown(st['catalog'])} ({st['catalog_bytes'] / 2**20:.1f} MiB)")
    print(f"model     {st['model']}")
    if st["text_model"]:
        print(f"queries   read by {st['text_model']} (`picfind index --text-model none`: {st['model']}'s own)")
    print("roots     " + ("\n          ".join(shown(r["path"]) for r in st["roots"]) or "(none)"))
    print(f"holds     {holdings(st)}")
    print(f"files     {st['files_seen']} seen, {st['images_indexed']} indexed, "
          f"{st['unique_contents']} unique, {st['duplicate_copies']} duplicate copies")
    print(f"embedded  {st['embedded_with_model']} with {st['model']}")
    print(f"places    {st['with_position']} with a GPS position (--place, --near)")
    if st["dates_before_1826"]:
        print(f"dates     {st['dates_before_1826']} dated before 1826, the first photograph: surely a camera clock "
              "never set (they sort as oldest; --before 1826 finds them)")
    vi = st["vector_index"]
    print(f"search    {vi['in_use']}" + (f", {vi['vectors']} vectors " if "vectors" in vi else " ")
          + ("(pgvector)" if vi["setting"] == "pgvector"
                                          else f"(setting: {vi['setting']}; change with `picfind index --ann`)"))
    if "index_bytes" in vi:
        index, pool = vi["index_bytes"] / 2**20, vi["shared_buffers_bytes"] / 2**20
        print(f"          index {index:,.0f} MiB, server shared_buffers {pool:,.0f} MiB" + (
            ": smaller than the index, so searches and new pictures read it through the OS; "
            "raise shared_buffers (docs/scale.md)" if index > pool else ""))
    ocr = st["ocr"]
    if ocr["setting"] != "off":
        text = f": {ocr['pictures_read']} pictures read, {ocr['with_text']} hold text"
    else:
        text = " (turn on with `picfind index --ocr`)"
    print(f"text      {ocr['setting']}{text}")
    if st["live_photo_motions"]:
        print(f"live      {st['live_photo_motions']} Live Photo motion{'s' * (st['live_photo_motions'] != 1)}, "
              "each shown with its still (not skipped)")
    faces = st["faces"]
    if faces["setting"] != "off" or faces["faces"]:
        print(f"people    {faces['people']} people, {faces['faces']} faces ({faces['waiting']} waiting for more "
              "pictures of them; `picfind people`)")
    else:
        print("people    off (turn on with `picfind index --faces`)")
    if not st["video_support"]:
        print(f"videos    not read here: {VIDEO_EXTRA} (PyAV is not installed)")
    reasons = "".join(f"\n          {n:>6}  {r}" for r, n in st["skipped_by_reason"].items())
    print(f"skipped   {st['skipped']}{reasons}")
    for place in st["offline"]:
        print(f"offline   {_offline_line(place['files'], place['path'], place['since'])}")
    if args.skipped:
        for f in st["skipped_files"]:
            print(f"  {f['reason']}: {shown(f['path'])}" + (f" ({shown(f['detail'])})" if f["detail"] else ""))
    return 0


def _offline_line(files: int, place: str, since: float | None = None) -> str:
    when = f" since {datetime.date.fromtimestamp(since).isoformat()}" if since else ""
    return f"{files:,} file{'s' if files != 1 else ''} offline under {shown(place)}{when}"


def cmd_roots(args: argparse.Namespace, lib: Library) -> int:
    if args.action == "remove":
        n = lib.remove_root(args.path)
        print(f"removed {shown(args.path)} and its {n} files from the catalog (nothing on disk was touched)")
        return 0
    roots = lib.roots()
    if args.json:
        print(dumps([{"path": printable(r.path), "extensions": r.extensions, "excludes": r.excludes}
                     for r in roots]))
    elif not roots:
        print("no roots yet: `picfind index FOLDER` adds one")
    for r in roots if not args.json else []:
        print(f"{shown(r.path)}  [{','.join(r.extensions)}]")
    return 0


def _makes_catalog(args: argparse.Namespace, db: str | os.PathLike) -> bool:
    """Whether this command may make its catalog: only one that adds a folder (`index FOLDER`,
    `watch FOLDER`, `search --here`), its folders and, for a catalog not made yet, its model checked
    first. Any other refuses a catalog that is not there: a mistyped --db became an empty catalog
    (and its folder) answering "no matches"."""
    if args.command in ("index", "watch") and args.paths:
        folders(args.paths)  # a missing one is said now, before anything is made
        if not_there(db):
            check_models(getattr(args, "model", None), getattr(args, "text_model", None))
        return True
    return bool(getattr(args, "here", False))


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops like Ctrl-C: what is committed stays."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    return execute(build_parser().parse_args(argv))


def execute(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        model_name = getattr(args, "name", None) if args.command == "models" else None  # models download/remove NAME
        for what, value in (("--db", getattr(args, "db", None)), ("the model name", getattr(args, "model", None)),
                            ("the model name", model_name), ("the folder name", getattr(args, "dir", None))):
            if value == "":  # not the default, nor the current folder
                raise UsageError(f"{what} is empty: name one (an empty name is neither the default nor the "
                                 "current folder)")
        if args.command == "search" and not any(t.strip() for t in args.query) and not args.person:
            raise UsageError('the query is empty: describe the picture (picfind search "a red car"), '
                             "or --person NAME")  # before any catalog is opened
        if args.command == "models":
            return cmd_models(args)
        db = getattr(args, "db", None) or default_db()
        text_model = getattr(args, "text_model", None)
        with Library(db, model=getattr(args, "model", None), threads=getattr(args, "threads", None),
                     create=_makes_catalog(args, db),
                     text_model=None if args.command == "index" else text_model) as lib:
            if args.command == "index" and text_model is not None:
                lib.set_text_model(text_model)  # checked against the catalog's model before any work
            command = {"index": cmd_index, "search": cmd_search, "similar": cmd_similar, "dupes": cmd_dupes,
                       "status": cmd_status, "roots": cmd_roots, "serve": cmd_serve,
                       "watch": cmd_watch, "people": cmd_people}.get(args.command, run_shell)
            return command(args, lib)
    except (CatalogError, *MODEL_ERRORS, UsageError, ValueError, LookupError, OcrUnavailable, FacesUnavailable) as e:
        print(f"picfind: error: {terminal(str(e))}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, UsageError) else EXIT_ERROR
    except (sqlite3.Error, OSError, MemoryError) as e:  # a damaged or read-only catalog, a full disk...
        if isinstance(e, BrokenPipeError):
            sys.stderr.close()
            return 0
        db = getattr(args, "db", None) or default_db()
        print(f"picfind: error: {terminal(explain(e, db))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted: what was committed is kept; run the command again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED


# Commands that only answer: once their output is out, nothing of theirs runs on.
ANSWERS = ("search", "similar", "status")


def run() -> None:
    args = build_parser().parse_args()
    code = execute(args)
    if args.command in ANSWERS and not getattr(args, "here", False):
        # The catalog is closed and the answer written; what is left is the interpreter taking
        # apart ONNX Runtime's sessions, the mapped index and every module one object at a time:
        # 50-80 ms of a cold search's 0.7 s, skipped.
        try:
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # a reader gone (| head), or closed after a broken pipe
            pass
        except OSError as e:  # a full disk under a redirected answer
            print(f"picfind: error: cannot write the answer: {terminal(explain(e, None) or str(e))}", file=sys.stderr)
            code = EXIT_ERROR
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)
    sys.exit(code)
