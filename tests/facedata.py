"""Real faces, labelled, that can be had offline: for face detection and grouping tests and benchmarks.

Nothing here is committed as an image: each source ships inside a registry package (PyPI or Debian),
is fetched into the ignored `benchmarks/.cache/facedata/` (or found where apt put it), and is turned
into samples deterministically (fixed seeds, fixed layouts). The boxes were labelled once by hand
(dlib's CNN proposals, each checked by eye) in the source photo's own pixels.

Sources (and licences), what `fetch()` does for each:
- scikit-image `data.astronaut()`: Eileen Collins, NASA, public domain. Always there.
- PyPI `face_recognition==1.3.0` sdist, tests/test_images (obama*.jpg, biden.jpg); the package is MIT,
  the photos are press photos shipped for its tests (use for testing only, never redistribute).
  `pip download --no-deps --no-binary :all: --no-build-isolation face_recognition==1.3.0`.
- PyPI `insightface==2.1` wheel, insightface/data/images/t1.jpg (six people at a table) and
  Tom_Hanks_54745.png (a 112 px aligned crop); the package is MIT, the images carry no licence of
  their own (testing only). `pip download --no-deps --only-binary :all: insightface==2.1`.
- Debian `opencv-doc` (`apt-get install opencv-doc`): examples/data/messi5.jpg and tutorial images
  (227943776_1.jpg, 230501201_1.jpg, inpaint_result.jpg); OpenCV's docs are Apache-2.0/BSD.
- Backgrounds: Debian `plasma-workspace-wallpapers` (GPL-2+), skimage and sklearn sample photos.

    python tests/facedata.py --fetch     # what CI runs once (PyPI via pip; apt needs root)
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache" / "facedata"
OPENCV_DOC = Path("/usr/share/doc/opencv-doc")
WALLPAPERS = Path("/usr/share/wallpapers")
Box = tuple[float, float, float, float]  # left, top, right, bottom in the picture's pixels

# PyPI packages: (requirement, pip download flags, archive name, members wanted)
_PYPI = {
    "face_recognition": ("face_recognition==1.3.0", ["--no-binary", ":all:", "--no-build-isolation"],
                         "face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/"),
    "insightface": ("insightface==2.1", ["--only-binary", ":all:"],
                    "insightface-2.1-py3-none-any.whl", "insightface/data/images/"),
}
_FR = "face_recognition-1.3.0/tests/test_images/"
_HTML = "opencv4/html/"

# name -> (package, path inside it or the Debian doc folder, crop of the source or None, {person: box})
PHOTOS: dict[str, tuple[str, str, Box | None, dict[str, Box]]] = {
    "astronaut": ("skimage", "astronaut", None, {"collins": (165, 73, 263, 171)}),
    "obama": ("face_recognition", _FR + "obama.jpg", None, {"obama": (375, 154, 611, 390)}),
    "obama2": ("face_recognition", _FR + "obama2.jpg", None, {"obama": (170, 278, 454, 561)}),
    "obama3": ("face_recognition", _FR + "obama3.jpg", None, {"obama": (613, 252, 953, 592)}),
    "biden": ("face_recognition", _FR + "biden.jpg", None, {"biden": (428, 235, 712, 518)}),
    "friends": ("insightface", "insightface/data/images/t1.jpg", None, {
        "aniston": (52, 265, 166, 379), "cox": (264, 158, 359, 253), "schwimmer": (436, 275, 572, 411),
        "perry": (720, 357, 834, 471), "leblanc": (904, 69, 1018, 183), "kudrow": (1112, 276, 1225, 390)}),
    "hanks": ("insightface", "insightface/data/images/Tom_Hanks_54745.png", None, {"hanks": (11, 20, 93, 102)}),
    "messi5": ("opencv-doc", "examples/data/messi5.jpg", None, {"messi": (221, 93, 260, 133)}),
    "messi_portrait": ("opencv-doc", _HTML + "inpaint_result.jpg", (0, 169, 150, 337), {"messi": (63, 41, 111, 88)}),
    "man_a": ("opencv-doc", _HTML + "227943776_1.jpg", None, {"man_a": (141, 106, 283, 248)}),
    "man_b": ("opencv-doc", _HTML + "230501201_1.jpg", None, {"man_b": (190, 268, 435, 512)}),
}
LICENCES = {
    "skimage": "public domain (NASA)",
    "face_recognition": "MIT package; press photos shipped for its tests (testing only)",
    "insightface": "MIT package; images without a licence of their own (testing only)",
    "opencv-doc": "Apache-2.0 / BSD (OpenCV documentation)",
    "plasma-workspace-wallpapers": "GPL-2+",
}
_WALLS = ("Autumn", "BytheWater", "FallenLeaf", "Path")


@dataclass(frozen=True)
class DetectionSample:
    """A picture as shown (EXIF applied) with every face labelled; `stored` is the pixels as
    written in the file when it carries an EXIF turn (`jpeg` holds those bytes), else None."""

    name: str
    image: np.ndarray
    boxes: tuple[Box, ...]
    tags: frozenset[str]  # any of: plain, small, turned, exif, dim, crowd
    jpeg: bytes | None = None
    stored: np.ndarray | None = None


@dataclass(frozen=True)
class IdentitySample:
    """One picture of one person, with that face's box (other faces may be in the picture)."""

    name: str
    person: str
    image: np.ndarray
    box: Box
    photo: str  # the source photo it was made from: pairs from two photos are the honest test


