"""What places and terminal previews cost, each beside what picfind did without them.

* GeoNames (reverse-geocode): importing it and loading its towns (once per process, only when a
  picture has a position), then one lookup;
* reading a JPEG header (`probe`, what a re-scan after the places migration does per file)
  with a GPS block against without one;
* a filtered search over a catalog of N pictures, 3 in 4 with a position: no filter, `--place`
  and `--near` (the SQL of both catalogs; SQLite here, its `picfind_km` a Python function);
* one preview of a 256-px thumbnail: kitty (PNG), iTerm2 (the JPEG as is) and sixel (64 colours).

    .venv/bin/python benchmarks/places.py [--pictures 20000]

Timings on one core of this machine; the last line is JSON.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from PIL import Image  # noqa: E402

from picfind.cli import preview  # noqa: E402
from picfind.media.decode import probe  # noqa: E402
from picfind.media.places import place_at  # noqa: E402
from picfind.records import IndexedFile  # noqa: E402


def best(fn, repeat: int = 5) -> float:
    """The fastest of `repeat` runs, in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def geonames() -> dict:
    code = ("import time; t = time.perf_counter(); import reverse_geocode; i = time.perf_counter() - t; "
            "t = time.perf_counter(); reverse_geocode.get((45.76, 4.84)); f = time.perf_counter() - t; "
            "print(i, f)")
    imported, first = map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                check=True).stdout.split())
    place_at(45.76, 4.84)
    rng = random.Random(1)
    points = [(rng.uniform(-60, 70), rng.uniform(-180, 180)) for _ in range(2000)]
    each = best(lambda: [place_at(*p) for p in points], 3) / len(points)
    return {"import_s": round(imported, 3), "first_lookup_s": round(first, 3), "lookup_ms": round(each * 1e3, 4)}


def headers() -> dict:
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (IFDRational(45), IFDRational(45), IFDRational(5030, 100)),
                3: "E", 4: (IFDRational(4), IFDRational(50), IFDRational(860, 100))})
    img = Image.new("RGB", (4032, 3024), "grey")
    plain, located = io.BytesIO(), io.BytesIO()
    img.save(plain, "JPEG", quality=80)
    img.save(located, "JPEG", quality=80, exif=exif)
    a, b = plain.getvalue(), located.getvalue()
    n = 200
    return {"probe_ms_without_gps": round(best(lambda: [probe(a) for _ in range(n)]) / n * 1e3, 3),
            "probe_ms_with_gps": round(best(lambda: [probe(b) for _ in range(n)]) / n * 1e3, 3)}


def searches(count: int, folder: Path) -> dict:
    from picfind.catalogs.sqlite.catalog import Catalog
    from picfind.filters import Filter

    cat = Catalog(folder / "places.db")
    root = cat.add_root(str(folder), ["jpg"], [])
    rng = random.Random(2)
    files = []
    for i in range(count):
        lat, lon = (rng.uniform(35, 60), rng.uniform(-10, 30)) if i % 4 else (None, None)
        files.append(IndexedFile(f"{folder}/{i}.jpg", root.id, 1, 1, f"h{i}", 10, 10, None, None, lat, lon,
                                 place_at(lat, lon)))
    cat.write_batch("m", files, {}, [])
    out = {"pictures": count}
    for name, where in (("no_filter", Filter(extensions=["jpg"])), ("place_france", Filter.of(place="France")),
                        ("near_lyon_50km", Filter.of(near="45.76,4.84,50"))):
        out[f"{name}_ms"] = round(best(lambda w=where: cat.count_matching(w)) * 1e3, 2)
        out[f"{name}_matches"] = cat.count_matching(where)
    cat.close()
    return out


def previews() -> dict:
    from picfind.media.thumbnail import encode_thumbnail

    y = Image.linear_gradient("L").resize((640, 480))
    jpeg = encode_thumbnail(Image.merge("RGB", (y, y.rotate(90), y.transpose(Image.Transpose.FLIP_LEFT_RIGHT))))
    out = {}
    for protocol in preview.PROTOCOLS:
        out[f"{protocol}_ms"] = round(best(lambda p=protocol: preview.picture(jpeg, p)) * 1e3, 2)
        out[f"{protocol}_bytes"] = len(preview.picture(jpeg, protocol))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pictures", type=int, default=20_000)
    args = ap.parse_args()
    import tempfile

    results = {"geonames": geonames(), "headers": headers(), "previews": previews()}
    with tempfile.TemporaryDirectory() as tmp:
        results["search"] = searches(args.pictures, Path(tmp))
    for part, figures in results.items():
        print(f"{part:9} " + "  ".join(f"{k}={v}" for k, v in figures.items()))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
