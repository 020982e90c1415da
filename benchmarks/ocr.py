"""What reading text costs: ms per picture with and without text, and a whole `picfind index` run
with `--ocr` against one without, on the same camera-sized photos, in one run.

The corpus is index_speed.py's (real photos cropped and re-lit, 12 MP and 2 MP JPEG and PNG);
a third of them get a word drawn on them (about 3 % of the picture's height, like a sign or a
label). Each index run starts from an empty catalog with the ViT-B/32-shaped model, as
index_speed.py does; `--ocr later` turns text reading on for the catalog made without it.

    .venv/bin/python benchmarks/ocr.py [--photos 60] [--model vit-b-32-random]
"""

from __future__ import annotations

import argparse
import json
import os
import random
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


def build(folder: Path, n: int) -> tuple[list[Path], list[Path]]:
    """The corpus, with every third photo carrying a word: (without text, with text)."""
    from index_speed import build_corpus
    from PIL import Image
    from textpics import WORDS, fonts, word_on_photo

    plain = build_corpus(folder / "plain", n)
    marked = folder / f"text-{n}"
    if not (marked / ".complete").exists():
        marked.mkdir(parents=True, exist_ok=True)
        rng = random.Random(0)
        for i, p in enumerate(plain[::3]):
            img = Image.open(p).convert("RGB")
            out = word_on_photo(np.asarray(img), WORDS[i % len(WORDS)], rng.choice(fonts()), img.height // 30, 0, rng,
                                width=img.width)
            out.save(marked / p.name, quality=90) if p.suffix == ".jpg" else out.save(marked / p.name)
        (marked / ".complete").touch()
    texts = sorted(q for q in marked.iterdir() if not q.name.startswith("."))
    return [p for p in plain if p.name not in {t.name for t in texts}], texts


def per_picture(paths: list[Path], threads: int) -> tuple[float, float]:
    """Mean and median ms of OCR per picture, as decoded by the indexer (reading excluded)."""
    from picfind.decode import decode
    from picfind.indexer import OCR_MIN_SIDE
    from picfind.ocr import TextReader

    reader = TextReader(threads=threads)
    images = [np.asarray(decode(p.read_bytes(), OCR_MIN_SIDE).image) for p in paths]
    reader.read(images[0])
    times = []
    for img in images:
        t0 = time.perf_counter()
        reader.read(img)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.mean(times)), float(np.median(times))


def index(folder: Path, db: str, bundle: str, *extra: str) -> tuple[float, dict]:
    import subprocess

    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "picfind", "index", str(folder), "--db", db, "--model", bundle,
                          "--json", "--no-thumbnails", *extra], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return time.perf_counter() - t0, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--model", default="vit-b-32-random")
    args = ap.parse_args()

    from encode import random_bundle

    from picfind.models import resolve

    bundle = str(random_bundle("vit-b-32").path) if args.model == "vit-b-32-random" else str(resolve(args.model).path)
    plain, texts = build(HERE / ".cache" / "ocr", args.photos)
    print(f"{len(plain)} photos without text, {len(texts)} with; load {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores (shared machine: compare within this run)", flush=True)
    for threads in (1, 2):
        no_mean, no_med = per_picture(plain[:12], threads)
        tx_mean, tx_med = per_picture(texts[:8], threads)
        print(f"OCR, {threads} thread(s): without text {no_mean:.0f} ms/picture (median {no_med:.0f}), "
              f"with text {tx_mean:.0f} ms/picture (median {tx_med:.0f})", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp, "corpus")
        corpus.mkdir()
        for p in [*plain, *texts]:
            os.link(p, corpus / p.name)
        n = len(plain) + len(texts)
        clip_s, rep = index(corpus, f"{tmp}/clip.db", bundle)
        print(f"index without --ocr: {n / clip_s:.2f} images/s ({clip_s:.1f} s, {rep['embedded']} embedded)",
              flush=True)
        ocr_s, rep = index(corpus, f"{tmp}/ocr.db", bundle, "--ocr")
        print(f"index with --ocr:    {n / ocr_s:.2f} images/s ({ocr_s:.1f} s, {rep['texts_found']} of "
              f"{rep['texts_read']} hold text)", flush=True)
        later_s, rep = index(corpus, f"{tmp}/clip.db", bundle, "--ocr")
        print(f"--ocr later on the catalog made without: {n / later_s:.2f} images/s ({later_s:.1f} s, "
              f"{rep['embedded']} embedded)", flush=True)
    print(f"\nindex time with --ocr / without = {ocr_s / clip_s:.2f}")


if __name__ == "__main__":
    main()
