"""The `picfind` command: a thin layer over `picfind.Library` and `picfind.models`."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, models
from .bundle import BundleError
from .catalog import CatalogError, printable
from .dupes import DEFAULT_THRESHOLD
from .errors import explain, terminal
from .filters import Filter
from .index import BACKENDS
from .library import Library, default_db
from .ocr import OcrUnavailable
from .ocr_match import snippet
from .query import group as group_terms
from .search import Hit

if TYPE_CHECKING:  # indexing and pictures (Pillow) are imported by the commands that use them
    from .indexer import IndexReport

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """Wrong arguments get one line saying what is wrong and where help is, no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USAGE)


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    s = argparse.SUPPRESS
    p.add_argument("--db", default=s, help="catalog: a file, or a postgresql:// URL "
                                          "(default: $PICFIND_DB or a file in the user data folder)")
    p.add_argument("--model", default=s, help="model name or bundle folder (default: the one the catalog was "
                   "indexed with, else $PICFIND_MODEL, else the default that `picfind models list` marks)")
    p.add_argument("--quiet", "-q", action="store_true", default=s, help="no progress or chatter")
    return p


def _bounded(cast: type, low: float, high: float, what: str, range_text: str):
    """An argparse type: `cast` the text and keep it within [low, high], or say why not."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: {range_text}")
        return value
    return parse


def _sheet_path(text: str) -> str:
    """An argparse type: a picture file name, checked before searching (not after the results)."""
    if Path(text).suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise argparse.ArgumentTypeError(f"{text!r}: name a .png, .jpg or .webp file for the contact sheet")
    return text


_positive_int = _bounded(int, 1, float("inf"), "a whole number", "use 1 or more")
_score = _bounded(float, -1.0, 1.0, "a number (scores run from -1 to 1)", "use -1 to 1 (cosine scores)")


def build_parser() -> Parser:
    common = _common()
    parser = Parser(prog="picfind", parents=[common],
                    description="Find your photos by describing them. Offline, with CLIP.")
    parser.add_argument("--version", action="version", version=f"picfind {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="index folders (or re-scan the remembered ones)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to index; none: re-scan every root")
    p.add_argument("--ext", help="comma-separated extensions for these folders (default: common image types)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip names or paths matching")
    p.add_argument("--batch-size", type=_positive_int, help="images per encoder batch (default 16 on CPU, 64 on GPU)")
    p.add_argument("--workers", type=_positive_int, help="reader threads (default: one per core)")
    p.add_argument("--threads", type=_positive_int, help="encoder threads (default: one per core)")
    p.add_argument("--max-megapixels", type=_bounded(float, 0.01, 100_000, "a number", "use 0.01 to 100000"),
                   default=100.0, help="skip larger images (default 100)")
    p.add_argument("--commit-seconds", type=_bounded(float, 0, 86_400, "a number", "use 0 to 86400 seconds"),
                   default=2.0,
                   help="commit finished work this often; a crash loses at most this much (default 2)")
    p.add_argument("--no-thumbnails", action="store_true", help="do not cache thumbnails beside the catalog")
    p.add_argument("--ann", choices=["auto", *BACKENDS],
                   help="vector index, remembered: auto (default: exact up to 100k images, hnsw above), "
                        "exact, hnsw or annoy")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="read and embed on a Ray cluster: ADDRESS (host:port, or auto for the running one); "
                        "alone: start a local cluster for this run (needs picfind[cluster])")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    ocr = p.add_mutually_exclusive_group()
    ocr.add_argument("--ocr", action="store_true", default=None,
                     help="also read the text in pictures, for search (remembered; needs picfind[ocr])")
    ocr.add_argument("--no-ocr", dest="ocr", action="store_false", help="stop reading text (remembered)")

    p = sub.add_parser("search", parents=[common], help="find images by a description",
                       description='Terms are text or image files, joined by + and -, with optional weights: '
                                   'picfind search "beach" + ./ref.jpg - "people";  picfind search "2:sunset" "city"')
    p.add_argument("query", nargs="+", metavar="TERM", help="a description, an image file, + or -; W:TERM weighs it")
    p.add_argument("--ocr-only", action="store_true", help="only pictures whose text holds the words")
    _result_options(p)

    p = sub.add_parser("similar", parents=[common], help="find images like an image (in the catalog or not)")
    p.add_argument("image", metavar="PATH", help="an image file; one outside the catalog is embedded, not added")
    _result_options(p)

    p = sub.add_parser("dupes", parents=[common], help="list copies: exact (same bytes) or --near (resized, "
                       "re-encoded, cropped); never deletes anything")
    p.add_argument("--near", action="store_true", help="near-duplicates, from embedding similarity")
    p.add_argument("--threshold", type=_score, default=DEFAULT_THRESHOLD,
                   help=f"with --near: how similar counts as a copy (default {DEFAULT_THRESHOLD})")
    p.add_argument("--json", action="store_true", help="groups as JSON, to script a clean-up")

    sub.add_parser("shell", parents=[common], help="interactive prompt (also: picfind with no command)")

    p = sub.add_parser("serve", parents=[common], help="a local web page: search as you type, see the pictures")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=_bounded(int, 1, 65535, "a port number", "use 1 to 65535"), default=8765)
    p.add_argument("--token", help="a secret every request must carry; required to listen beyond this computer")
    p.add_argument("--open", action="store_true", help="open the page in the browser")

    p = sub.add_parser("status", parents=[common], help="what the catalog holds")
    p.add_argument("--json", action="store_true")
    p.add_argument("--skipped", action="store_true", help="list every skipped file with its reason")

    p = sub.add_parser("roots", parents=[common], help="list remembered folders; `roots remove PATH`")
    p.add_argument("action", nargs="?", choices=["list", "remove"], default="list")
    p.add_argument("path", nargs="?")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("models", parents=[common], help="list, download, import, verify, remove models")
    msub = p.add_subparsers(dest="models_command", parser_class=Parser, metavar="ACTION")
    m = msub.add_parser("list", parents=[common], help="known and installed models")
    m.add_argument("--json", action="store_true")
    msub.add_parser("download", parents=[common], help="fetch a model once (needs internet)").add_argument("name")
    m = msub.add_parser("import", parents=[common], help="install a model folder from disk")
    m.add_argument("dir")
    m.add_argument("--as", dest="as_name", metavar="NAME", help="which model the files are (when ambiguous)")
    msub.add_parser("verify", parents=[common], help="check every file's sha256").add_argument("model")
    msub.add_parser("remove", parents=[common], help="delete an installed model").add_argument("name")
    return parser


def _result_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="a JSON array of results")
    p.add_argument("--paths-only", action="store_true", help="one path per line, for pipes (names as they are)")
    p.add_argument("--null", "-0", action="store_true",
                   help="with --paths-only (implied): end each path with a NUL byte, for `xargs -0` (as find -print0)")
    p.add_argument("--sheet", type=_sheet_path, metavar="FILE.png", help="also write a contact sheet")
    p.add_argument("--open", action="store_true", help="open the top results in the system viewer")
    _search_options(p, n=20)


def _search_options(p: argparse.ArgumentParser, n: int) -> None:
    """How many, in what order, and which: shared by the commands and the shell's lines."""
    p.add_argument("-n", type=_positive_int, default=n, help=f"how many results (default {n})")
    p.add_argument("--min-score", type=_score, help="drop results scoring below this")
    p.add_argument("--sort", choices=["score", "date"], default="score",
                   help="order of the results: score (default) or date, newest first")
    f = p.add_argument_group("filters")
    f.add_argument("--in", dest="folders", action="append", metavar="FOLDER", help="only pictures under this folder")
    f.add_argument("--after", metavar="DATE", help="taken on or after (EXIF date, else file time): 2024-06-01")
    f.add_argument("--before", metavar="DATE", help="taken before this date")
    f.add_argument("--ext", help="only these extensions, comma-separated: jpg,heic")
    f.add_argument("--min-width", type=_positive_int, metavar="PX")
    f.add_argument("--min-height", type=_positive_int, metavar="PX")


