"""People: what finding faces costs at index time, how many real faces it finds, and how well it
groups them into people, in one run.

* speed: the same real photos (scikit-image's and scikit-learn's, camera-sized as
  benchmarks/index_speed.py makes them, a third of them with a real face pasted in) indexed from
  an empty catalog with ViT-B/32 (random weights of the real architecture: the same cost as
  the trained one), once without faces and once with `--faces`, each in its own process; the
  ratio is the figure the target (<= 1.5x) is about;
* recall: faces found against the labelled boxes of the real photos in `tests/facedata.py`
  (IoU >= 0.4), by kind (small, turned, dim, several per picture), with the false detections;
* grouping: the identity set of `tests/facedata.py` (several pictures of each real person,
  composited at other sizes, light and tilt) through the same detector and the incremental
  grouping the indexer runs: pairs of one person put together, pairs of two kept apart, the
  share of each person's pictures in their largest group, and people merged (the target: none).

    .venv/bin/python benchmarks/faces.py [--photos 60] [--skip speed,recall,grouping]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

CACHE = HERE / ".cache"


def face_corpus(folder: Path, n: int) -> Path:
    """n camera-sized real photos, every third with a real face in it (JPEG, some turned by EXIF)."""
    from index_speed import build_corpus
    from PIL import Image

    from tests.people_pictures import faces

    marker = folder / f".faces-{n}"
    if marker.exists():
        return folder
    build_corpus(folder, n)
    who = list(faces().values())
    rng = random.Random(1)
    for i, path in enumerate(sorted(p for p in folder.iterdir() if not p.name.startswith("."))):
        if i % 3:
            continue
        with Image.open(path) as im:
            exif = im.getexif()
            picture = im.convert("RGB")
        side = int(min(picture.size) * rng.uniform(0.12, 0.3))
        face = who[i % len(who)].resize((side, side), Image.Resampling.LANCZOS)
        if exif.get(0x0112) in (6, 8):  # pasted upright as the viewer shows it
            face = face.rotate(90 if exif[0x0112] == 6 else -90, expand=True)
        picture.paste(face, (rng.randint(0, picture.width - side), rng.randint(0, picture.height - side)))
        picture.save(path, quality=90, exif=exif.tobytes()) if path.suffix == ".jpg" else picture.save(path)
    marker.touch()
    return folder


def speed(photos: int) -> dict:
    from encode import random_bundle
    from index_speed import run_measured

    bundle = random_bundle("vit-b-32")
    folder = face_corpus(CACHE / "faces-corpus", photos)
    out = {}
    for label, extra in (("without", []), ("with_faces", ["--faces"])):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "picfind", "index", str(folder), "--db", f"{tmp}/c.db", "--model",
                   str(bundle.path), "--json", *extra]
            wall, rss, stdout = run_measured(cmd)
            report = json.loads(stdout)
            out[label] = {"seconds": round(wall, 1), "images_per_s": round(report["read"] / wall, 2),
                          "peak_mb": round(rss), "faces_found": report.get("faces_found", 0)}
    out["ratio"] = round(out["with_faces"]["seconds"] / out["without"]["seconds"], 2)
    out["photos"] = photos
    return out


def _iou(a: tuple, b: tuple) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / (aw * ah + bw * bh - inter) if inter else 0.0


def _found(finder, rgb: np.ndarray) -> list[tuple]:
    """The faces found, as (left, top, width, height) in pixels, with each face."""
    h, w = rgb.shape[:2]
    return [((f.box[0] * w, f.box[1] * h, f.box[2] * w, f.box[3] * h), f) for f in finder.find(rgb)]


def recall() -> dict:
    """Faces found against the labelled boxes (IoU >= 0.4), by kind, with the false detections."""
    from picfind.people.finder import FaceFinder
    from tests.facedata import detection_samples

    finder = FaceFinder()
    by_kind: dict[str, list[int]] = {}
    false = hits = boxes_all = 0
    seconds = 0.0
    samples = detection_samples()
    for sample in samples:
        start = time.perf_counter()
        found = [box for box, _ in _found(finder, sample.image)]
        seconds += time.perf_counter() - start
        matched: set[int] = set()
        for left, top, right, bottom in sample.boxes:
            box = (left, top, right - left, bottom - top)
            hit = next((k for k, f in enumerate(found) if k not in matched and _iou(box, f) >= 0.4), None)
            if hit is not None:
                matched.add(hit)
            for kind in sample.tags:
                by_kind.setdefault(kind, [0, 0])
                by_kind[kind][0] += hit is not None
                by_kind[kind][1] += 1
            hits += hit is not None
            boxes_all += 1
        false += len(found) - len(matched)
    return {"found": f"{hits}/{boxes_all}", "by_kind": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_kind.items())},
            "false_detections": false, "pictures": len(samples),
            "ms_per_picture": round(1000 * seconds / max(1, len(samples)))}


def grouping() -> dict:
    """The identity set through the detector and `people.grouping.group`, as an index run does."""
    from picfind.people.finder import FaceFinder
    from picfind.people.grouping import group
    from tests.facedata import identity_samples

    finder = FaceFinder()
    vectors, truth = [], []
    missed = 0
    for sample in identity_samples():
        left, top, right, bottom = sample.box
        box = (left, top, right - left, bottom - top)
        found = [(f, _iou(box, b)) for b, f in _found(finder, sample.image)]
        best = max(found, key=lambda fi: fi[1], default=(None, 0.0))
        if best[1] < 0.4:
            missed += 1  # the labelled face was not found: nothing to group
            continue
        vectors.append(best[0].vector)
        truth.append(sample.person)
    v = np.stack(vectors)
    ids = np.arange(len(v))
    out = group(v, np.full(len(v), -1), ids, ids)
    label = np.full(len(v), -1)
    for k, members in enumerate(out.founded):
        label[members] = k
    same = [(i, j) for i, j in combinations(range(len(v)), 2) if truth[i] == truth[j]]
    apart = [(i, j) for i, j in combinations(range(len(v)), 2) if truth[i] != truth[j]]
    together = sum(label[i] == label[j] >= 0 for i, j in same)
    merged = sum(label[i] == label[j] >= 0 for i, j in apart)
    share = {}
    for person in sorted(set(truth)):
        mine = [int(label[i]) for i in range(len(v)) if truth[i] == person]
        groups = [g for g in mine if g >= 0]
        share[person] = round(max((groups.count(g) for g in set(groups)), default=0) / len(mine), 2)
    two = sum(len({truth[i] for i in range(len(v)) if label[i] == g}) > 1 for g in set(label.tolist()) if g >= 0)
    return {"people": len(set(truth)), "faces": len(v), "labelled_faces_not_found": missed,
            "same_person_pairs_together": f"{together}/{len(same)}",
            "different_people_pairs_apart": f"{len(apart) - merged}/{len(apart)}",
            "groups_holding_two_people": two, "waiting": len(out.waiting), "largest_group_share": share,
            "people_with_90pct_in_one_group": f"{sum(s >= 0.9 for s in share.values())}/{len(share)}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--skip", default="", help="comma-separated: speed, recall, grouping")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    result = {}
    for name, fn in (("speed", lambda: speed(args.photos)), ("recall", recall), ("grouping", grouping)):
        if name in skip:
            continue
        result[name] = fn()
        print(f"{name}: {json.dumps(result[name])}", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
