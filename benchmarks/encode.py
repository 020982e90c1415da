"""Encoder speed and int8 agreement.

Prints images/s of the image encoder at batch 1, 8 and 32, ms per text query padded to 77
tokens and unpadded, and fp32 against int8 (ONNX Runtime dynamic quantisation): speed, cosine
agreement of the embeddings and top-10 rank agreement on real photos.

    .venv/bin/python benchmarks/encode.py [--model vit-b-32-random] [--threads 2]

`vit-b-32-random` (ViT-B/32 shapes, random weights: speed does not depend on the weights) is
built on first use by scripts/convert_clip.py into benchmarks/.cache/ (needs the test set-up:
torch and transformers). Any installed model name or bundle folder works too. Agreement is
also measured on the trained `tiny-shapes`, since random weights say little about it.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
from picfind.bundle import Bundle, write_manifest  # noqa: E402
from picfind.decode import to_rgb  # noqa: E402
from picfind.embed import Encoder  # noqa: E402
from picfind.models import resolve  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
QUERIES = ["a cat", "an astronaut in a white suit", "a cup of coffee on a table", "a rocket",
           "a temple in the mountains", "a red flower", "a black and white photo of a man", "a chinese temple"]


def random_b32() -> Path:
    out = CACHE / "vit-b-32-random"
    if not (out / "manifest.json").is_file():
        CACHE.mkdir(exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "convert_clip.py"), "--random", "vit-b-32",
                        "--out", str(out)], check=True)
    return out


def quantised(bundle: Bundle) -> Bundle:
    """The bundle with both encoders quantised to int8 (dynamic, weights only), cached."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = CACHE / f"{bundle.name}-int8"
    if not (out / "manifest.json").is_file():
        tmp = CACHE / f".{bundle.name}-int8"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for tower in (bundle.image_tower, bundle.text_tower):
            quantize_dynamic(str(bundle.path / tower.file), str(tmp / tower.file), weight_type=QuantType.QInt8)
        manifest = {k: v for k, v in bundle.manifest.items() if k not in ("files", "format")}
        write_manifest(tmp, {**manifest, "name": f"{bundle.name}-int8"})
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    return Bundle.load(out)


def photo_pixels(bundle: Bundle) -> np.ndarray:
    """Real photos and crops of them: a small gallery for rank agreement."""
    from conftest import real_photos
    from PIL import Image

    prep = bundle.preprocessing
    out = []
    for arr in real_photos().values():
        img = to_rgb(Image.fromarray(arr))
        w, h = img.size
        for box in [(0, 0, w, h), (0, 0, w // 2, h // 2), (w // 2, h // 2, w, h), (w // 4, 0, 3 * w // 4, h)]:
            out.append(prep.pixels(img.crop(box)))
    return np.stack(out)


def images_per_second(enc: Encoder, batch: int, seconds: float = 8.0) -> float:
    size = enc.bundle.image_size
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    enc.encode_images(x)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        enc.encode_images(x)
        n += batch
    return n / (time.perf_counter() - start)


def text_ms(enc: Encoder, padded: bool) -> float:
    tower = enc.bundle.text_tower
    session = enc._session(tower)
    ids = [enc.tokenizer.batch([q], pad_to=77 if padded else None) for q in QUERIES]
    session.run(None, {tower.input: ids[0]})
    start = time.perf_counter()
    for _ in range(3):
        for i in ids:
            session.run(None, {tower.input: i})
    return (time.perf_counter() - start) / (3 * len(ids)) * 1000


def agreement(a: Encoder, b: Encoder, pixels: np.ndarray) -> dict:
    ia, ib = a.encode_images(pixels), b.encode_images(pixels)
    ta, tb = a.encode_texts(QUERIES), b.encode_texts(QUERIES)
    cos = np.concatenate([(ia * ib).sum(1), (ta * tb).sum(1)])
    overlap = []
    for qa, qb in zip(ta, tb):
        top_a = set(np.argsort(-(ia @ qa))[:10])
        top_b = set(np.argsort(-(ib @ qb))[:10])
        overlap.append(len(top_a & top_b) / 10)
    return {"cosine_min": round(float(cos.min()), 5), "cosine_mean": round(float(cos.mean()), 5),
            "top10_overlap": round(float(np.mean(overlap)), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vit-b-32-random")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    bundle = Bundle.load(random_b32()) if args.model == "vit-b-32-random" else resolve(args.model)
    result: dict = {"model": bundle.name, "threads": args.threads}
    for label, b in (("fp32", bundle), ("int8", quantised(bundle))):
        enc = Encoder(b, device="auto", threads=args.threads)
        result[label] = {f"images_per_s_batch{n}": round(images_per_second(enc, n, args.seconds), 2)
                         for n in (1, 8, 32)}
        result[label]["text_ms_padded77"] = round(text_ms(enc, True), 1)
        result[label]["text_ms_unpadded"] = round(text_ms(enc, False), 1)
        result["device"] = enc.device
        print(label, result[label], flush=True)
    for name, b in (("agreement_" + bundle.name, bundle), ("agreement_tiny-shapes", resolve("tiny-shapes"))):
        result[name] = agreement(Encoder(b, threads=args.threads), Encoder(quantised(b), threads=args.threads),
                                 photo_pixels(b))
        print(name, result[name], flush=True)
    print(f"\n{'':<8}{'img/s b1':>10}{'img/s b8':>10}{'img/s b32':>10}{'text ms 77':>12}{'text ms':>9}")
    for label in ("fp32", "int8"):
        r = result[label]
        print(f"{label:<8}{r['images_per_s_batch1']:>10}{r['images_per_s_batch8']:>10}{r['images_per_s_batch32']:>10}"
              f"{r['text_ms_padded77']:>12}{r['text_ms_unpadded']:>9}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
