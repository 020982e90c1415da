"""The interactive prompt (`picfind shell`, or `picfind` alone): one search per line, with the
search options allowed on the line."""

from __future__ import annotations

import argparse
import shlex
import sys

from picfind import __version__
from picfind.cli.args import Parser, UsageError, search_options, where_of
from picfind.cli.output import holdings, print_hits
from picfind.cli.people import understood_line
from picfind.errors import terminal
from picfind.library import Library
from picfind.records import CatalogError
from picfind.search.query import group as group_terms

SHELL_HELP = """\
Type a description and press Enter:   a dog asleep on a red sofa
Combine text and image files:         beach + ./ref.jpg - people      (2:sunset weighs a term twice)
A video's moment as an example:       ./clip.mp4@1:23 - people
Add search options on the line:       red car --after 2024-06 -n 20 --sort date --min-score 0.2
Filters:                              --in FOLDER  --after DATE  --before DATE  --ext jpg,heic
                                      --min-width PX  --min-height PX  --kind image|video
                                      --place NAME  --near LAT,LON[,KM]
People (after index --faces):         anna at the beach     (a named person's name in the text)
                                      --person NAME (repeat: all of them)  --any-person  --only-people
preview on, preview off               draw the top results' pictures (where the terminal can)
help or ?                             this text
exit, quit or Ctrl-D                  leave
(to search for the word itself, quote it: "help")"""


def run_shell(args: argparse.Namespace, lib: Library) -> int:
    try:
        import readline  # noqa: F401 - line editing and history for input()
    except ImportError:  # pragma: no cover
        pass
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"picfind {__version__}: {holdings(lib.holdings())}, model {lib.model}. "
              "Describe a picture; `help` shows what else; `exit` leaves.")
    lib.warm()  # while the first line is typed
    opts = argparse.Namespace(json=False, paths_only=False, null=False)
    draw = None  # `preview on` sets it
    while True:
        try:
            line = input("picfind> " if interactive else "")
        except EOFError:
            if interactive:
                print()  # Ctrl-D: the next prompt of the terminal starts on its own line
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
        if query.lower() in ("preview on", "preview off"):
            from picfind.cli.preview import previewer  # Pillow only once pictures are drawn

            draw = previewer(lib) if query.lower() == "preview on" else None
            print(f"previews {'on' if draw else 'off'}")
            continue
        try:
            terms, line_args = shell_line(query)
            hint = lib.language_hint(terms)
            if hint:
                print(f"picfind: {terminal(hint)}", file=sys.stderr)
            where = where_of(line_args, lib)
            meant = understood_line(lib, terms, where)
            if meant:
                print(meant, file=sys.stderr)
            hits = lib.search(terms, n=line_args.n, min_score=line_args.min_score, where=where,
                              sort=line_args.sort, ocr_only=line_args.ocr_only)
            print_hits(hits, opts, draw)
            note = hits.note()
            if note:
                print(f"picfind: {terminal(note)}", file=sys.stderr)
        except (ValueError, LookupError, CatalogError, UsageError) as e:
            print(f"picfind: {terminal(str(e))}", file=sys.stderr)
        except SystemExit:
            pass  # a wrong option on this line: the parser said why; the shell goes on
    return 0


def shell_line(line: str) -> tuple[list[str], argparse.Namespace]:
    """A shell line: a description or combined query, optionally with search options,
    e.g. `beach - people --after 2024-06 -n 20`."""
    parser = Parser(prog="picfind shell", add_help=False)
    parser.help_hint = "type `help` for what a line may hold"
    parser.add_argument("query", nargs="*")
    parser.add_argument("--ocr-only", action="store_true")
    search_options(parser, n=10)
    try:
        tokens = shlex.split(line)
    except ValueError:  # an unbalanced quote: "a dog's bed"
        return [line], parser.parse_args([])
    if not any(t.startswith("--") or t == "-n" for t in tokens):
        return group_terms(tokens), parser.parse_args([])
    args = parser.parse_args(tokens)
    return group_terms(args.query), args
