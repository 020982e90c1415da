"""What the `picfind` command accepts: the argument parser, its checked value types, and the
search options the commands and the shell's lines share. Wrong arguments get one line."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from picfind import __version__
from picfind.filters import Filter
from picfind.library import ANN_BACKENDS
from picfind.search.dupes import DEFAULT_THRESHOLD, THRESHOLDS

if TYPE_CHECKING:
    from picfind.library import Library

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class UsageError(Exception):
    pass


class Helpful(argparse.HelpFormatter):
    """--help shows each option's default (where its help does not already say it; a flag's stored
    value is none: `--no-ocr` stores False, and neither flag keeps the catalog's setting); choices
    show in the option's metavar, {image,video}."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = (action.default not in (None, False, [], argparse.SUPPRESS) and action.option_strings != []
                 and action.nargs != 0)
        if shown and "default" not in text:
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """Wrong arguments get one line saying what is wrong and where help is, no usage dump."""

    help_hint = ""  # where help is, when not `PROG --help` (the shell: its own `help`)

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", Helpful)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} ({self.help_hint or f'see `{self.prog} --help`'})\n")
        raise SystemExit(EXIT_USAGE)

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        """`--near -33.86,151.21` and `--min-score -0.5` are values, not options: argparse takes a
        word that starts with a dash for an option (even a plain negative number, once a parser has
        an option that looks like one: `-0`), so glue such a value to the option that takes it; one
        out of range then says so (`-n -3`: use 1 or more) instead of "expected one argument"."""
        words = list(sys.argv[1:] if args is None else args)
        glued: list[str] = []
        for word in words:
            option = self._option_string_actions.get(glued[-1]) if glued and "--" not in glued else None
            if option is not None and option.nargs is None and re.match(r"-\.?\d", word):
                glued[-1] = f"{glued[-1]}={word}"
            else:
                glued.append(word)
        return super().parse_known_args(glued, namespace)


