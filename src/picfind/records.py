"""What every catalog holds and hands out, whichever engine stores it: roots, files as the walk
found them, files indexed or skipped, the error a catalog raises, and the counts `status` shows."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

FIRST_PHOTO_YEAR = 1826  # Niépce's view from a window: an earlier capture date is a camera clock never set


def when_text(moment: datetime) -> str:
    """The catalog's form of a time: "YYYY-MM-DD HH:MM:SS" with the year in four digits, so that
    text order is time order for every year (strftime writes year 999 as "999")."""
    return f"{moment.year:04d}-{moment:%m-%d %H:%M:%S}"


class CatalogError(Exception):
    """The catalog cannot be opened or used; the message says why and what to do."""


FS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()  # `str.encode(*FS)`: os.fsencode, inlined


def fs(path: bytes) -> str:
    """A stored path as the str Python's os functions take (undecodable bytes kept): `os.fsdecode`,
    without its checks, for the million paths a re-scan reads."""
    return path.decode(*FS) if type(path) is bytes else os.fsdecode(path)


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


# What operating systems, phones, NASes and sync tools leave beside pictures: never what a person
# took (trash, old versions, thumbnails, resource forks). Stored with each root when it is added
# (`index --no-default-excludes` leaves them out; `picfind.indexing.crawl` walks by them); listed
# in docs/guide/commands.md. A change to the defaults needs a schema step for the roots stored
# with the list before it, as `DEFAULT_EXCLUDES_V1` has.
CLUTTER = (
    ".thumbnails", ".thumbnail", ".thumbs", ".cache", ".trashed-*", ".pending-*",  # Android, Linux caches
    ".Trash", ".Trash-*", ".trash", ".Trashes", "$RECYCLE.BIN", "RECYCLER", "System Volume Information",
    "lost+found", "._*", ".AppleDouble", ".AppleDB", ".Spotlight-V100", ".fseventsd",  # macOS, Windows
    ".DocumentRevisions-V100", ".TemporaryItems",
    ".stversions", ".stfolder", ".sync", ".dropbox.cache", "@eaDir", "#recycle", "@Recycle", ".@__thumb",
    ".recycle", ".SynologyWorkingDirectory",  # sync tools, Synology and QNAP NASes, Samba
    ".picasaoriginals", ".dtrash",  # Picasa's originals of edited pictures, digiKam's trash
)
DEFAULT_EXCLUDES = (*CLUTTER, "node_modules", ".git", ".picfind")
# The defaults every root was stored with before the clutter list (a schema step gives those roots
# today's, the user's own excludes kept after them)
DEFAULT_EXCLUDES_V1 = ("@eaDir", "node_modules", ".git", ".picfind")


@dataclass(frozen=True)
class Root:
    id: int
    path: str
    extensions: list[str]
    excludes: list[str]


class FileRecord(NamedTuple):
    """A file as the catalog knows it, for the walk to compare with the disk. A tuple, not a frozen
    dataclass: a re-scan makes one per file, and a tuple is made at a third of the cost."""
    path: str
    size: int
    mtime_ns: int
    status: str
    content_hash: str | None
    reason: str | None
    meta_read: bool = True

    @classmethod
    def of(cls, row: tuple) -> FileRecord:
        """From a catalog's row: these fields in this order, the path as stored (bytes)."""
        return cls(fs(row[0]), row[1], row[2], row[3], row[4], row[5], bool(row[6]))


def by_path(rows: dict[bytes, tuple]) -> dict[str, FileRecord]:
    """A root's rows (path bytes -> row, `files_of_root`) as records by path."""
    return {rec.path: rec for rec in map(FileRecord.of, rows.values())}


def fold(text: str) -> str:
    """Text as picfind compares it (place names, OCR text and the words looked for in it): no
    accents, no case (after decomposing, so full-width and other compatibility capitals fold too),
    words joined by one space ("Île-de-France" -> "ile de france"), so people type as they can."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(w for w in re.split(r"[\W_]+", plain.casefold()) if w)


@dataclass(frozen=True)
class Place:
    """Where a picture was taken, as names: the nearest town in GeoNames, its region, its country."""
    city: str
    region: str
    country: str
    country_code: str = ""
    county: str = ""  # GeoNames' second level (a département, a ward): matched, not shown

    def __str__(self) -> str:
        return ", ".join(dict.fromkeys(p for p in (self.city, self.region, self.country) if p))

    @property
    def key(self) -> str:
        """What `--place` matches: each name folded, between bars ("|lyon 01|lyon|rhone|auvergne
        rhone alpes|france|fr|"). A city district numbered as GeoNames numbers them ("Lyon 01",
        "Paris 04") also matches its city's name."""
        city = fold(self.city)
        district = re.fullmatch(r"(.*\D) \d{1,2}", city)
        names = (city, district and district.group(1), self.county, self.region, self.country, self.country_code)
        folded = dict.fromkeys(fold(n) for n in names if n and fold(n))
        return "|" + "".join(f"{n}|" for n in folded)


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
    lat: float | None = None  # EXIF GPS position, degrees (WGS 84)
    lon: float | None = None
    place: Place | None = None  # the names of that position (`picfind.media.places`)
    duration: float | None = None  # seconds, for a video; None for a picture


