"""Indexing speed: picfind against the encoder's own limit and against the naive design.

Builds a corpus of real, camera-sized photos (the photos shipped by scikit-image and
scikit-learn, cropped, flipped and re-lit so that every file is a different picture, then
resized to 12 MP and 2 MP; JPEG and PNG; some with EXIF rotation), then measures in one run,
each stage in its own process so that its peak memory is its own:

* encoder_limit: images/s of the image encoder alone on preprocessed tensors, best batch size;
* picfind: images/s of a real `picfind index` from an empty catalog, and of a re-run;
* naive: the original design, one image at a time: open at full size, rotate, preprocess,
  encode with batch 1 (on a subset; its rate does not depend on the corpus size);
* picfind's peak memory at two corpus sizes (half and whole).

    .venv/bin/python benchmarks/index_speed.py [--photos 300] [--model vit-b-32-random]

The last line is one JSON object. Needs the test set-up (torch) once, to build vit-b-32-random.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

SIZES = {"12mp": (4000, 3000), "2mp": (1632, 1224)}


def build_corpus(folder: Path, n: int) -> list[Path]:
    from conftest import real_photos
    from PIL import Image, ImageEnhance

    from picfind.media.decode import to_rgb

    marker = folder / f".complete-{n}"
    if marker.exists():
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    folder.mkdir(parents=True, exist_ok=True)
    sources = [to_rgb(Image.fromarray(a)) for a in real_photos().values()]
    rng = random.Random(0)
    paths = []
    for i in range(n):
        src = sources[i % len(sources)]
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.7, 1.0)), int(h * rng.uniform(0.7, 1.0))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        img = src.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
        kind = ("12mp", "jpg") if i % 6 < 3 else ("2mp", "jpg") if i % 6 < 5 else ("2mp", "png")
        img = img.resize(SIZES[kind[0]], Image.Resampling.BICUBIC)
        path = folder / f"IMG_{i:04d}_{kind[0]}.{kind[1]}"
        if kind[1] == "jpg":
            exif = Image.Exif()
            if i % 4 == 0:  # a portrait shot stored sideways, as phones do
                exif[0x0112] = rng.choice((6, 8))
            img.save(path, quality=90, exif=exif.tobytes())
        else:
            img.save(path, compress_level=6)
        paths.append(path)
    marker.touch()
    return paths


def run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """Run a command; wall seconds, peak RSS in MB of that process alone, stdout."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err = proc.stderr.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
        out.seek(0)
        return wall, usage.ru_maxrss / 1024, out.read().decode()


# stages run in a child process: `index_speed.py --stage NAME BUNDLE [PATHS_FILE]`
def stage_encoder_limit(bundle_path: str) -> dict:
    from picfind.models.bundle import Bundle
    from picfind.models.encoder import Encoder

    enc = Encoder(Bundle.load(bundle_path))
    size = enc.bundle.image_size
    best = {}
    for batch in (8, 16, 32):
        x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
        enc.encode_images(x)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < 8:
            enc.encode_images(x)
            n += batch
        best[batch] = n / (time.perf_counter() - start)
    return {"images_per_s": max(best.values()), "by_batch": best, "device": enc.device}


def stage_naive(bundle_path: str, paths_file: str) -> dict:
    from PIL import Image, ImageOps

    from picfind.models.bundle import Bundle
    from picfind.models.encoder import Encoder

    enc = Encoder(Bundle.load(bundle_path))
    prep = enc.bundle.preprocessing
    paths = Path(paths_file).read_text().splitlines()
    start = time.perf_counter()
    for p in paths:
        img = ImageOps.exif_transpose(Image.open(p)).convert("RGB")
        enc.encode_images(prep.pixels(img)[None])
    return {"images_per_s": len(paths) / (time.perf_counter() - start), "images": len(paths)}


def ray_run(bundle_path: str, folder: str, db: str, workers: int) -> dict:
    """One `Library.index(..., ray="auto")` on the Ray cluster this process has joined, timed
    from the call (the cluster's start is not in it)."""
    from picfind.indexing.stages import IndexOptions
    from picfind.library import Library

    with Library(db, model=bundle_path) as lib:
        start = time.perf_counter()
        rep = lib.index([folder], options=IndexOptions(workers=workers), ray="auto")
        wall = time.perf_counter() - start
    return {"images_per_s": rep.embedded / wall, "seconds": wall, "embedded": rep.embedded, "device": rep.device}


