"""Face detectors, the dlib embedder and Immich-style grouping, measured on real labelled faces.

The set is tests/facedata.py: real photos shipped in registry packages (scikit-image, the
face_recognition sdist, the insightface wheel, Debian's opencv-doc), with small, turned (tilt and
EXIF), dim and crowd variants composited onto real backgrounds. A face is found when a detection
overlaps its label with IoU >= 0.4; any other detection is a false positive. Times are per picture
as given to the detector (the decode is not counted: picfind decodes once for CLIP already).

    nice .venv/bin/python tests/facedata.py --fetch     # once: the PyPI sources into benchmarks/.cache
    nice .venv/bin/python benchmarks/face_detectors.py [--detectors hog640-0,cnn640-0,...] [--no-cnn]

Needs `pip install dlib-bin face_recognition_models==0.3.0` and `apt-get install opencv-doc`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import facedata  # noqa: E402

Box = tuple[float, float, float, float]
Detector = Callable[[np.ndarray], list[Box]]
TAGS = ("plain", "small", "turned", "exif", "dim", "crowd")


def models_dir() -> Path:
    """face_recognition_models' data folder, found without importing it (it needs pkg_resources)."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("face_recognition_models is missing: pip install face_recognition_models==0.3.0")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def shrink(img: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """The picture at most `long_side` px on its long side, and the factor back to its pixels."""
    import cv2

    h, w = img.shape[:2]
    s = min(1.0, long_side / max(h, w))
    if s == 1.0:
        return img, 1.0
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA), 1 / s


def dlib_hog(long_side: int, upsample: int) -> Detector:
    import dlib

    det = dlib.get_frontal_face_detector()

    def run(img: np.ndarray) -> list[Box]:
        small, k = shrink(img, long_side)
        return [(r.left() * k, r.top() * k, r.right() * k, r.bottom() * k) for r in det(small, upsample)]

    return run


def dlib_cnn(long_side: int, upsample: int) -> Detector:
    import dlib

    det = dlib.cnn_face_detection_model_v1(str(models_dir() / "mmod_human_face_detector.dat"))

    def run(img: np.ndarray) -> list[Box]:
        small, k = shrink(img, long_side)
        return [(d.rect.left() * k, d.rect.top() * k, d.rect.right() * k, d.rect.bottom() * k)
                for d in det(small, upsample)]

    return run


def haar(long_side: int, cascade: str) -> Detector:
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):  # OpenCV 5 moved the cascades out of the main modules
        raise ImportError(f"OpenCV {cv2.__version__} has no Haar cascades; measure them with opencv-python-headless<5")
    clf = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, f"haarcascade_{cascade}.xml"))

    def run(img: np.ndarray) -> list[Box]:
        small, k = shrink(img, long_side)
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        found = clf.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20))
        return [(x * k, y * k, (x + w) * k, (y + h) * k) for x, y, w, h in found]

    return run


BLAZEFACE = facedata.CACHE / "blazeface_short_range.onnx"


def _ssd_anchors() -> np.ndarray:
    """BlazeFace short-range's 896 anchor centres: stride 8 (16x16, 2 each), stride 16 (8x8, 6 each)."""
    out = []
    for grid, per in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                out += [((x + 0.5) / grid, (y + 0.5) / grid)] * per
    return np.array(out, np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, at: float = 0.3) -> list[int]:
    keep: list[int] = []
    for i in np.argsort(-scores):
        if all(iou(tuple(boxes[i]), tuple(boxes[k])) < at for k in keep):
            keep.append(int(i))
    return keep


def blazeface(min_score: float = 0.5) -> Detector:
    """MediaPipe 0.10.21's face_detection_short_range.tflite (Apache-2.0) converted to ONNX
    (see docs/faces-measured.md for the commands), run by ONNX Runtime on the letterboxed picture."""
    import cv2
    import onnxruntime as ort

    if not BLAZEFACE.exists():
        raise FileNotFoundError(f"{BLAZEFACE} is missing (made by tflite2onnx, see docs/faces-measured.md)")
    sess = ort.InferenceSession(str(BLAZEFACE), providers=["CPUExecutionProvider"])
    anchors = _ssd_anchors()

    def run(img: np.ndarray) -> list[Box]:
        h, w = img.shape[:2]
        side = max(h, w)
        sq = np.zeros((side, side, 3), np.uint8)
        oy, ox = (side - h) // 2, (side - w) // 2
        sq[oy:oy + h, ox:ox + w] = img
        x = cv2.resize(sq, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1
        reg, cls = sess.run(None, {"input": x.transpose(2, 0, 1)[None]})
        score = 1 / (1 + np.exp(-np.clip(cls[0, :, 0].astype(np.float64), -100, 100)))
        ok = score >= min_score
        r, a = reg[0, ok] / 128, anchors[ok]
        cx, cy, bw, bh = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1], r[:, 2], r[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1) * side - [ox, oy, ox, oy]
        return [tuple(float(v) for v in boxes[i]) for i in nms(boxes, score[ok])]

    return run


