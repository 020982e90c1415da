"""Which files a search may return: under a folder, taken in a date range, of some extensions,
at least so large, taken in a named place or near a position (pictures without a GPS position
never pass those two). `condition` compiles a `Filter` into one SQL condition over a `files f`
table, in the dialect each catalog backend gives (`catalogs/sqlite/dialect.SQLITE`,
`catalogs/postgres/search.POSTGRES`).

When a picture was taken: its EXIF capture time, else the file's modification time (local clock)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from picfind.media.formats import normalise_extensions
from picfind.media.places import EARTH_KM, Area, known, spoken
from picfind.records import fold, when_text

DEFAULT_NEAR_KM = 10.0

_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m", "%Y")


def parse_date(text: str) -> str:
    """A date as people write it (2024, 2024-07, 2024-07-14, 2024-07-14 18:30) -> the catalog's form."""
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return when_text(datetime.strptime(text, fmt))
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date: write 2024, 2024-07, 2024-07-14 or '2024-07-14 18:30'")


def _meant(after: str, before: str) -> str:
    """The range an empty one was likely meant to be: the two dates swapped, or for one period
    (`after 2024 and before 2024`) the whole of it, up to the start of the next."""
    if parse_date(after) > parse_date(before):
        return f" (did you mean after {before} and before {after}?)"
    text = before.strip()
    for fmt, step in (("%Y", "year"), ("%Y-%m", "month"), ("%Y-%m-%d", "day")):
        try:
            day = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if day.year >= 9999:
            break
        if step == "year":
            nxt = f"{day.year + 1:04d}"
        elif step == "month":
            nxt = f"{day.year + day.month // 12:04d}-{day.month % 12 + 1:02d}"
        else:
            nxt = (day + timedelta(days=1)).strftime("%Y-%m-%d")
        return f" (did you mean after {text} and before {nxt}, the whole of {text}?)"
    return ""


_UNITS = {"km": 1.0, "m": 0.001, "mi": 1.609344}


def parse_near(text: str) -> tuple[float, float, float]:
    """"LAT,LON" or "LAT,LON,KM" (decimal degrees, north and east positive; commas or spaces
    between; the distance may carry a unit: 5km, 800 m, 3mi) -> (lat, lon, km)."""
    parts = [p for p in re.split(r"[\s,;]+", text.strip().lower()) if p]
    if len(parts) == 4 and parts[3] in _UNITS:  # "5 km": the unit as its own word
        parts[2:] = [parts[2] + parts[3]]
    usage = (f"{text!r} is not a position: write LAT,LON or LAT,LON,KM in decimal degrees "
             "(south and west negative), e.g. 48.858,2.294,5 or -33.857,151.215,2km")
    if len(parts) not in (2, 3):
        raise ValueError(usage)
    distance = re.fullmatch(r"([0-9.eE+-]+)(km|m|mi)?", parts[2]) if len(parts) == 3 else None
    try:
        lat, lon = float(parts[0]), float(parts[1])
        if len(parts) == 3 and distance is None:
            raise ValueError(usage)
        km = float(distance[1]) * _UNITS[distance[2] or "km"] if distance else DEFAULT_NEAR_KM
    except ValueError:
        raise ValueError(usage) from None
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{text!r}: latitude runs from -90 to 90 and longitude from -180 to 180")
    if not 0 < km <= 20_100:
        raise ValueError(f"{text!r}: the distance is in km, more than 0 and at most 20100 (half the Earth)")
    return lat, lon, km


