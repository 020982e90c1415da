"""The `picfind` command and its interactive shell: a thin layer over `picfind.Library`."""

from picfind.cli.main import main, run

__all__ = ["main", "run"]