# A file's position columns, as both catalogs store them, written and read in this order.
PLACE_COLUMNS = ("lat", "lon", "city", "region", "country", "place_key")
PLACE_READ = "f.lat, f.lon, f.city, f.region, f.country"


def place_values(f: IndexedFile) -> tuple:
    """The values of PLACE_COLUMNS for one file."""
    p = f.place
    return (f.lat, f.lon, *((p.city, p.region, p.country, p.key) if p else (None,) * 4))


def place_fields(lat: float | None, lon: float | None, city: str | None, region: str | None,
                 country: str | None) -> dict:
    """The columns of PLACE_READ as a result's fields: `place` is one line, "Lyon, Auvergne-Rhône-Alpes,
    France", and `city`, `region` and `country` each name (None where unknown)."""
    place = str(Place(city or "", region or "", country or "")) if lat is not None else ""
    named = lat is not None
    return {"lat": lat, "lon": lon, "place": place or None, "city": named and city or None,
            "region": named and region or None, "country": named and country or None}


def frame_key(content_hash: str, start: float, end: float) -> str:
    """The key a video's kept frame is stored under, beside pictures' content hashes:
    "<video hash>@<start ms>-<end ms>", the time range of the video that vector stands for.
    Every vector index, the thumbnails and the vector log take it as they take a content hash."""
    return f"{content_hash}@{round(start * 1000)}-{round(end * 1000)}"


def owner(key: str) -> str:
    """The content a stored key belongs to: a frame's video, else the key itself."""
    return key.split("@", 1)[0]


def frame_span(key: str) -> tuple[float, float] | None:
    """(start, end) seconds of a frame key; None for a picture's content hash."""
    if "@" not in key:
        return None
    start, _, end = key.split("@", 1)[1].partition("-")
    return int(start) / 1000, int(end) / 1000


@dataclass(frozen=True)
class SkippedFile(FileStat):
    reason: str
    detail: str = ""


def stats_of(t: dict[str, int], model: str, offline: list[dict]) -> dict:
    """What `status` shows, from the counts either catalog's triggers keep (key -> n, as both
    tallies modules define them: `positioned`, indexed files with a GPS position; `early`, those
    whose capture time is before FIRST_PHOTO_YEAR, surely a clock never set)."""
    by_reason = dict(sorted(((k.removeprefix("skipped:"), n) for k, n in t.items() if k.startswith("skipped:")),
                            key=lambda kv: -kv[1]))
    ok, contents = t.get("ok", 0), t.get("contents", 0)
    return {
        f"dates_before_{FIRST_PHOTO_YEAR}": t.get("early", 0),
        "pictures": t.get("pictures", 0),
        "videos": t.get("videos", 0),
        "moments": t.get(f"moments:{model}", 0),
        "files_seen": t.get("files", 0),
        "images_indexed": ok,  # indexed files, videos and copies included (the name is older than videos)
        "unique_contents": contents,
        "duplicate_copies": ok - contents,
        "embedded_with_model": t.get(f"embedded:{model}", 0),
        "with_position": t.get("positioned", 0),
        "skipped": sum(by_reason.values()),
        "skipped_by_reason": by_reason,
        "offline": offline,
    }


def under_paths(paths: list[str], mark: str, chunk: int = 100) -> Iterator[tuple[str, list[bytes]]]:
    """SQL conditions (with their parameters, `mark` being the driver's placeholder) for the files at
    or under these paths, a chunk of paths at a time: each path as stored (bytes), or in the byte
    range [p + '/', p + '0') of its descendants ('0' is the byte after '/'), which a catalog walks
    in its index on path."""
    for k in range(0, len(paths), chunk):
        params: list[bytes] = []
        for path in paths[k:k + chunk]:
            raw = os.fsencode(path).rstrip(b"/")
            params += [raw or b"/", raw + b"/", raw + b"0"]
        yield " OR ".join(f"path = {mark} OR (path >= {mark} AND path < {mark})" for _ in params[::3]), params


def content_hasher() -> hashlib.blake2b:
    """The hash that names a content (BLAKE2b-128): whole bytes (`stages.content_hash`) and a
    streamed video (`videos.stream_hash`) must agree, so both start from this."""
    return hashlib.blake2b(digest_size=16)