DETECTORS: dict[str, Callable[[], Detector]] = {
    **{f"hog{s}-{u}": (lambda s=s, u=u: dlib_hog(s, u)) for s in (640, 800, 1024) for u in (0, 1)},
    "haar1024-default": lambda: haar(1024, "frontalface_default"),
    "haar1024-alt2": lambda: haar(1024, "frontalface_alt2"),
    "blazeface-short": blazeface,
    "cnn640-0": lambda: dlib_cnn(640, 0),  # 4 s a picture here: left out unless named
}
DEFAULT = [n for n in DETECTORS if not n.startswith("cnn")]


def clip_baseline() -> Callable[[], tuple[float, float]]:
    """Wall and CPU ms for one ViT-B/32 image encode (batch 1, 2 threads, not spinning) as picfind
    runs it, measured now: the "without faces" side of the cost. Random weights (benchmarks/encode.py
    builds them; speed does not depend on the weights)."""
    sys.path.insert(0, str(ROOT / "src"))
    try:
        from picfind.models.bundle import Bundle
        from picfind.models.encoder import Encoder
    except ImportError as e:  # run from another environment (e.g. one with OpenCV 4 for Haar)
        print(f"no CLIP baseline: {e}")
        return lambda: (float("nan"), float("nan"))

    places = (ROOT / "benchmarks" / ".cache", Path(os.environ.get("PICFIND_BENCH_CACHE", "/nonexistent")))
    found = [p / "vit-b-32-random" for p in places if (p / "vit-b-32-random" / "manifest.json").exists()]
    if not found:
        print("no vit-b-32-random bundle: run benchmarks/encode.py --arch vit-b-32 once (or set PICFIND_BENCH_CACHE)")
        return lambda: (float("nan"), float("nan"))
    enc = Encoder(Bundle.load(found[0]), device="cpu", threads=2, spinning=False)
    size = enc.bundle.image_size
    x = np.random.default_rng(0).random((1, 3, size, size), np.float32)
    enc.encode_images(x)

    def run(n: int = 5) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            enc.encode_images(x)
        return 1000 * (time.perf_counter() - t0) / n, 1000 * (time.process_time() - c0) / n

    return run


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def match(labels: tuple[Box, ...], found: list[Box], at: float = 0.4) -> tuple[list[bool], int]:
    """Which labels were found, and the false positives: each label takes the best unused detection
    over `at`."""
    used: set[int] = set()
    hits = []
    for lab in labels:
        best = max(((iou(lab, f), i) for i, f in enumerate(found) if i not in used), default=(0.0, -1))
        hits.append(best[0] >= at)
        if hits[-1]:
            used.add(best[1])
    return hits, len(found) - len(used)


SIZES = ((0, 30), (30, 40), (40, 60), (60, 100), (100, 10**6))  # face side in the picture, px


def stored_boxes(s: facedata.DetectionSample) -> tuple[Box, ...]:
    """The labels in the pixels as stored in the file (before the EXIF turn is applied)."""
    h, w = s.image.shape[:2]
    orient = int(s.name.rsplit("exif", 1)[1])
    out = []
    for x0, y0, x1, y1 in s.boxes:
        if orient == 6:  # stored turned a quarter anticlockwise
            out.append((y0, w - x1, y1, w - x0))
        elif orient == 8:
            out.append((h - y1, x0, h - y0, x1))
        else:
            out.append((w - x1, h - y1, w - x0, h - y0))
    return tuple(out)