def _common(catalog: bool = True) -> argparse.ArgumentParser:
    """The options every command takes (`catalog=False`: `picfind models`, which opens none)."""
    p = argparse.ArgumentParser(add_help=False)
    s = argparse.SUPPRESS
    if catalog:
        p.add_argument("--db", default=s, help="catalog: a file, or a postgresql:// URL "
                                              "(default: $PICFIND_DB or a file in the user data folder)")
        p.add_argument("--model", default=s, help="model name or bundle folder (default: the one the catalog was "
                       "indexed with, else $PICFIND_MODEL, else the default that `picfind models list` marks)")
        p.add_argument("--text-model", default=s, metavar="NAME",
                       help="read queries with this text encoder, paired with the catalog's model (a "
                            "Multilingual-CLIP one: `picfind models list`); with `index`, remembered for the catalog; "
                            "`none`: its own")
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
    p.add_argument("--ext", help="comma-separated extensions for these folders (default: common image and video types)")
    _excludes(p)
    p.add_argument("--batch-size", type=_positive_int, help="images per encoder batch (default 16 on CPU, 64 on GPU)")
    p.add_argument("--workers", type=_positive_int, help="reader threads (default: one per core)")
    p.add_argument("--threads", type=_positive_int, help="encoder threads (default: one per core)")
    p.add_argument("--max-megapixels", type=_bounded(float, 0.01, 100_000, "a number", "use 0.01 to 100000"),
                   default=100.0, help="skip larger images (default 100)")
    p.add_argument("--commit-seconds", type=_bounded(float, 0, 86_400, "a number", "use 0 to 86400 seconds"),
                   default=2.0,
                   help="commit finished work this often; a crash loses at most this much (default 2)")
    p.add_argument("--no-thumbnails", action="store_true", help="do not cache thumbnails beside the catalog")
    p.add_argument("--ann", choices=["auto", *ANN_BACKENDS],
                   help="vector index, remembered: auto (default: exact up to 100k images, hnsw above), "
                        "exact, hnsw or annoy")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="read and embed on a Ray cluster: ADDRESS (host:port, or auto for the running one); "
                        "alone: start a local cluster for this run (needs picfind[cluster])")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    ocr = p.add_mutually_exclusive_group()
    ocr.add_argument("--ocr", action="store_true", default=None,
                     help="also read the text in pictures, for search (remembered; needs picfind[ocr])")
    ocr.add_argument("--no-ocr", dest="ocr", action="store_false",
                     help="stop reading text (remembered; default: neither, the catalog's setting, off in a new one)")
    faces = p.add_mutually_exclusive_group()
    faces.add_argument("--faces", action="store_true", default=None,
                       help="also find faces and group them into people (remembered; needs picfind[people])")
    faces.add_argument("--no-faces", dest="faces", action="store_false",
                       help="stop finding faces (remembered; `picfind people forget` deletes those found; "
                            "default: neither, the catalog's setting, off in a new one)")

    p = sub.add_parser("watch", parents=[common], help="keep the catalog current as pictures are added, changed, "
                       "moved or deleted (until Ctrl-C or SIGTERM)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to add as roots first; none: every root")
    p.add_argument("--ext", help="comma-separated extensions for these folders (default: common image and video types)")
    _excludes(p)
    p.add_argument("--settle", type=_bounded(float, 0.1, 3600, "a number", "use 0.1 to 3600 seconds"), default=1.0,
                   help="seconds a changed file must stay unchanged before it is indexed (default 1)")
    p.add_argument("--rescan-minutes", type=_bounded(float, 0.1, 10**6, "a number", "use 0.1 or more"), default=10.0,
                   help="re-scan roots on network file systems this often (their changes raise no events; default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per change batch")

    p = sub.add_parser("search", parents=[common], help="find images by a description",
                       description='Terms are text or image files, joined by + and -, with optional weights: '
                                   'picfind search "beach" + ./ref.jpg - "people";  picfind search "2:sunset" "city"')
    p.add_argument("query", nargs="*", metavar="TERM", help="a description, an image file, + or -; W:TERM weighs it "
                   "(none, with --person: every picture of them)")
    p.add_argument("--ocr-only", action="store_true", help="only pictures whose text holds the words")
    p.add_argument("--here", action="store_true", help="index the current folder first (remembered; later runs "
                   "read only what changed), then search only under it")
    _result_options(p)

    p = sub.add_parser("similar", parents=[common], help="find images like an image (in the catalog or not)")
    p.add_argument("image", metavar="PATH", help="an image file (one outside the catalog is embedded, not added), "
                   "or an indexed video at a moment: VIDEO@1:23")
    p.add_argument("--at", metavar="TIME", help="with a video: the moment to use as the example (83 or 1:23)")
    p.add_argument("--faces", action="store_true", help="only pictures of the same people (every known person in it)")
    _result_options(p)

    p = sub.add_parser("dupes", parents=[common], help="list copies: exact (same bytes) or --near (resized, "
                       "re-encoded, cropped); never deletes anything")
    p.add_argument("--near", action="store_true", help="near-duplicates, from embedding similarity")
    p.add_argument("--threshold", type=_bounded(float, *THRESHOLDS, "a number", "use {} to {} (cosine similarity)"
                                                .format(*THRESHOLDS)), default=DEFAULT_THRESHOLD,
                   help=f"with --near: how similar to the copy kept counts as a copy, {THRESHOLDS[0]} to "
                        f"{THRESHOLDS[1]} (default {DEFAULT_THRESHOLD})")
    p.add_argument("--json", action="store_true", help="groups as JSON, to script a clean-up")

    sub.add_parser("shell", parents=[common], help="interactive prompt (also: picfind with no command)")

    p = sub.add_parser("serve", parents=[common], help="a local web page: search as you type, see the pictures")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=_bounded(int, 1, 65535, "a port number", "use 1 to 65535"), default=8765,
                   help="port to listen on")
    p.add_argument("--token", help="a secret every request must carry; required to listen beyond this computer "
                   "(on the command line every local user can read it: prefer $PICFIND_TOKEN or --token-file)")
    p.add_argument("--token-file", metavar="FILE", help="read the token from the first line of this file")
    p.add_argument("--open", action="store_true", help="open the page in the browser")
    p.add_argument("--watch", action="store_true", help="keep the catalog current while serving (as `picfind watch`)")

    people_parser(sub, common)

    p = sub.add_parser("status", parents=[common], help="what the catalog holds")
    p.add_argument("--json", action="store_true", help="print it as JSON")
    p.add_argument("--skipped", action="store_true", help="list every skipped file with its reason")

    p = sub.add_parser("roots", parents=[common], help="list remembered folders; `roots remove PATH`")
    p.add_argument("--json", action="store_true", help="list them as JSON")
    rsub = p.add_subparsers(dest="action", parser_class=Parser, metavar="ACTION")
    rsub.add_parser("list", parents=[common], help="the remembered folders (what `roots` alone does)").add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="list them as JSON")
    rsub.add_parser("remove", parents=[common], help="forget a folder and its files (nothing on disk is touched)"
                    ).add_argument("path", metavar="PATH", help="a remembered folder, as `picfind roots` lists it")

    models = _common(catalog=False)
    p = sub.add_parser("models", parents=[models], help="list, download, import, verify, remove models")
    msub = p.add_subparsers(dest="models_command", parser_class=Parser, metavar="ACTION")
    m = msub.add_parser("list", parents=[models], help="known and installed models (what `models` alone does)")
    m.add_argument("--json", action="store_true", help="list them as JSON")
    msub.add_parser("download", parents=[models], help="fetch a model once (needs internet)").add_argument(
        "name", metavar="NAME", help="a model `picfind models list` names")
    m = msub.add_parser("import", parents=[models], help="install a model folder from disk")
    m.add_argument("dir", metavar="DIR", help="a picfind bundle, or the files as downloaded from the hub")
    m.add_argument("--as", dest="as_name", metavar="NAME", help="which model the files are (when ambiguous)")
    msub.add_parser("verify", parents=[models], help="check every file's sha256").add_argument(
        "model", metavar="NAME|DIR", help="an installed model, or a bundle folder")
    msub.add_parser("remove", parents=[models], help="delete an installed model").add_argument(
        "name", metavar="NAME", help="an installed model")
    return parser


