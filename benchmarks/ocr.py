"""What reading text costs: ms per picture with and without text, and a whole `picfind index` run
with `--ocr` against one without, on the same camera-sized photos, in one run.

The corpus is index_speed.py's (real photos cropped and re-lit, 12 MP and 2 MP JPEG and PNG);
a third of them get a word drawn on them (about 3 % of the picture's height, like a sign or a
label). Each index run starts from an empty catalog with the ViT-B/32-shaped model, as
index_speed.py does, with and without `--ocr` interleaved (the machine may be shared: each
pair's ratio counts, and CPU seconds drift less than wall time); `--ocr later` turns text
reading on for a catalog made without it. `--sweep` measures instead the words read on
camera-sized photos by text height, for several decode and detection sides.

    .venv/bin/python benchmarks/ocr.py [--photos 60] [--repeats 3] [--before /tmp/before/src] [--model ...]
    .venv/bin/python benchmarks/ocr.py --sweep [--det-sides 640,512] [--decode-sides 1024,0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
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


def per_picture(paths: list[Path], threads: int, clip_side: int) -> tuple[float, float]:
    """Mean and median ms of OCR per picture, as decoded by the indexer (reading excluded)."""
    from picfind.media.decode import decode
    from picfind.ocr.analysis import OCR_MIN_SIDE
    from picfind.ocr.reader import TextReader

    reader = TextReader(threads=threads)
    images = [np.asarray(decode(p.read_bytes(), max(clip_side, OCR_MIN_SIDE)).image) for p in paths]
    reader.read(images[0])
    times = []
    for img in images:
        t0 = time.perf_counter()
        reader.read(img)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.mean(times)), float(np.median(times))


def sweep(plain: list[Path], clip_side: int, decode_sides: list[int], det_sides: list[int]) -> None:
    """Words read on camera-sized photos by text height, and what decoding and OCR cost, for each
    decode side (the indexer decodes once for both models, at a short side >= max(CLIP's,
    OCR_MIN_SIDE)) and detection side (long side)."""
    import io

    from PIL import Image
    from textpics import WORDS, fonts, word_on_photo

    from picfind.media.decode import decode
    from picfind.ocr.matching import fold
    from picfind.ocr.reader import TextReader

    rng = random.Random(1)
    cases = []  # (jpeg bytes, word, height fraction)
    for i, p in enumerate(plain[:12]):
        img = Image.open(p).convert("RGB")
        for j, (frac, angle) in enumerate((f, a) for f in (30, 45, 60) for a in (0, 90, 180)):
            word = WORDS[(9 * i + j) % len(WORDS)]
            out = word_on_photo(np.asarray(img), word, rng.choice(fonts()), img.height // frac, angle, rng,
                                width=img.width)
            buf = io.BytesIO()
            out.save(buf, format="JPEG", quality=90)
            cases.append((buf.getvalue(), word, frac))
    print(f"\n{len(cases)} camera-sized photos (12 and 2 MP JPEG) with a word 1/30, 1/45 or 1/60 of the height "
          f"tall at 0/90/180 degrees; CLIP alone decodes at short side >= {clip_side}; one thread; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    print("| decoded at short side | detect at long side | 1/30 | 1/45 | 1/60 | ms decode + OCR (CPU) |")
    print("|---|---|---|---|---|---|")
    per = len(cases) // 3
    for det_side in det_sides:
        reader = TextReader(threads=1, det_side=det_side)
        for side in decode_sides:
            found = dict.fromkeys((30, 45, 60), 0)
            t0 = time.process_time()
            for data, word, frac in cases:
                found[frac] += fold(word) in fold(reader.read(np.asarray(decode(data, max(clip_side, side)).image)))
            ms = (time.process_time() - t0) / len(cases) * 1000
            print(f"| {max(clip_side, side)} | {det_side} | " + " | ".join(f"{found[f]}/{per}" for f in (30, 45, 60))
                  + f" | {ms:.0f} |", flush=True)


def index(folder: Path, db: str, bundle: str, *extra: str, src: str | None = None) -> tuple[float, float, dict]:
    """One `picfind index` run (picfind from `src` when given): wall seconds, CPU seconds (user +
    system, all its threads), its report."""
    import resource
    import subprocess

    env = {**os.environ, "PYTHONPATH": src} if src else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "picfind", "index", str(folder), "--db", db, "--model", bundle,
                          "--json", "--no-thumbnails", *extra], capture_output=True, text=True, env=env,
                         cwd=folder.parent)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise SystemExit(out.stderr)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--model", default="vit-b-32-random")
    ap.add_argument("--repeats", type=int, default=3, help="index runs with and without --ocr, interleaved")
    ap.add_argument("--before", metavar="SRC", help="also index with --ocr by the picfind package in SRC (a src/ "
                    "folder of another commit, e.g. from `git archive COMMIT src | tar -x -C /tmp/before`)")
    ap.add_argument("--sweep", action="store_true", help="only the table of words read and cost by decode "
                    "and detection side (--decode-sides, --det-sides)")
    ap.add_argument("--decode-sides", default="1024,0", help="short sides to decode at (0: CLIP's alone)")
    ap.add_argument("--det-sides", default="640,512")
    args = ap.parse_args()

    from encode import random_bundle

    from picfind.models.store import Bundle, resolve

    bundle = str(random_bundle("vit-b-32").path) if args.model == "vit-b-32-random" else str(resolve(args.model).path)
    plain, texts = build(HERE / ".cache" / "ocr", args.photos)
    clip_side = int(Bundle.load(Path(bundle)).preprocessing.size * 2)  # IndexOptions.draft_factor
    if args.sweep:
        sweep(plain, clip_side, [int(x) for x in args.decode_sides.split(",")],
              [int(x) for x in args.det_sides.split(",")])
        return
    print(f"{len(plain)} photos without text, {len(texts)} with; load {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores (shared machine: compare within this run)", flush=True)
    for threads in (1, 2):
        no_mean, no_med = per_picture(plain[:12], threads, clip_side)
        tx_mean, tx_med = per_picture(texts[:8], threads, clip_side)
        print(f"OCR, {threads} thread(s): without text {no_mean:.0f} ms/picture (median {no_med:.0f}), "
              f"with text {tx_mean:.0f} ms/picture (median {tx_med:.0f})", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp, "corpus")
        corpus.mkdir()
        for p in [*plain, *texts]:
            os.link(p, corpus / p.name)
        n = len(plain) + len(texts)
        modes = [("without --ocr", None), ("--ocr", None)] + ([(f"--ocr, {args.before}", args.before)]
                                                             if args.before else [])
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in modes}
        # interleaved, in alternating order: on a shared machine the load drifts between runs
        for rep in range(args.repeats):
            for i, (name, src) in enumerate(modes) if rep % 2 == 0 else reversed(list(enumerate(modes))):
                ocr = i > 0
                wall, cpu, out = index(corpus, f"{tmp}/{rep}-{i}.db", bundle, *(["--ocr"] if ocr else []), src=src)
                runs[name].append((wall, cpu))
                held = f", {out['texts_found']} of {out['texts_read']} hold text" if ocr else ""
                print(f"index {name}: {n / wall:.2f} images/s ({wall:.1f} s wall, {cpu:.1f} s CPU{held}); "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
        later_wall, later_cpu, out = index(corpus, f"{tmp}/0-0.db", bundle, "--ocr")  # made without --ocr
        print(f"--ocr later on a catalog made without: {n / later_wall:.2f} images/s ({later_wall:.1f} s wall, "
              f"{later_cpu:.1f} s CPU, {out['embedded']} embedded)", flush=True)
    for name, _ in modes[1:]:
        pairs = [(o[0] / c[0], o[1] / c[1]) for o, c in zip(runs[name], runs["without --ocr"])]
        time_ratio, cpu_ratio = (statistics.median(r[i] for r in pairs) for i in (0, 1))
        print(f"\nindex {name} / without, per round: time " + ", ".join(f"{w:.2f}" for w, _ in pairs)
              + "; CPU " + ", ".join(f"{c:.2f}" for _, c in pairs)
              + f"; median time {time_ratio:.2f}, CPU {cpu_ratio:.2f}")

if __name__ == "__main__":
    main()
