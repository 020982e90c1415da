"""What every catalog holds and hands out, whichever engine stores it: roots, files as the walk
found them, files indexed or skipped, the error a catalog raises, and the counts `status` shows."""

from __future__ import annotations

import os
from dataclasses import dataclass


class CatalogError(Exception):
    """The catalog cannot be opened or used; the message says why and what to do."""


def fs(path: bytes) -> str:
    """A stored path as the str Python's os functions take (undecodable bytes kept)."""
    return os.fsdecode(path)


def printable(value: object) -> object:
    """Paths, alone or anywhere in a JSON-bound value, as text a terminal or a browser can show:
    bytes that are not UTF-8 become U+FFFD (`fs` keeps them, for opening the file)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


@dataclass(frozen=True)
class Root:
    id: int
    path: str
    extensions: list[str]
    excludes: list[str]


@dataclass(frozen=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    status: str
    content_hash: str | None
    reason: str | None
    meta_read: bool = True


@dataclass(frozen=True)
class FileStat:
    """A file as the walk found it: under which root, how big, when last changed."""
    path: str
    root_id: int
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class IndexedFile(FileStat):
    """One successfully read file, ready to be written with its embedding."""
    content_hash: str
    width: int
    height: int
    taken_at: str | None = None
    camera: str | None = None


@dataclass(frozen=True)
class SkippedFile(FileStat):
    reason: str
    detail: str = ""


def stats_of(files_seen: int, ok: tuple[int, int], embedded: int, by_reason: dict[str, int],
             offline: list[dict]) -> dict:
    """What `status` shows, from any catalog's counts (`ok`: indexed files, distinct contents)."""
    return {
        "files_seen": files_seen,
        "images_indexed": ok[0],
        "unique_contents": ok[1],
        "duplicate_copies": ok[0] - ok[1],
        "embedded_with_model": embedded,
        "skipped": sum(by_reason.values()),
        "skipped_by_reason": by_reason,
        "offline": offline,
    }


def path_ranges(paths: list[str]) -> list[tuple[bytes, bytes, bytes]]:
    """Each path as stored (bytes), with the byte range its descendants' paths fall in: [p + '/',
    p + '0'), '0' being the byte after '/'. A catalog finds them through its index on path."""
    out = []
    for path in paths:
        raw = os.fsencode(path.rstrip(os.sep) or os.sep)
        out.append((raw, raw.rstrip(b"/") + b"/", raw.rstrip(b"/") + b"0"))
    return out