def _filter(args: argparse.Namespace) -> Filter:
    return Filter.of(args.folders, args.after, args.before, args.ext, args.min_width, args.min_height)


# output helpers
def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(terminal(text), file=sys.stderr)


def shown(value: str) -> str:
    """A path or message for human output: printable text, control characters escaped."""
    return terminal(printable(value))


def _print_hits(hits: list[Hit], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps([printable(h.as_dict()) for h in hits], indent=2))
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
            print(f"{rank:>3}  {h.score:.3f}  {shown(h.path)}{size}")
            for d in h.duplicates:
                print(f"{'':>3}  {'':>5}  = {shown(d)}")
            if h.matched and h.ocr_text:
                print(f"{'':>3}  {'':>5}  text: {terminal(snippet(h.ocr_text, h.matched))}")


def _after_results(hits: list[Hit], args: argparse.Namespace, query: str, lib: Library) -> None:
    if args.sheet:
        from .sheet import contact_sheet

        out = contact_sheet(hits, args.sheet, lib.thumbnails, title=f"picfind: {query}")
        _say(args, f"contact sheet: {out}")
    if args.open and hits:
        _open_paths([h.path for h in hits[:5]])


def _open_paths(paths: list[str]) -> None:
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
    for p in paths:
        try:
            subprocess.Popen([*cmd, p], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as e:
            raise UsageError(f"cannot open {p}: {cmd[0]} failed ({e.strerror}); set PICFIND_OPENER") from e


class _Bar:
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
        self.bar.update(done - self.bar.n)
        return True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# commands
def cmd_index(args: argparse.Namespace, lib: Library) -> int:
    from .indexer import IndexOptions

    options = IndexOptions(batch_size=args.batch_size or 0, workers=args.workers or 0,
                           max_pixels=int(args.max_megapixels * 1e6), commit_seconds=args.commit_seconds,
                           thumbnails=not args.no_thumbnails)
    quiet = getattr(args, "quiet", False) or args.json
    bar = _Bar(enabled=not quiet and sys.stderr.isatty() or os.environ.get("PICFIND_PROGRESS") == "1")
    try:
        report = lib.index(args.paths or None, args.ext, args.exclude, options, progress=bar, ann=args.ann,
                           build_progress=bar.vectors, ray=args.ray, ocr=args.ocr, waiting=lambda holder: _say(
                               args, f"waiting for {holder}, which is indexing {lib.location}, to finish"))
    finally:
        bar.close()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    elif not getattr(args, "quiet", False):
        skipped = sum(report.skipped.values())
        reasons = ", ".join(f"{n} {r}" for r, n in report.skipped.most_common())
        rate = report.read / report.seconds if report.seconds else 0
        print(f"{'interrupted' if report.interrupted else 'done'}: {report.files_seen} files seen, "
              f"{report.unchanged} unchanged, {report.embedded} embedded, {report.reused} reused "
              f"(copies, moves), {skipped} skipped{f' ({reasons})' if reasons else ''}, "
              f"{report.removed} removed, {report.seconds:.1f} s ({rate:.1f} files/s; "
              f"{lib.model} on {report.device})")
        if report.texts_read or report.texts_failed:
            failed = f"; OCR failed on {report.texts_failed} (tried again next run)" if report.texts_failed else ""
            print(f"text read from {report.texts_read} pictures, {report.texts_found} of them hold some{failed}")
        if skipped:
            print("`picfind status --skipped` lists the skipped files and why", file=sys.stderr)
    for place, n in report.offline.items() if not quiet else ():
        print(f"kept {_offline_line(n, place)}: plug it in (or mount it) and run `picfind index` again; "
              f"`picfind roots remove` forgets a root on purpose", file=sys.stderr)
    if report.interrupted:
        print("interrupted: what was done is kept; run `picfind index` again to continue", file=sys.stderr)
    return EXIT_INTERRUPTED if report.interrupted else 0


def cmd_search(args: argparse.Namespace, lib: Library) -> int:
    hits = lib.search(args.query, n=args.n, min_score=args.min_score, where=_filter(args), sort=args.sort,
                      ocr_only=args.ocr_only)
    _print_hits(hits, args)
    _after_results(hits, args, " ".join(args.query), lib)
    return 0


def cmd_similar(args: argparse.Namespace, lib: Library) -> int:
    hits = lib.similar(args.image, n=args.n, min_score=args.min_score, where=_filter(args), sort=args.sort)
    _print_hits(hits, args)
    _after_results(hits, args, f"like {args.image}", lib)
    return 0


def cmd_dupes(args: argparse.Namespace, lib: Library) -> int:
    bar = _Bar(enabled=not getattr(args, "quiet", False) and not args.json and sys.stderr.isatty())
    try:
        groups = lib.dupes(args.near, args.threshold, progress=bar.comparing)
    finally:
        bar.close()
    if args.json:
        print(json.dumps([printable(g.as_dict()) for g in groups], indent=2))
        return 0
    for g in groups:
        print(f"{len(g.members)} {'similar pictures' if args.near else 'copies'}, "
              f"{_size(g.wasted_bytes)} in all but the first:")
        for k, m in enumerate(g.members):
            size = f"  {m.width}x{m.height}" if m.width else ""
            score = f"  {m.score:.3f}" if args.near and k else ""
            print(f"  {'keep' if k == 0 else '    '}  {shown(m.path)}{size}{score}")
            for c in m.copies:
                print(f"        = {shown(c)}")
    wasted = sum(g.wasted_bytes for g in groups)
    print(f"{len(groups)} group{'s' * (len(groups) != 1)}, {_size(wasted)} in copies" if groups
          else "no duplicates found")
    return 0


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


SHELL_HELP = """\
Type a description and press Enter:   a dog asleep on a red sofa
Combine text and image files:         beach + ./ref.jpg - people      (2:sunset weighs a term twice)
Add search options on the line:       red car --after 2024-06 -n 20 --sort date --min-score 0.2
Filters:                              --in FOLDER  --after DATE  --before DATE  --ext jpg,heic
                                      --min-width PX  --min-height PX
help or ?                             this text
exit, quit or Ctrl-D                  leave
(to search for the word itself, quote it: "help")"""


def cmd_shell(args: argparse.Namespace, lib: Library) -> int:
    try:
        import readline  # noqa: F401 - line editing and history for input()
    except ImportError:  # pragma: no cover
        pass
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"picfind {__version__}: {lib.count()} images, model {lib.model}. "
              "Describe a picture; `help` shows what else; `exit` leaves.")
    lib.warm()  # while the first line is typed
    opts = argparse.Namespace(json=False, paths_only=False, null=False)
    while True:
        try:
            line = input("picfind> " if interactive else "")
        except EOFError:
            break
        except KeyboardInterrupt:
            print()
            continue
        query = line.strip()
        if query.lower() in ("exit", "quit", ":q"):
            break
        if not query:
            continue
        if query.lower() in ("help", "?", ":help", ":h"):
            print(SHELL_HELP)
            continue
        try:
            terms, line_args = _shell_line(query)
            _print_hits(lib.search(terms, n=line_args.n, min_score=line_args.min_score, where=_filter(line_args),
                                   sort=line_args.sort, ocr_only=line_args.ocr_only), opts)
        except ValueError as e:
            print(f"picfind: {terminal(str(e))}", file=sys.stderr)
        except SystemExit:
            pass  # a wrong option on this line: the parser said why; the shell goes on
    return 0


