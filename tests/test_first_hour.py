"""The first hour with picfind, as a newcomer has it: wrong names and empty answers say what to
do, usage errors exit 2, and the catalog is made only by a command that writes."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from picfind.cli.main import main


def cli(*args: str) -> tuple[int, str, str]:
    """The real CLI in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # the parser's usage errors
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", [["search", "a dog"], ["similar", "x.jpg"], ["dupes"], ["status"],
                                     ["roots"], ["shell"], ["serve", "--port", "1"]])
def test_reading_commands_refuse_a_catalog_that_is_not_there(tmp_path: Path, command: list[str]) -> None:
    """A mistyped --db quietly became an empty catalog (and its folder) answering "no matches"."""
    db = tmp_path / "typo" / "catalgo.db"
    code, out, err = cli(*command, "--db", str(db))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and f"no catalog at {db}" in err and f"picfind index FOLDER --db {db}" in err
    assert not db.parent.exists()


def test_the_default_catalog_missing_says_how_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PICFIND_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    code, _, err = cli("status")
    assert code == 1 and "no catalog yet at" in err and "`picfind index FOLDER` makes one" in err
    assert not (tmp_path / "data").exists()


def test_index_with_a_missing_folder_remembers_none_of_them(tmp_path: Path) -> None:
    (tmp_path / "A").mkdir()
    db = str(tmp_path / "c.db")
    code, _, err = cli("index", str(tmp_path / "A"), str(tmp_path / "B"), "--db", db)
    assert code == 1 and err == f"picfind: error: {tmp_path / 'B'}: no such folder\n"
    assert cli("roots", "--json", "--db", db)[1].strip() == "[]"