def measure_detectors(names: list[str], samples: tuple[facedata.DetectionSample, ...]) -> list[str]:
    """One markdown row per detector: recall per kind of picture, false positives, ms per picture,
    and that time over one CLIP ViT-B/32 encode timed just before it (the machine is shared)."""
    rows = ["| detector | recall | " + " | ".join(TAGS) + " | false pos. | wall ms/picture | CPU ms/picture "
            "| CPU x CLIP encode | EXIF not applied |", "|---" * (len(TAGS) + 7) + "|"]
    print("\n".join(rows), flush=True)
    clip = clip_baseline()
    sizes: list[str] = []
    for name in names:
        try:
            det = DETECTORS[name]()
        except (FileNotFoundError, ImportError) as e:
            print(f"| {name} | skipped: {e} |", flush=True)
            continue
        clip_ms, clip_cpu = clip()
        det(samples[0].image)  # warm up (model load, first allocation)
        hit = dict.fromkeys(TAGS, 0)
        tot = dict.fromkeys(TAGS, 0)
        found_all = fps = raw_hit = raw_tot = 0
        by_size = {b: [0, 0] for b in SIZES}
        spent = cpu = 0.0
        for s in samples:
            t0, c0 = time.perf_counter(), time.process_time()
            found = det(s.image)
            spent += time.perf_counter() - t0
            cpu += time.process_time() - c0
            flags, fp = match(s.boxes, found)
            h = sum(flags)
            found_all += h
            for box, ok in zip(s.boxes, flags):
                side = facedata.side(box)
                b = next(b for b in SIZES if b[0] <= side < b[1])
                by_size[b][0] += ok
                by_size[b][1] += 1
            fps += fp
            for t in s.tags:
                hit[t] += h
                tot[t] += len(s.boxes)
            if s.stored is not None:
                raw_hit += sum(match(stored_boxes(s), det(s.stored))[0])
                raw_tot += len(s.boxes)
        n_faces = sum(len(s.boxes) for s in samples)
        cells = [f"{hit[t]}/{tot[t]}" for t in TAGS]
        rows.append(f"| {name} | {100 * found_all / n_faces:.0f} % | " + " | ".join(cells)
                    + f" | {fps} | {1000 * spent / len(samples):.0f} (CLIP {clip_ms:.0f}) "
                    f"| {1000 * cpu / len(samples):.0f} (CLIP {clip_cpu:.0f}) "
                    f"| {cpu * 1000 / len(samples) / clip_cpu:.2f} | {raw_hit}/{raw_tot} |")
        print(rows[-1], flush=True)
        sizes.append(f"| {name} | " + " | ".join(f"{h}/{n}" for h, n in by_size.values()) + " |")
    rows += ["", "Recall by face side in the picture (px):", "",
             "| detector | " + " | ".join(f"{a}-{b}" if b < 10**6 else f"{a}+" for a, b in SIZES) + " |",
             "|---" * (len(SIZES) + 1) + "|", *sizes]
    print("\n".join(rows[-len(sizes) - 5:]), flush=True)
    return rows


def embed(samples: tuple[facedata.IdentitySample, ...]) -> tuple[np.ndarray, tuple[float, float]]:
    """dlib's 128-d vectors: 5-point landmarks in the labelled box, a 150 px chip, the ResNet."""
    import dlib

    m = models_dir()
    sp = dlib.shape_predictor(str(m / "shape_predictor_5_face_landmarks.dat"))
    rec = dlib.face_recognition_model_v1(str(m / "dlib_face_recognition_resnet_model_v1.dat"))
    out, t0, c0 = [], time.perf_counter(), time.process_time()
    for s in samples:
        rect = dlib.rectangle(*(round(v) for v in s.box))
        chip = dlib.get_face_chip(s.image, sp(s.image, rect), size=150, padding=0.25)
        out.append(np.asarray(rec.compute_face_descriptor(chip)))
    n = len(samples)
    return np.array(out), (1000 * (time.perf_counter() - t0) / n, 1000 * (time.process_time() - c0) / n)


def spread(d: np.ndarray) -> str:
    q = np.percentile(d, [0, 5, 50, 95, 100])
    return f"{len(d)} pairs: min {q[0]:.3f}, 5 % {q[1]:.3f}, median {q[2]:.3f}, 95 % {q[3]:.3f}, max {q[4]:.3f}"


def immich_group(dist: np.ndarray, order: list[int], max_distance: float, min_faces: int = 3) -> list[int]:
    """Immich's incremental grouping (person.service.ts handleRecognizeFaces), on a distance matrix:
    a face looks for up to `min_faces` faces within `max_distance` (itself included, as in its
    table); it joins the person of the nearest face that has one; else it founds a person only as a
    core point (`min_faces` matches); else it waits for the second pass (the nightly catch-up)."""
    person = [-1] * len(dist)
    seen: list[int] = []
    deferred, next_id = [], 0

    def visit(i: int, late: bool) -> None:
        nonlocal next_id
        pool = seen if not late else list(range(len(dist)))
        near = sorted((dist[i, j], j) for j in pool if dist[i, j] <= max_distance)
        if not late and len(near) < min_faces:
            deferred.append(i)
            return
        owned = [j for _, j in near if person[j] >= 0 and j != i]
        if owned:
            person[i] = person[owned[0]]
        elif len(near) >= min_faces:
            person[i], next_id = next_id, next_id + 1

    for i in order:
        seen.append(i)
        visit(i, False)
    for i in deferred:
        visit(i, True)
    return person