@dataclass
class Filter:
    folders: list[str] = field(default_factory=list)  # absolute; a file under any of them passes
    after: str | None = None  # taken on or after ("YYYY-MM-DD HH:MM:SS")
    before: str | None = None  # taken strictly before
    extensions: list[str] = field(default_factory=list)  # lower case, no dots
    min_width: int | None = None
    min_height: int | None = None
    place: str | None = None  # a city, region, country or country code, folded (`records.fold`)
    near: tuple[float, float, float] | None = None  # lat, lon, km
    kind: str | None = None  # "image" or "video"
    people: list[int] = field(default_factory=list)  # person ids (the library turns names into them)
    people_mode: str = "all"  # "all" of them in the picture, "any" of them, or "only" them (no one else)
    outside: list[str] = field(default_factory=list)  # absolute; a file under any of them never passes

    def __bool__(self) -> bool:
        return bool(self.folders or self.after or self.before or self.extensions
                    or self.min_width or self.min_height or self.place or self.near or self.kind or self.people
                    or self.outside)

    @classmethod
    def of(cls, folders: list[str] | None = None, after: str | None = None, before: str | None = None,
           extensions: list[str] | str | None = None, min_width: int | None = None,
           min_height: int | None = None, place: str | None = None, near: str | None = None,
           kind: str | None = None, local: bool = True) -> Filter:
        """From what a person types; raises ValueError with a message to show them. `local=False`
        (the web): folders are taken only as absolute paths, never expanded (`~user`) nor read
        against the server's working folder."""
        if any(not f.strip() for f in folders or []):  # abspath("") is the working folder: a silent "everything"
            raise ValueError("an empty folder name: --in (or in:) wants a folder, e.g. --in ~/Pictures/2019")
        if not local and any(not os.path.isabs(f) for f in folders or []):
            raise ValueError("in must be a folder's full path, as results show it (e.g. /home/me/Pictures/2019)")
        if place is not None and not fold(place):
            raise ValueError(f"{place!r} is not a place name: --place wants a city, region or country, e.g. Lyon")
        if place is not None and not known(fold(place)):
            raise ValueError(f"no place called {place.strip()} is known: name a town of 1,000 people or more, "
                             "a region or a country (e.g. Lyon, NSW, Japan)")
        if kind not in (None, "image", "video"):
            raise ValueError(f"{kind!r} is not a kind: write image or video")
        since, until = parse_date(after) if after else None, parse_date(before) if before else None
        if since and until and since >= until:
            raise ValueError(f"after {after} and before {before}: no picture can be both{_meant(after, before)}")
        return cls(folders=[os.path.abspath(os.path.expanduser(f) if local else f) for f in folders or []],
                   after=since, before=until,
                   extensions=[like_escape(e) for e in normalise_extensions(extensions, ())] if extensions else [],
                   min_width=min_width, min_height=min_height, place=fold(place) if place else None,
                   near=parse_near(near) if near else None, kind=kind)

    def with_people(self, ids: list[int], mode: str | None = None) -> Filter:
        """This filter, narrowed to pictures of these people too (`mode`: how to match them all)."""
        return replace(self, people=list(dict.fromkeys([*self.people, *ids])), people_mode=mode or self.people_mode)

    def without(self, folders: list[str]) -> Filter:
        """This filter, with the files under these folders left out too (a drive not connected)."""
        return replace(self, outside=list(dict.fromkeys([*self.outside, *folders])))

    def prefixes(self, folders: list[str] | None = None) -> list[bytes]:
        """The folders (or these) as stored-path prefixes (bytes, ending in a separator)."""
        return [os.fsencode(f.rstrip(os.sep) + os.sep) for f in (self.folders if folders is None else folders)]


def like_escape(text: str) -> str:
    """Extensions are letters and digits; anything else would be a LIKE wildcard, so refuse it."""
    if not re.fullmatch(r"[a-z0-9]+", text):
        raise ValueError(f"{text!r} is not a file extension (letters and digits, e.g. jpg)")
    return text


@dataclass(frozen=True)
class Dialect:
    """What differs between the catalogs' SQL for one filter: the parameter mark, a path-prefix
    test, when a picture was taken, an extension test, the condition that is always true, and a
    substring test."""
    mark: str
    prefix: str  # compares the first {mark} bytes of f.path with {mark}
    when: str
    extensions: Callable[[list[str]], tuple[str, list]]
    true: str
    contains: str  # true when its second text occurs in its first ({} and {})