def stage_ray(bundle_path: str, folder: str, db_folder: str) -> dict:
    """`Library.index(..., ray=...)` on a local Ray cluster of 2 CPUs started here first, so that
    the cluster's start (about 10-20 s, once per cluster, not per run) is timed apart."""
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    out: dict = {"cluster_start_s": time.perf_counter() - start}
    for workers in (1, 2):
        out[f"workers_{workers}"] = ray_run(bundle_path, folder, f"{db_folder}/ray-{workers}.db", workers)
    ray.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--naive", type=int, default=60, help="photos for the naive baseline (a subset)")
    ap.add_argument("--model", default="vit-b-32-random")
    ap.add_argument("--ray", action="store_true", help="also index through a local Ray cluster, 1 and 2 workers")
    ap.add_argument("--stage", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        name, *rest = args.stage
        stages = {"encoder_limit": stage_encoder_limit, "naive": stage_naive, "ray": stage_ray}
        print(json.dumps(stages[name](*rest)))
        return

    from encode import random_bundle

    from picfind.models.store import resolve

    bundle = str(random_bundle("vit-b-32").path) if args.model == "vit-b-32-random" else str(resolve(args.model).path)
    cache = HERE / ".cache"
    t = time.perf_counter()
    paths = build_corpus(cache / "corpus", args.photos)
    print(f"corpus: {len(paths)} photos ({sum(p.stat().st_size for p in paths) / 1e6:.0f} MB) "
          f"ready in {time.perf_counter() - t:.0f} s", flush=True)
    half = cache / f"corpus-half-{args.photos}"
    if not half.exists():
        half.mkdir()
        for p in paths[: len(paths) // 2]:
            os.link(p, half / p.name)

    me = [sys.executable, __file__, "--stage"]
    rows: dict[str, dict] = {}
    _, rss, out = run_measured([*me, "encoder_limit", bundle])
    rows["encoder_limit"] = {**json.loads(out), "peak_rss_mb": rss}
    print("encoder_limit", rows["encoder_limit"], flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        def index(folder: Path, db: str) -> tuple[float, float, dict]:
            wall, rss, out = run_measured([sys.executable, "-m", "picfind", "index", str(folder), "--db", db,
                                           "--model", bundle, "--json"])
            return wall, rss, json.loads(out)

        wall, rss, rep = index(cache / "corpus", f"{tmp}/full.db")
        rows["picfind"] = {"images_per_s": rep["embedded"] / wall, "seconds": wall, "peak_rss_mb": rss,
                           "embedded": rep["embedded"], "skipped": rep["skipped"], "device": rep["device"]}
        print("picfind", rows["picfind"], flush=True)
        wall, rss, rep = index(cache / "corpus", f"{tmp}/full.db")
        rows["picfind_rerun"] = {"images_per_s": len(paths) / wall, "seconds": wall, "peak_rss_mb": rss,
                                 "read": rep["read"]}
        print("picfind_rerun", rows["picfind_rerun"], flush=True)
        wall, rss, rep = index(half, f"{tmp}/half.db")
        rows["picfind_half"] = {"images_per_s": rep["embedded"] / wall, "seconds": wall, "peak_rss_mb": rss,
                                "embedded": rep["embedded"]}
        print("picfind_half", rows["picfind_half"], flush=True)
        subset = Path(tmp, "naive.txt")
        subset.write_text("\n".join(str(p) for p in paths[: args.naive]))
        _, rss, out = run_measured([*me, "naive", bundle, str(subset)])
        rows["naive"] = {**json.loads(out), "peak_rss_mb": rss}
        print("naive", rows["naive"], flush=True)
        if args.ray:
            _, rss, out = run_measured([*me, "ray", bundle, str(cache / "corpus"), tmp])
            ray_rows = json.loads(out)
            for workers in (1, 2):
                rows[f"ray_{workers}"] = {**ray_rows[f"workers_{workers}"], "peak_rss_mb": rss}
            print("ray", ray_rows, flush=True)
            # the local run again, after Ray: on a shared machine the load moves within one run
            wall, rss, rep = index(cache / "corpus", f"{tmp}/again.db")
            rows["picfind_after_ray"] = {"images_per_s": rep["embedded"] / wall, "seconds": wall, "peak_rss_mb": rss}
            print("picfind_after_ray", rows["picfind_after_ray"], flush=True)

    rate = {k: v["images_per_s"] for k, v in rows.items()}
    print(f"\n{'':<16}{'images/s':>10}{'peak RSS MB':>13}")
    for k in ("encoder_limit", "picfind", "picfind_rerun", "naive", "picfind_half", "ray_1", "ray_2",
              "picfind_after_ray"):
        if k not in rate:
            continue
        print(f"{k:<16}{rate[k]:>10.2f}{rows[k]['peak_rss_mb']:>13.0f}")
    ratio_limit = rate["picfind"] / rate["encoder_limit"]
    ratio_naive = rate["picfind"] / rate["naive"]
    rerun_share = rows["picfind_rerun"]["seconds"] / rows["picfind"]["seconds"]
    print(f"picfind / encoder_limit = {ratio_limit:.2f}   picfind / naive = {ratio_naive:.2f}   "
          f"re-run time / cold time = {rerun_share:.1%}")
    if args.ray:
        local = (rate["picfind"] + rate["picfind_after_ray"]) / 2  # the local runs before and after Ray
        print(f"ray (2 workers) / picfind (mean of the runs before and after) = {rate['ray_2'] / local:.2f}")
    print(json.dumps({
        "photos": len(paths), "model": Path(bundle).name, "device": rows["picfind"]["device"],
        "encoder_limit": round(rate["encoder_limit"], 2), "picfind": round(rate["picfind"], 2),
        "picfind_rerun": round(rate["picfind_rerun"], 2), "naive": round(rate["naive"], 2),
        "picfind_over_encoder_limit": round(ratio_limit, 3), "picfind_over_naive": round(ratio_naive, 2),
        "rerun_time_share": round(rerun_share, 4),
        **({"ray_1": round(rate["ray_1"], 2), "ray_2": round(rate["ray_2"], 2),
            "picfind_after_ray": round(rate["picfind_after_ray"], 2),
            "ray_2_over_picfind": round(2 * rate["ray_2"] / (rate["picfind"] + rate["picfind_after_ray"]), 3)}
           if args.ray else {}),
        "peak_rss_mb": {k: round(v["peak_rss_mb"]) for k, v in rows.items()},
    }))


if __name__ == "__main__":
    main()