def fetch(apt: bool = False) -> list[str]:
    """Download what PyPI holds into the cache (and apt-get what Debian holds when asked, as root);
    returns one line per source still missing, saying why and how to get it."""
    CACHE.mkdir(parents=True, exist_ok=True)
    for req, flags, archive, _ in _PYPI.values():
        if not (CACHE / archive).exists():
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *flags, req,
                            "-d", str(CACHE)], check=False, capture_output=True, timeout=300)
    if apt and not OPENCV_DOC.is_dir():
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "opencv-doc",
                        "plasma-workspace-wallpapers"], check=False, capture_output=True, timeout=900)
    return missing()


def missing() -> list[str]:
    """One line per source that is not here, with the command that brings it."""
    out = []
    for pkg, (req, flags, archive, _) in _PYPI.items():
        if not (CACHE / archive).exists():
            out.append(f"{pkg}: not in {CACHE}; run `python tests/facedata.py --fetch` "
                       f"(pip download --no-deps {' '.join(flags)} {req})")
    if not OPENCV_DOC.is_dir():
        out.append("opencv-doc: not installed; run `apt-get install opencv-doc`")
    return out


def _member(pkg: str, path: str) -> Path:
    """The file from a PyPI archive, extracted once into the cache."""
    req, flags, archive, prefix = _PYPI[pkg]
    dest = CACHE / "files" / path
    if not dest.exists():
        arc = CACHE / archive
        if not arc.exists():
            raise FileNotFoundError(f"{pkg} is missing: run `python tests/facedata.py --fetch`")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if archive.endswith(".whl"):
            with zipfile.ZipFile(arc) as z:
                dest.write_bytes(z.read(path))
        else:
            with tarfile.open(arc) as t:
                f = t.extractfile(path)
                assert f is not None
                dest.write_bytes(f.read())
    return dest


@functools.cache
def photo(name: str) -> np.ndarray:
    """A labelled source photo as RGB pixels (decoded once, kept as .npy in the cache)."""
    pkg, path, crop, _ = PHOTOS[name]
    npy = CACHE / "decoded" / f"{name}.npy"
    if npy.exists():
        return np.load(npy)
    if pkg == "skimage":
        import skimage.data

        arr = getattr(skimage.data, path)()
    else:
        file = OPENCV_DOC / path if pkg == "opencv-doc" else _member(pkg, path)
        if not file.exists():
            raise FileNotFoundError(f"{file} is missing: run `apt-get install opencv-doc`")
        with Image.open(file) as im:
            img = ImageOps.exif_transpose(im).convert("RGB")
        if crop is not None:
            img = img.crop(tuple(int(v) for v in crop))
        arr = np.asarray(img)
    npy.parent.mkdir(parents=True, exist_ok=True)
    np.save(npy, arr)
    return arr