def _excludes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="skip names or paths matching (besides the default excludes: trash, thumbnail and "
                        "sync-tool folders, ._* files; see the command reference)")
    p.add_argument("--no-default-excludes", dest="clutter", action="store_true",
                   help="index what systems and sync tools leave behind too (remembered for these folders)")


def _result_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="a JSON array of results")
    p.add_argument("--paths-only", action="store_true", help="one path per line, for pipes (names as they are)")
    p.add_argument("--null", "-0", action="store_true",
                   help="with --paths-only (implied): end each path with a NUL byte, for `xargs -0` (as find -print0)")
    p.add_argument("--sheet", type=_sheet_path, metavar="FILE.png", help="also write a contact sheet")
    p.add_argument("--open", action="store_true", help="open the top results in the system viewer")
    p.add_argument("--preview", action="store_true",
                   help="draw the top 10 results' pictures in the terminal (kitty, WezTerm, Ghostty, iTerm2, sixel)")
    search_options(p, n=20)


def search_options(p: argparse.ArgumentParser, n: int) -> None:
    """How many, in what order, and which: shared by the commands and the shell's lines."""
    p.add_argument("-n", type=_positive_int, default=n, help=f"how many results (default {n})")
    p.add_argument("--min-score", type=_score, help="drop results scoring below this")
    p.add_argument("--sort", choices=["score", "date"], default="score",
                   help="order of the results: score (default) or date, newest first")
    f = p.add_argument_group("filters")
    f.add_argument("--in", dest="folders", action="append", metavar="FOLDER", type=_checked(folders=[]),
                   help="only pictures under this folder")
    f.add_argument("--after", metavar="DATE", type=_checked(after=""),
                   help="taken on or after (EXIF date, else file time): 2024, 2024-06, 2024-06-01")
    f.add_argument("--before", metavar="DATE", type=_checked(before=""), help="taken before this date")
    f.add_argument("--ext", type=_checked(extensions=""), help="only these extensions, comma-separated: jpg,heic")
    f.add_argument("--min-width", type=_positive_int, metavar="PX", help="at least this wide")
    f.add_argument("--min-height", type=_positive_int, metavar="PX", help="at least this high")
    f.add_argument("--place", metavar="NAME", type=_checked(place=""), help="taken in or around this town, or in "
                   "this region or country (from the EXIF GPS position; any case, accents optional): --place lyon, "
                   "--place 'ile de france', --place NSW, --place FR, --place usa")
    f.add_argument("--near", metavar="LAT,LON[,KM]", type=_checked(near=""), help="taken within KM (default 10) "
                   "of this position, in decimal degrees, south and west negative: --near 45.76,4.84,5 or "
                   "--near -33.86,151.21,2km")
    f.add_argument("--kind", choices=["image", "video"], help="only pictures or only videos (default: both)")
    f.add_argument("--person", action="append", metavar="NAME", help="only pictures of this person (a name or "
                   "an id from `picfind people`); repeat for pictures holding all of them")
    mode = f.add_mutually_exclusive_group()
    mode.add_argument("--any-person", dest="people_mode", action="store_const", const="any", default="all",
                      help="with several --person: pictures holding any of them (default: all of them)")
    mode.add_argument("--only-people", dest="people_mode", action="store_const", const="only",
                      help="with --person: pictures holding these people and no one else")


