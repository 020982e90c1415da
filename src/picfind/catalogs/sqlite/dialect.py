"""How a `Filter` reads in the embedded catalog's SQL: when a picture was taken, an extension
test, a substring test, and `picfind_km`, the near filter's distance, which SQLite lacks and
each connection gets from Python."""

from __future__ import annotations

import sqlite3

from picfind.filters import Dialect, Filter, condition, like_escape
from picfind.media.places import km_between

# When a picture was taken (see `picfind.filters`), as SQLite computes it.
WHEN = "coalesce(f.taken_at, datetime(f.mtime_ns / 1000000000, 'unixepoch', 'localtime'))"


def _extensions(extensions: list[str]) -> tuple[str, list]:
    return ("(" + " OR ".join("lower(CAST(f.path AS TEXT)) LIKE ?" for _ in extensions) + ")",
            [f"%.{like_escape(e)}" for e in extensions])


SQLITE = Dialect(mark="?", prefix="substr(f.path, 1, ?) = ?", when=WHEN, extensions=_extensions, true="1",
                 contains="instr({}, {}) > 0")


def sqlite_condition(where: Filter) -> tuple[str, list]:
    """A filter as a condition over `files f` and its parameters ("1" when nothing is filtered)."""
    return condition(where, SQLITE)


def _km(lat1: float | None, lon1: float | None, lat2: float, lon2: float) -> float | None:
    """`picfind_km` in SQL: km between two positions, NULL without one."""
    return None if lat1 is None or lon1 is None else km_between(lat1, lon1, lat2, lon2)


def register_functions(db: sqlite3.Connection) -> None:
    """The SQL functions the filters use, on one connection."""
    db.create_function("picfind_km", 4, _km, deterministic=True)


def owner_sql(column: str) -> str:
    """SQL for the content a stored key belongs to: a video frame's key ("<hash>@<start>-<end>",
    `records.frame_key`) belongs to its video; a picture's content hash to itself."""
    return (f"CASE WHEN instr({column}, '@') > 0 THEN substr({column}, 1, instr({column}, '@') - 1) "
            f"ELSE {column} END")


def frames_sql(column: str, content: str) -> str:
    """SQL for the keys in `column` of a video's kept frames ("<hash>@<start>-<end>", between
    "<hash>@" and "<hash>A"): a range of the key, so an index on it is walked, not scanned."""
    return f"({column} > {content} || '@' AND {column} < {content} || 'A')"