def _shell_line(line: str) -> tuple[list[str], argparse.Namespace]:
    """A shell line: a description or combined query, optionally with search options,
    e.g. `beach - people --after 2024-06 -n 20`."""
    parser = Parser(prog="picfind shell", add_help=False)
    parser.add_argument("query", nargs="*")
    parser.add_argument("--ocr-only", action="store_true")
    _search_options(parser, n=10)
    try:
        tokens = shlex.split(line)
    except ValueError:  # an unbalanced quote: "a dog's bed"
        return [line], parser.parse_args([])
    if not any(t.startswith("--") or t == "-n" for t in tokens):
        return group_terms(tokens), parser.parse_args([])
    args = parser.parse_args(tokens)
    return group_terms(args.query), args


def cmd_serve(args: argparse.Namespace, lib: Library) -> int:
    from .web import is_loopback, serve

    if not is_loopback(args.host) and not args.token:
        raise UsageError(f"--host {args.host} lets other computers in: add --token SECRET "
                         "(every request must then carry it)")
    with socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET) as probe:
        try:
            probe.bind((args.host, args.port))
        except OSError as e:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror}; pick another --port") from None
    lib.bundle  # noqa: B018 - a missing model is one line now, not an error on every query later
    lib.close()  # the server opens its own, on its worker thread
    serve(lib.target, getattr(args, "model", None), args.host, args.port, args.token, args.open)
    return 0


