"""`picfind people`: the people found in pictures, listed, named, merged, hidden, shown and
forgotten, each action one call of the library's people doors."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from picfind.cli.args import UsageError
from picfind.cli.output import dumps, shown

if TYPE_CHECKING:
    from picfind.filters import Filter
    from picfind.library import Library


def cmd_people(args: argparse.Namespace, lib: Library) -> int:
    action = args.people_command or "list"
    if action == "list":
        return _list(args, lib)
    if action == "show":
        return _show(args, lib)
    if action == "forget":
        return _forget(args, lib)
    if action == "regroup":
        done = lib.group_faces(again=True)
        _say(args, f"grouped again: {done['joined']} faces in people, {done['new_people']} new people, "
                   f"{done['waiting']} faces waiting for more of their kind")
        return 0
    changed = {
        "name": lambda: lib.name_person(args.person, " ".join(args.name)),
        "merge": lambda: lib.merge_people(args.person, args.other),
        "hide": lambda: lib.hide_person(args.person),
        "unhide": lambda: lib.hide_person(args.person, hidden=False),
        "remove": lambda: lib.place_face(args.face, None),
        "assign": lambda: lib.place_face(args.face, args.person),
    }[action]()
    if args.json:
        print(dumps(changed))
    elif action in ("remove", "assign"):
        _say(args, f"face {args.face} " + ("belongs to no one now" if changed["person"] is None
                                           else f"is {_label(lib.person(changed['person']))}'s now"))
    else:
        _say(args, f"{_label(changed)}: {_counts(changed)}" + (" (hidden)" if changed["hidden"] else ""))
    return 0


def understood_line(lib: Library, query: list[str], where: Filter) -> str | None:
    """How a query with people in it was understood ("pictures of Anna with 'at the beach'"), or None."""
    meant = lib.understood(query, where)
    if not meant["people"]:
        return None
    text = " + ".join(repr(t) for t in meant["text"])
    return f"searching for pictures of {' and '.join(meant['people'])}" + (f" with {text}" if text else "")


def _list(args: argparse.Namespace, lib: Library) -> int:
    people = lib.people(hidden=args.all)
    if args.json:
        print(dumps(people))
        return 0
    if not people:
        st = lib.faces_status()
        print("no people yet: `picfind index --faces` finds faces and groups them" if st["setting"] == "off" else
              f"no people yet: {st['faces']} faces found, {st['waiting']} waiting for more pictures of them")
        return 0
    for p in people:
        hidden = "  (hidden)" if p["hidden"] else ""
        print(f"{p['id']:>5}  {(p['name'] or '(no name)'):<24} {_counts(p)}{hidden}")
    _say(args, "`picfind people name ID NAME` names one; `picfind search --person NAME ...` finds them")
    return 0


def _show(args: argparse.Namespace, lib: Library) -> int:
    person = lib.person(args.person)
    faces = lib.person_faces(person["id"], args.n)
    if args.json:
        print(dumps({**person, "faces_shown": faces}))
    else:
        print(f"{_label(person)}: {_counts(person)}")
        for f in faces:
            print(f"  face {f['id']:>6}  {shown(f['path']) if f['path'] else '(no file left)'}")
    if args.sheet:
        from picfind.cli.sheet import face_sheet

        written = face_sheet(faces, args.sheet, lib, f"{_label(person)}: {_counts(person)}")
        _say(args, f"contact sheet: {shown(str(written))}")
    return 0


def _forget(args: argparse.Namespace, lib: Library) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("people forget deletes every face and person: add --yes to confirm")
        answer = input(f"delete every face, face crop and person in {lib.location}, and stop finding faces? "
                       "[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 0
    n = lib.forget_faces()
    _say(args, f"forgot {n} faces and every person; `picfind index --faces` starts again")
    return 0


def _label(person: dict) -> str:
    return person["name"] or f"person {person['id']}"


def _counts(person: dict) -> str:
    videos = f", {person['videos']} video{'s' * (person['videos'] != 1)}" if person["videos"] else ""
    return f"{person['pictures']} picture{'s' * (person['pictures'] != 1)}{videos}"


def _say(args: argparse.Namespace, line: str) -> None:
    if not getattr(args, "quiet", False) and not args.json:
        print(line)
