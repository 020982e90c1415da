"""One line for what went wrong underneath: SQLite and file-system errors as a person reads them.

The CLI and the web server both turn an exception they did not expect into `explain(...)`:
what happened, which path, and what to do. Anything not recognised here is still one line.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def terminal(text: str) -> str:
    """Text safe to print on a terminal: control characters (ESC, newlines, tabs, DEL, C1) shown
    as escapes, so a file name can neither clear the screen nor fake a line of output."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or (
        f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def explain(exc: BaseException, catalog: Path | None) -> str | None:
    """One line for an SQLite or OS error, or None when it is neither."""
    if isinstance(exc, sqlite3.Error):
        return _sqlite(exc, catalog)
    if isinstance(exc, OSError):
        return _os(exc)
    if isinstance(exc, MemoryError):
        return "not enough memory for this: try a smaller file or close other programs"
    return None


def _sqlite(exc: sqlite3.Error, catalog: Path | None) -> str:
    where = f"catalog {catalog}" if catalog else "the catalog"
    text = str(exc)
    low = text.lower()
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return (f"{where} is damaged ({text}): move it aside and run `picfind index FOLDER` to build a new "
                "one (your photos are untouched and can be indexed again)")
    if "readonly" in low or "read-only" in low:
        return (f"{where} is read-only: searching works, but this command has to write; copy the catalog "
                "to a writable place and pass --db, or make it writable")
    if "full" in low:
        return (f"the disk holding {where} is full: free some space and run the command again "
                "(work already committed is kept)")
    if "locked" in low or "busy" in low:
        return f"{where} is busy: another picfind is writing to it; try again when it has finished"
    if "disk i/o" in low or "unable to open" in low:
        return f"cannot read or write {where} ({text}): is its drive still there, and writable?"
    return f"{where}: {text}"


def _os(exc: OSError) -> str:
    path = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc)
    if exc.errno in _FULL:
        return (f"the disk is full, writing {path}: free some space and run the command again "
                "(work already committed is kept)")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = _blocking_file(str(path))
        return (f"{blocker} is a file where picfind keeps a folder: move it aside (it will be made "
                "again) and run the command again")
    if exc.errno in _READ_ONLY:
        return f"cannot write {path}: {reason}; make it writable or use another --db"
    return f"{path}: {reason}"


def _blocking_file(path: str) -> str:
    """The nearest part of `path` that exists and is not a folder (what a mkdir ran into)."""
    p = Path(path)
    for candidate in (p, *p.parents):
        if os.path.lexists(candidate):
            return str(candidate) if not candidate.is_dir() else path
    return path