def grouping_quality(people: list[str], groups: list[int]) -> dict[str, float]:
    n = len(people)
    same_tot = same_ok = diff_tot = diff_ok = 0
    for i in range(n):
        for j in range(i + 1, n):
            together = groups[i] >= 0 and groups[i] == groups[j]
            if people[i] == people[j]:
                same_tot += 1
                same_ok += together
            else:
                diff_tot += 1
                diff_ok += not together
    share = []
    for p in sorted(set(people)):
        mine = [g for q, g in zip(people, groups) if q == p]
        sizes = [mine.count(g) for g in set(mine) if g >= 0]
        share.append(max(sizes, default=0) / len(mine))
    merged = sum(len({q for q, g2 in zip(people, groups) if g2 == g}) > 1 for g in set(groups) if g >= 0)
    worst = sorted(set(people))[int(np.argmin(share))]
    return {"worst": worst, "same": same_ok / same_tot, "apart": diff_ok / diff_tot,
            "share_mean": float(np.mean(share)),
            "share_min": float(min(share)), "merged": merged, "groups": len({g for g in groups if g >= 0}),
            "unassigned": sum(g < 0 for g in groups) / n}


def measure_grouping(samples: tuple[facedata.IdentitySample, ...]) -> list[str]:
    vecs, ms = embed(samples)
    people = [s.person for s in samples]
    dist = np.linalg.norm(vecs[:, None, :] - vecs[None, :, :], axis=-1)
    iu = np.triu_indices(len(samples), 1)
    same = np.array([people[i] == people[j] for i, j in zip(*iu)])
    cross = np.array([people[i] == people[j] and samples[i].photo != samples[j].photo for i, j in zip(*iu)])
    d = dist[iu]
    lines = [f"- embedding (landmarks + chip + ResNet): {ms[0]:.0f} ms wall, {ms[1]:.0f} ms CPU a face, "
             f"{len(samples)} faces of {len(set(people))} people",
             f"- same person, any two pictures: {spread(d[same])}",
             f"- same person, two different real photos: {spread(d[cross])}",
             f"- different people: {spread(d[~same])}"]
    ts = np.linspace(0.3, 0.8, 101)
    acc = [((d[same] <= t).mean() + (d[~same] > t).mean()) / 2 for t in ts]
    lines.append(f"- best balanced threshold {ts[int(np.argmax(acc))]:.3f} (balanced accuracy {max(acc):.3f}); "
                 f"at dlib's 0.6: same kept {100 * (d[same] <= 0.6).mean():.1f} %, "
                 f"different apart {100 * (d[~same] > 0.6).mean():.2f} %")
    lines += ["", "| max distance | min faces | same-person pairs together | different pairs apart | people merged "
              "| share in largest group (mean / worst) | groups | unassigned |", "|---" * 8 + "|"]
    rng = np.random.default_rng(0)
    orders = [list(rng.permutation(len(samples))) for _ in range(3)]
    for t in (0.4, 0.45, 0.5, 0.55, 0.6):
        qs = [grouping_quality(people, immich_group(dist, o, t)) for o in orders]
        worst = min(qs, key=lambda q: (q["apart"], q["share_min"]))
        lines.append(f"| {t} | 3 | {100 * worst['same']:.1f} % | {100 * worst['apart']:.2f} % | {worst['merged']} "
                     f"| {100 * worst['share_mean']:.0f} % / {100 * worst['share_min']:.0f} % ({worst['worst']}) "
                     f"| {worst['groups']} "
                     f"| {100 * worst['unassigned']:.0f} % |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detectors", default=",".join(DEFAULT), help="comma-separated names: " + ", ".join(DETECTORS))
    ap.add_argument("--no-grouping", action="store_true", help="detectors only (no dlib embedder needed)")
    args = ap.parse_args()
    left = facedata.missing()
    if left:
        print("some face sources are missing, their samples are left out:\n  " + "\n  ".join(left))
    t0 = time.perf_counter()
    det = facedata.detection_samples()
    print(f"{len(det)} detection pictures ({sum(len(s.boxes) for s in det)} faces), loaded in "
          f"{time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.1f}\n", flush=True)
    measure_detectors([n for n in args.detectors.split(",") if n], det)
    if not args.no_grouping:
        ids = facedata.identity_samples()
        print(f"\n{len(ids)} identity pictures of {len({s.person for s in ids})} people")
        print("\n".join(measure_grouping(ids)))


if __name__ == "__main__":
    main()