PEOPLE_MODES = ("all", "any", "only")
_FACE_OF = "SELECT 1 FROM faces x WHERE x.content_hash = f.content_hash AND x.person_id"


def _people(people: list[int], mode: str, m: str) -> tuple[str, list]:
    """Pictures (and videos, in any frame) holding all, any, or only these people."""
    ids = ", ".join([m] * len(people))
    if mode == "any":
        return f"EXISTS ({_FACE_OF} IN ({ids}))", list(people)
    parts = [f"EXISTS ({_FACE_OF} = {m})" for _ in people]
    params = list(people)
    if mode == "only":
        parts.append(f"NOT EXISTS ({_FACE_OF} IS NOT NULL AND x.person_id NOT IN ({ids}))")
        params += people
    return "(" + " AND ".join(parts) + ")", params


def condition(where: Filter, dialect: Dialect) -> tuple[str, list]:
    """A filter as a condition over `files f` and its parameters (`dialect.true` when nothing is
    filtered)."""
    m = dialect.mark
    parts: list[str] = []
    params: list = []
    for folders, negated in ((where.folders, ""), (where.outside, "NOT ")):
        if folders:
            prefixes = where.prefixes(folders)
            parts.append(f"{negated}(" + " OR ".join(dialect.prefix for _ in prefixes) + ")")
            for p in prefixes:
                params += [len(p), p]
    if where.extensions:
        sql, values = dialect.extensions(where.extensions)
        parts.append(sql)
        params += values
    for column, op, value in ((dialect.when, ">=", where.after), (dialect.when, "<", where.before),
                              ("f.width", ">=", where.min_width), ("f.height", ">=", where.min_height)):
        if value:
            parts.append(f"{column} {op} {m}")
            params.append(value)
    if where.place:  # one of its names, or within the area of the town of that name
        names, areas = spoken(where.place)
        key = dialect.contains.format("coalesce(f.place_key, '')", m)
        sql = [key for _ in names]
        params += [f"|{n}|" for n in names]
        for area in areas:
            sql.append(f"({_within((area.lat, area.lon, area.km), m, params)}{_nearest(area, key, m, params)})")
        parts.append("(" + " OR ".join(sql) + ")")
    if where.near:
        parts.append(_within(where.near, m, params))
    if where.kind:  # a video's row has its duration; a picture's has none
        parts.append(f"f.duration IS {'NOT ' if where.kind == 'video' else ''}NULL")
    if where.people:
        sql, values = _people(where.people, where.people_mode, m)
        parts.append(sql)
        params += values
    return (" AND ".join(parts) or dialect.true), params


def _nearest(area: Area, key: str, m: str, params: list) -> str:
    """Within a district's circle, the part nearer to it than to its rivals, or in its county."""
    if not area.rivals:
        return ""
    nearer = []
    for lat, lon in area.rivals:
        nearer.append(f"picfind_km(f.lat, f.lon, {m}, {m}) <= picfind_km(f.lat, f.lon, {m}, {m})")
        params += [area.lat, area.lon, lat, lon]
    sql = " AND ".join(nearer)
    if area.county:
        sql = f"({sql}) OR {key}"
        params.append(f"|{area.county}|")
    return f" AND ({sql})"


def _within(near: tuple[float, float, float], m: str, params: list) -> str:
    """A position within km of (lat, lon): a band of latitudes first (cheap, and it drops files with
    no position), then the distance (picfind_km, which both catalogs define: haversine, in km)."""
    lat, lon, km = near
    span = math.degrees(km / EARTH_KM)
    params += [lat - span, lat + span, lat, lon, km]
    return f"f.lat BETWEEN {m} AND {m} AND f.lon IS NOT NULL AND picfind_km(f.lat, f.lon, {m}, {m}) <= {m}"