def available() -> list[str]:
    """The labelled photos whose source is here."""
    have = []
    for name in PHOTOS:
        try:
            photo(name)
            have.append(name)
        except FileNotFoundError:
            pass
    return have


@functools.cache
def backgrounds() -> tuple[np.ndarray, ...]:
    """Real photos without faces, 1600 px wide: wallpapers when installed, and skimage/sklearn
    photos blown up to the same scale (so face sizes mean the same on each); kept as .npy."""
    npy = CACHE / "decoded" / "backgrounds.npz"
    if npy.exists():
        with np.load(npy) as z:
            return tuple(z[k] for k in sorted(z.files, key=int))
    import skimage.data
    from sklearn.datasets import load_sample_images

    out = []
    for wall in _WALLS:
        f = WALLPAPERS / wall / "contents" / "images" / "1600x1200.jpg"
        if f.exists():
            with Image.open(f) as im:
                out.append(np.asarray(im.convert("RGB")))
    for arr in (skimage.data.coffee(), skimage.data.rocket(), *load_sample_images().images):
        img = Image.fromarray(arr)
        out.append(np.asarray(img.resize((1600, round(1600 * img.height / img.width)), Image.BICUBIC)))
    npy.parent.mkdir(parents=True, exist_ok=True)
    np.savez(npy, **{str(i): a for i, a in enumerate(out)})
    return tuple(out)


def _scale(box: Box, s: float, dx: float = 0, dy: float = 0) -> Box:
    return (box[0] * s + dx, box[1] * s + dy, box[2] * s + dx, box[3] * s + dy)


def side(box: Box) -> float:
    """A face's size: the side of the square of its box's area."""
    return ((box[2] - box[0]) * (box[3] - box[1])) ** 0.5


def _turn(box: Box, angle: float, size: tuple[int, int], new: tuple[int, int]) -> Box:
    """The box of a face after turning the picture by `angle` degrees (PIL's sense, expand=True):
    its centre moves, its size stays (a detector's box around a tilted face is upright)."""
    cx, cy = (box[0] + box[2]) / 2 - size[0] / 2, (box[1] + box[3]) / 2 - size[1] / 2
    a = np.radians(angle)
    nx, ny = cx * np.cos(a) + cy * np.sin(a), -cx * np.sin(a) + cy * np.cos(a)
    nx, ny, h = nx + new[0] / 2, ny + new[1] / 2, side(box) / 2
    return (nx - h, ny - h, nx + h, ny + h)


