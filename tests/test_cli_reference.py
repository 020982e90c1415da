"""The command line as documented: every option of every command says what it does, its default
and its choices in --help, and the command reference names every option the parser has (so one
cannot be missing or stale)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from picfind.cli.args import Helpful, build_parser
from picfind.cli.shell import SHELL_HELP

DOCS = Path(__file__).resolve().parents[1] / "docs"


def commands(parser: argparse.ArgumentParser, name: str = "picfind") -> dict[str, argparse.ArgumentParser]:
    """Every parser under `picfind`, by its command line: {"picfind": …, "picfind roots remove": …}."""
    found = {name: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                found |= commands(p, f"{name} {sub}")
    return found


PARSERS = commands(build_parser())
OPTIONS = [(cmd, a) for cmd, p in PARSERS.items() for a in p._actions
           if not isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))]


@pytest.mark.parametrize("cmd, action", OPTIONS, ids=[f"{c} {a.dest}" for c, a in OPTIONS])
def test_every_option_says_what_it_does_its_default_and_choices(cmd: str, action: argparse.Action) -> None:
    """`serve --port`, `--kind`, `--min-width`, `status --json`, `roots --json` said nothing, or
    not their default; `index --no-ocr` and `--no-faces` said `(default: True)`, the value the flag
    stores when given, which is no default (neither flag keeps the catalog's setting)."""
    assert action.help, f"{cmd} {action.option_strings or action.dest}: no help text"
    text = Helpful("picfind")._get_help_string(action) % {**vars(action), "prog": "picfind"}
    if action.option_strings and action.nargs == 0:  # a flag: what it stores is not a default to show
        assert f"(default: {action.default})" not in text, f"{cmd} {action.option_strings}: {text}"
        pair = [a for a in PARSERS[cmd]._actions if a.dest == action.dest and a.option_strings]
        if len(pair) > 1:  # --ocr / --no-ocr: one of them says in words what neither does
            assert any("default" in (a.help or "") for a in pair), f"{cmd} {[a.option_strings for a in pair]}"
    elif action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS):
        value = format(action.default, "g") if isinstance(action.default, float) else str(action.default)
        assert "default" in text and value in text, f"{cmd} {action.option_strings}: {text}"
    if action.choices:
        shown = argparse.HelpFormatter("picfind")._format_args(action, action.dest)
        assert all(str(c) in shown + text for c in action.choices), f"{cmd} {action.option_strings}: {shown}"


def test_roots_remove_has_its_own_help_and_models_offer_no_catalog() -> None:
    found = commands(build_parser())
    assert "PATH" in found["picfind roots remove"].format_usage()
    assert "--json" not in found["picfind roots remove"].format_help()
    for name, p in found.items():
        if name.startswith("picfind models"):
            assert "--db" not in p.format_help(), name


def test_the_command_reference_names_every_option_of_every_command() -> None:
    """The reference is checked against the parser: an option added without a line there, or a
    line left for an option that is gone, fails here."""
    text = (DOCS / "guide" / "commands.md").read_text(encoding="utf-8")
    have = {o for _, a in OPTIONS for o in a.option_strings if o.startswith("--")}
    missing = sorted(o for o in have if not re.search(rf"`[^`]*{re.escape(o)}\b", text))
    assert not missing, f"options not in docs/guide/commands.md: {missing}"
    named = set(re.findall(r"`[^`]*?(--[a-z][a-z0-9-]*)", text))
    stale = sorted(named - have - {"--help", "--version"})
    assert not stale, f"docs/guide/commands.md names options picfind does not have: {stale}"


def test_the_shell_guide_shows_the_shell_help_as_it_is() -> None:
    guide = (DOCS / "guide" / "shell.md").read_text(encoding="utf-8")
    assert SHELL_HELP in guide, "docs/guide/shell.md's help text differs from `help` in the shell (SHELL_HELP)"


def test_no_table_shows_a_literal_backslash_bar() -> None:
    """MkDocs renders `a\\|b` inside a code span as a backslash and a bar: tables wrote `--sort
    score\\|date` where `score|date` was meant."""
    for page in DOCS.rglob("*.md"):
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("|"):
                assert "\\|" not in line, f"{page.relative_to(DOCS)}:{n}: {line[:80]}"