def cmd_status(args: argparse.Namespace, lib: Library) -> int:
    st = lib.status()
    if args.skipped:
        st["skipped_files"] = [{**f, "path": printable(f["path"])} for f in lib.skipped_files()]
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    print(f"catalog   {shown(st['catalog'])} ({st['catalog_bytes'] / 2**20:.1f} MiB)")
    print(f"model     {st['model']}")
    print("roots     " + ("\n          ".join(shown(r["path"]) for r in st["roots"]) or "(none)"))
    print(f"files     {st['files_seen']} seen, {st['images_indexed']} indexed images, "
          f"{st['unique_contents']} unique, {st['duplicate_copies']} duplicate copies")
    print(f"embedded  {st['embedded_with_model']} with {st['model']}")
    vi = st["vector_index"]
    print(f"search    {vi['in_use']} " + ("(pgvector)" if vi["setting"] == "pgvector"
                                          else f"(setting: {vi['setting']}; change with `picfind index --ann`)"))
    ocr = st["ocr"]
    if ocr["setting"] != "off":
        text = f": {ocr['pictures_read']} pictures read, {ocr['with_text']} hold text"
    else:
        text = " (turn on with `picfind index --ocr`)"
    print(f"text      {ocr['setting']}{text}")
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
        if not args.path:
            raise UsageError("which root? `picfind roots remove PATH`")
        n = lib.remove_root(args.path)
        print(f"removed {shown(args.path)} and its {n} files from the catalog (nothing on disk was touched)")
        return 0
    roots = lib.roots()
    if args.json:
        print(json.dumps([{"path": printable(r.path), "extensions": r.extensions, "excludes": r.excludes}
                          for r in roots], indent=2))
    elif not roots:
        print("no roots yet: `picfind index FOLDER` adds one")
    for r in roots if not args.json else []:
        print(f"{shown(r.path)}  [{','.join(r.extensions)}]")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    action = args.models_command or "list"
    if action == "list":
        rows = models.list_models()
        if getattr(args, "json", False):
            print(json.dumps([r.as_dict() for r in rows], indent=2))
            return 0
        for r in rows:
            mark = "installed" if r.installed else "-"
            name = f"{r.name} *" if r.default else r.name
            print(terminal(f"{name:<22} {r.size / 1e6:>7.0f} MB  {r.licence:<11} {mark:<10} {r.hashes}"))
            print(f"{'':<22} {terminal(str(r.description))}" + (f"\n{'':<22} {terminal(r.path)}" if r.path else ""))
        print("* the default for a new catalog; a catalog keeps the model it was indexed with")
        return 0
    if action == "download":
        bar = None

        def progress(label: str, done: int, total: int) -> None:
            nonlocal bar
            if getattr(args, "quiet", False):
                return
            from tqdm import tqdm

            if bar is None or bar.desc != label:
                if bar is not None:
                    bar.close()
                bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=label, file=sys.stderr)
            bar.update(done - bar.n)

        try:
            bundle = models.download(args.name, progress)
        finally:
            if bar is not None:
                bar.close()
        print(f"{bundle.name} installed in {bundle.path}")
        return 0
    if action == "import":
        bundle = models.import_folder(Path(args.dir), args.as_name)
        print(terminal(f"{bundle.name} imported into {bundle.path} (all files verified)"))
        return 0
    if action == "verify":
        bundle, problems, prepared = models.verify(args.model)
        if problems:
            for p in problems:
                print(terminal(f"FAILED {bundle.name}: {p}"), file=sys.stderr)
            return EXIT_ERROR
        print(terminal(f"OK {bundle.name}: {len(bundle.files)} files match their sha256 ({bundle.path})"))
        for line in prepared:
            print(terminal(f"OK {bundle.name}: {line}"))
        return 0
    if action == "remove":
        path = models.remove(args.name)
        print(terminal(f"removed {args.name} ({path})"))
        return 0
    raise UsageError(f"unknown models action {action!r}")


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops like Ctrl-C: what is committed stays."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for what, value in (("--db", getattr(args, "db", None)), ("the model name", getattr(args, "model", None)),
                            ("the folder name", getattr(args, "dir", None))):
            if value == "":  # not the default, nor the current folder
                raise UsageError(f"{what} is empty: name one (an empty name is neither the default nor the "
                                 "current folder)")
        if args.command == "models":
            return cmd_models(args)
        db = getattr(args, "db", None) or default_db()
        with Library(db, model=getattr(args, "model", None), threads=getattr(args, "threads", None)) as lib:
            command = {"index": cmd_index, "search": cmd_search, "similar": cmd_similar, "dupes": cmd_dupes,
                       "status": cmd_status, "roots": cmd_roots, "serve": cmd_serve}.get(args.command, cmd_shell)
            return command(args, lib)
    except (CatalogError, models.ModelError, BundleError, UsageError, ValueError, LookupError, OcrUnavailable) as e:
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


def run() -> None:
    sys.exit(main())
