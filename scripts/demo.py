"""`make demo`: index a folder of real photos with the real `picfind` command, ask it a few
questions, print the answers and write a contact sheet.

The photos ship inside scikit-image and scikit-learn (no download). With `--model tiny-shapes`
(the built-in test model, which only knows coloured shapes) a folder of generated shape
pictures is added so that its queries have right answers to find.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from picfind.models import store as models  # noqa: E402
from picfind.models.shapes import random_scene, render  # noqa: E402

PHOTO_QUERIES = ["a cat", "an astronaut", "a rocket on the launch pad", "a cup of coffee",
                 "a temple in china", "a flower"]
SHAPE_QUERIES = ["a red circle", "two blue squares", "a yellow triangle on a black background"]


def write_photos(folder: Path) -> int:
    from PIL import Image
    from skimage import data
    from sklearn.datasets import load_sample_images

    folder.mkdir(parents=True, exist_ok=True)
    names = ["astronaut", "chelsea", "coffee", "rocket", "camera", "hubble_deep_field",
             "immunohistochemistry", "coins", "moon", "page", "clock", "horse", "motorcycle_left",
             "retina", "cat"]
    count = 0
    for name in names:
        try:
            arr = getattr(data, name)()
        except Exception:  # noqa: BLE001 - some images need a download; skip those
            continue
        img = Image.fromarray(arr if arr.dtype.name == "uint8" else (arr * 255).astype("uint8"))
        img.save(folder / f"{name}.{'png' if count % 3 == 2 else 'jpg'}")
        count += 1
    sample = load_sample_images()
    for fname, arr in zip(sample.filenames, sample.images):
        Image.fromarray(arr).save(folder / Path(fname).name)
        count += 1
    return count


# What the demo says when the model cannot be fetched, and at its end (tests/test_docs.py checks
# that the sections they name exist).
OFFLINE_HELP = ("the demo needs the {model} model. Without internet: put its files in a folder and run "
                "`.venv/bin/picfind models import FOLDER` (docs/models.md#working-offline), or run the offline "
                "demo with the built-in test model: make demo MODEL=tiny-shapes")
NEXT = ('your turn: .venv/bin/picfind search "a cat" --db {db}  (more in README.md#quick-start)')


def write_shapes(folder: Path, n: int = 120) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    for i in range(n):
        scene = random_scene(rng)
        render(scene, size=160, rng=rng).save(folder / f"{i:03d} {scene.caption().replace(' ', '_')}.png")


def picfind(*args: str) -> None:
    cmd = [sys.executable, "-m", "picfind", *args]
    print("$ picfind " + " ".join(f'"{a}"' if " " in a else a for a in args), flush=True)
    subprocess.run(cmd, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=os.environ.get("PICFIND_MODEL") or models.DEFAULT_MODEL)
    ap.add_argument("--out", type=Path, default=ROOT / "demo-out")
    args = ap.parse_args()

    try:
        models.resolve(args.model)
    except models.ModelError:
        if args.model not in models.REGISTRY:
            raise
        print(f"model {args.model} is not installed; downloading it once (Ctrl-C to stop)...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "picfind", "models", "download", args.model], check=True)
        except subprocess.CalledProcessError:
            print("\n" + OFFLINE_HELP.format(model=args.model), file=sys.stderr)
            return 1

    shutil.rmtree(args.out, ignore_errors=True)
    photos = args.out / "photos"
    n = write_photos(photos)
    folders = [str(photos)]
    queries = PHOTO_QUERIES
    if args.model == "tiny-shapes":
        write_shapes(args.out / "shapes")
        folders.append(str(args.out / "shapes"))
        queries = SHAPE_QUERIES
    print(f"sample: {n} real photos in {photos}" + (" + 120 shape pictures" if len(folders) > 1 else ""))
    db = str(args.out / "catalog.db")
    common = ["--db", db, "--model", args.model]
    picfind("index", *folders, *common)
    for q in queries:
        picfind("search", q, "-n", "5", *common)
    picfind("search", queries[0], "-n", "10", "--sheet", str(args.out / "sheet.png"), *common)
    example = sorted(photos.iterdir())[0]
    picfind("similar", str(example), "-n", "3", *common)  # search by example
    combined = ["a circle", "-", "red"] if args.model == "tiny-shapes" else [queries[0], "+", "outdoors"]
    picfind("search", *combined, "-n", "3", *common)  # a combined query
    picfind("dupes", *common)
    picfind("status", *common)
    print(f"\ncontact sheet: {args.out / 'sheet.png'}")
    print(NEXT.format(db=os.path.relpath(db, ROOT)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