def _checked(**field: object):
    """An argparse type: a filter value checked as `Filter.of` checks it, so a wrong one is a usage
    error at once (exit 2; on a shell line, the line's error)."""
    name, empty = next(iter(field.items()))

    def check(text: str) -> str:
        try:
            Filter.of(**{name: [text] if isinstance(empty, list) else text})
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text
    return check


def people_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("people", parents=[common], help="the people found in pictures: list, name, merge, hide, "
                       "show, forget (after `picfind index --faces`)")
    p.add_argument("--json", action="store_true", help="as JSON (the list: objects with id, name, pictures)")
    p.add_argument("--all", action="store_true", help="hidden people too")
    either = argparse.ArgumentParser(add_help=False)  # also accepted after the action: people show 3 --json
    either.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="as JSON")
    common = argparse.ArgumentParser(add_help=False, parents=[common, either])
    psub = p.add_subparsers(dest="people_command", parser_class=Parser, metavar="ACTION")
    psub.add_parser("list", parents=[common], help="every person, most pictures first (the default)").add_argument(
        "--all", action="store_true", default=argparse.SUPPRESS, help="hidden people too")
    a = psub.add_parser("name", parents=[common], help="name a person: people name ID NAME")
    a.add_argument("person", metavar="ID", help="a person: an id or a name from `picfind people`")
    a.add_argument("name", nargs="+", metavar="NAME", help="the name to give (several words: one name)")
    a = psub.add_parser("merge", parents=[common], help="make two people one: people merge KEEP OTHER")
    a.add_argument("person", metavar="KEEP", help="the person who stays (an id or a name)")
    a.add_argument("other", metavar="OTHER", help="the person merged into KEEP (an id or a name)")
    for action, text in (("hide", "hide a person from the list and the page"),
                         ("unhide", "show a hidden person again")):
        psub.add_parser(action, parents=[common], help=text).add_argument(
            "person", metavar="ID", help="a person: an id or a name from `picfind people`")
    face = "a face's id, as `picfind people show` lists it"
    a = psub.add_parser("remove", parents=[common], help="take a face out of its person, for good: people remove FACE")
    a.add_argument("face", type=_positive_int, metavar="FACE", help=face)
    a = psub.add_parser("assign", parents=[common], help="put a face in a person, for good: people assign FACE ID")
    a.add_argument("face", type=_positive_int, metavar="FACE", help=face)
    a.add_argument("person", metavar="ID", help="a person: an id or a name from `picfind people`")
    a = psub.add_parser("show", parents=[common], help="a person's faces (ids and pictures)")
    a.add_argument("person", metavar="ID", help="a person: an id or a name from `picfind people`")
    a.add_argument("--sheet", type=_sheet_path, metavar="FILE.png", help="also write a contact sheet of the faces")
    a.add_argument("-n", type=_positive_int, default=200, help="at most this many faces (default 200)")
    psub.add_parser("regroup", parents=[common], help="group every face again from scratch (named people and "
                    "faces you placed stay)")
    a = psub.add_parser("forget", parents=[common], help="delete every face, face crop and person, and stop "
                        "finding faces")
    a.add_argument("--yes", action="store_true", help="do not ask first")


def where_of(args: argparse.Namespace, lib: Library) -> Filter:
    """The filter a command or a shell line asks for, people's names made ids (`Library.with_people`)."""
    where = filter_of(args)
    if args.person:
        return lib.with_people(where, args.person, args.people_mode)
    if args.people_mode != "all":
        raise UsageError("--any-person and --only-people go with --person NAME")
    return where


def filter_of(args: argparse.Namespace) -> Filter:
    """The filters of a command or a shell line; what only the whole says wrong (--after later than
    --before) is a usage error too."""
    try:
        return Filter.of(args.folders, args.after, args.before, args.ext, args.min_width, args.min_height,
                         args.place, args.near, getattr(args, "kind", None))
    except ValueError as e:
        raise UsageError(str(e)) from None