def _light(arr: np.ndarray, gain: float, gamma: float = 1.0, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Darker or brighter (a gain after a gamma, as a table), with sensor noise when asked."""
    lut = (np.clip((np.arange(256) / 255.0) ** gamma * gain, 0, 1) * 255 + 0.5).astype(np.uint8)
    out = lut[arr]
    if noise:
        tile = np.random.default_rng(seed).normal(0, noise * 255, (127, 131, 3)).astype(np.int16)  # tiled: cheap
        reps = (-(-arr.shape[0] // 127), -(-arr.shape[1] // 131), 1)
        grain = np.tile(tile, reps)[: arr.shape[0], : arr.shape[1]]
        out = np.clip(out.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    return out


def _paste(bg: np.ndarray, src: np.ndarray, box: Box, face: float, at: tuple[float, float],
           angle: float = 0.0, margin: float = 1.1) -> tuple[np.ndarray, Box]:
    """Paste the region around `box` (`margin` face sides each way) with a feathered oval edge,
    scaled so the face is `face` px, turned by `angle`, its face centre at `at` (fractions of bg)."""
    s_box = side(box)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    r = s_box * (0.5 + margin)
    region = (max(0, int(cx - r)), max(0, int(cy - r)), min(src.shape[1], int(cx + r)), min(src.shape[0], int(cy + r)))
    crop = Image.fromarray(src).crop(region)
    s = face / s_box
    crop = crop.resize((max(1, round(crop.width * s)), max(1, round(crop.height * s))), Image.LANCZOS)
    fbox = _scale((box[0] - region[0], box[1] - region[1], box[2] - region[0], box[3] - region[1]), s)
    mask = Image.new("L", crop.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, crop.width - 1, crop.height - 1), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(max(1.0, crop.width / 14)))
    if angle:
        size = crop.size
        crop, mask = crop.rotate(angle, Image.BICUBIC, expand=True), mask.rotate(angle, Image.BICUBIC, expand=True)
        fbox = _turn(fbox, angle, size, crop.size)
    out = Image.fromarray(bg).copy()
    fx, fy = (fbox[0] + fbox[2]) / 2, (fbox[1] + fbox[3]) / 2
    ox, oy = round(at[0] * bg.shape[1] - fx), round(at[1] * bg.shape[0] - fy)
    out.paste(crop, (ox, oy), mask)
    return np.asarray(out), _scale(fbox, 1.0, ox, oy)


def _exif_jpeg(img: np.ndarray, orientation: int) -> tuple[bytes, np.ndarray]:
    """Store the upright picture as a camera would: pixels turned, an EXIF tag saying how to undo it."""
    import io

    undo = {3: Image.ROTATE_180, 6: Image.ROTATE_90, 8: Image.ROTATE_270}[orientation]
    stored = Image.fromarray(img).transpose(undo)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=92, exif=exif)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        assert np.asarray(ImageOps.exif_transpose(im)).shape == img.shape
    return buf.getvalue(), np.asarray(stored)


def _single() -> list[str]:
    return [n for n in available() if len(PHOTOS[n][3]) == 1 and n not in ("hanks", "messi_portrait")]


@functools.cache
def detection_samples() -> tuple[DetectionSample, ...]:
    """The detection set: each photo as is, plus small, turned (tilt and EXIF), dim and crowd variants."""
    out: list[DetectionSample] = []
    have, single, bgs = available(), _single(), backgrounds()
    for name in have:
        if name in ("hanks", "messi_portrait"):
            continue
        boxes = tuple(PHOTOS[name][3].values())
        tags = {"plain", "crowd"} if len(boxes) > 2 else {"plain"}
        if min(side(b) for b in boxes) < 48:
            tags.add("small")
        out.append(DetectionSample(name, photo(name), boxes, frozenset(tags)))
    for i, name in enumerate(single):  # a person far away in a big picture: faces of 24-48 px in 1600
        (box,) = PHOTOS[name][3].values()
        for j, face in enumerate((24, 32, 48)):
            img, b = _paste(bgs[(i + j) % len(bgs)], photo(name), box, face, (0.3 + 0.2 * j, 0.45), margin=3.0)
            out.append(DetectionSample(f"{name}-small{face}", img, (b,), frozenset({"small"})))
    for i, name in enumerate(single):  # heads tilted in the picture
        (box,) = PHOTOS[name][3].values()
        for angle in (-30, 20):
            img, b = _paste(bgs[(i + 3) % len(bgs)], photo(name), box, 140, (0.5, 0.5), angle, margin=1.6)
            out.append(DetectionSample(f"{name}-tilt{angle}", img, (b,), frozenset({"turned"})))
    for name, orient in zip(have, (6, 8, 3, 6)):  # cameras held sideways: pixels stored turned
        if name in ("hanks", "messi_portrait"):
            continue
        img = photo(name)
        jpeg, stored = _exif_jpeg(img, orient)
        out.append(DetectionSample(f"{name}-exif{orient}", img, tuple(PHOTOS[name][3].values()),
                                   frozenset({"turned", "exif"}), jpeg, stored))
    for i, name in enumerate([*single[:4], "friends"] if "friends" in have else single[:4]):  # indoors at night
        for k, (gain, gamma, noise) in enumerate(((0.35, 1.3, 0.02), (0.2, 1.6, 0.03))):
            img = _light(photo(name), gain, gamma, noise, seed=10 * i + k)
            out.append(DetectionSample(f"{name}-dim{k}", img, tuple(PHOTOS[name][3].values()), frozenset({"dim"})))
    out.extend(_crowds(have, bgs))
    return tuple(out)


def _faces(have: list[str]) -> list[tuple[str, str, Box]]:
    """Every labelled (photo, person, box), in a fixed order."""
    return [(n, p, b) for n in have for p, b in PHOTOS[n][3].items()]


def _crowds(have: list[str], bgs: tuple[np.ndarray, ...]) -> list[DetectionSample]:
    """Group pictures: the six at the table at half size, and faces of everyone on one background."""
    out = []
    if "friends" in have:
        img = Image.fromarray(photo("friends"))
        half = np.asarray(img.resize((img.width // 2, img.height // 2), Image.LANCZOS))
        boxes = tuple(_scale(b, 0.5) for b in PHOTOS["friends"][3].values())
        out.append(DetectionSample("friends-half", half, boxes, frozenset({"crowd", "small"})))
    faces = _faces(have)
    rng = np.random.default_rng(26)
    for k in range(2):
        img, boxes = bgs[(k + 1) % len(bgs)], []
        cols, rows = 5, 3
        for idx, (n, _p, b) in enumerate(faces[k::2][: cols * rows]):
            cx = (idx % cols + 0.5) / cols + rng.uniform(-0.03, 0.03)
            cy = (idx // cols + 0.5) / rows + rng.uniform(-0.03, 0.03)
            img, fb = _paste(img, photo(n), b, float(rng.choice([56, 72, 96])), (cx, cy), margin=0.6)
            boxes.append(fb)
        out.append(DetectionSample(f"crowd{k}", img, tuple(boxes), frozenset({"crowd"})))
    return out


@functools.cache
def identity_samples() -> tuple[IdentitySample, ...]:
    """Several pictures of each person: their real photos, and composites of their face on real
    backgrounds at other sizes (48-200 px), light (x0.35-x1.25) and tilt (up to 25 degrees)."""
    bgs, out = backgrounds(), []
    faces = [f for f in _faces(available())]
    looks = [(160, 1.0, 0.0), (80, 0.55, 8.0), (200, 1.25, -12.0), (60, 1.0, 15.0), (120, 0.45, 0.0),
             (100, 1.1, -6.0), (48, 0.35, 20.0), (64, 1.0, -25.0)]
    by_person: dict[str, list[tuple[str, Box]]] = {}
    for n, p, b in faces:
        by_person.setdefault(p, []).append((n, b))
        out.append(IdentitySample(n, p, photo(n), b, n))
    for pi, (person, shots) in enumerate(by_person.items()):
        for k in range(len(looks)):
            n, b = shots[k % len(shots)]
            face, gain, angle = looks[k % len(looks)]
            at = (0.35 + 0.05 * (k % 5), 0.4)
            img, fb = _paste(bgs[(pi + k) % len(bgs)], photo(n), b, face, at, angle, margin=1.2)
            if gain != 1.0:
                img = _light(img, gain)
            out.append(IdentitySample(f"{person}-c{k}", person, img, fb, n))
    return tuple(out)


if __name__ == "__main__":
    if "--fetch" in sys.argv:
        left = fetch(apt="--apt" in sys.argv)
        print("\n".join(left) if left else f"all face sources are here ({CACHE})")
        sys.exit(1 if left else 0)
    det, ids = detection_samples(), identity_samples()
    print(f"{len(det)} detection pictures, {sum(len(s.boxes) for s in det)} faces; "
          f"{len(ids)} identity pictures of {len({s.person for s in ids})} people")
