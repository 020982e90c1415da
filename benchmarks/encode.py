"""Encoder speed of every registry architecture, fp32 and int8 side by side, in one run.

For each architecture (random weights, real shapes: speed does not depend on the weights) it
prints images/s of the image encoder at batch 1 and 8 and ms per text query as picfind runs
it (CLIP unpadded, SigLIP padded to 64), for fp32 and, where a publisher ships int8 or fp16 files,
for those (ONNX Runtime dynamic quantisation, or float16 throughout, as those files are made);
beside each, the CPU time
per item and its ratio to OpenAI ViT-B/32 fp32 in the same run: the cost of a model, which
other work on a shared machine disturbs far less than wall time. fp32 against int8 agreement (cosine, top-10 overlap) is
measured on the trained `tiny-shapes` and real photos, since random weights say little about it.

    .venv/bin/python benchmarks/encode.py [--arch vit-b-32,siglip2-b16-256] [--threads 2] [--seconds 3]

The random models are built on first use by scripts/convert_clip.py into benchmarks/.cache/
(needs the test set-up: torch and transformers); SigLIP 2's text tower (256k-token table) is
1.1 GB, ViT-L/14's image tower 1.2 GB. The last line is JSON.
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
sys.path.insert(0, str(ROOT / "scripts"))
from picfind.media.decode import to_rgb  # noqa: E402
from picfind.models.bundle import Bundle, write_manifest  # noqa: E402
from picfind.models.encoder import Encoder  # noqa: E402
from picfind.models.store import resolve  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
QUERIES = ["a cat", "an astronaut in a white suit", "a cup of coffee on a table", "a rocket",
           "a temple in the mountains", "a red flower", "a black and white photo of a man", "a chinese temple"]
# architecture -> (registry models that share it, other precisions published beside fp32, batch sizes)
ARCHITECTURES = {
    "vit-b-32": ("vit-b-32", ("int8", "fp16"), (1, 8)),
    "vit-b-32-laion2b": ("vit-b-32-laion2b", (), (1, 8)),  # OpenCLIP's: exact GELU
    "vit-b-32-256": ("vit-b-32-datacomp", (), (1, 8)),  # OpenCLIP's: exact GELU
    "vit-b-16": ("vit-b-16", (), (1, 8)),
    "siglip2-b32-256": ("siglip2-b32-256", (), (1, 8)),
    "siglip2-b16-256": ("siglip2-b16-256", ("int8",), (1, 8)),
    "vit-l-14": ("vit-l-14", ("int8",), (1, 8)),
}


def random_bundle(arch: str) -> Bundle:
    out = CACHE / f"{arch}-random"
    if not (out / "manifest.json").is_file():
        CACHE.mkdir(exist_ok=True)
        cmd = [sys.executable, str(ROOT / "scripts" / "convert_clip.py"), "--random", arch, "--out", str(out),
               "--no-check"]
        if arch.startswith("siglip"):
            from make_sentencepiece_tokenizers import gemma_like

            cmd += ["--tokenizer", str(gemma_like(CACHE / "gemma-like.json"))]
        subprocess.run(cmd, check=True)
    return Bundle.load(out)


def converted(bundle: Bundle, precision: str) -> Bundle:
    """The bundle with both encoders in int8 (ONNX Runtime's dynamic quantisation, weights only, as
    the publishers' `*_quantized.onnx` are made) or fp16 (float16 throughout, inputs included, as
    Xenova's `*_fp16.onnx`), cached."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = CACHE / f"{bundle.name}-{precision}"
    if not (out / "manifest.json").is_file():
        tmp = CACHE / f".{bundle.name}-{precision}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for tower in (bundle.image_tower, bundle.text_tower):
            if precision == "int8":
                quantize_dynamic(str(bundle.path / tower.file), str(tmp / tower.file), weight_type=QuantType.QInt8)
            else:
                import onnx
                from onnxruntime.transformers.float16 import convert_float_to_float16

                graph = convert_float_to_float16(onnx.load(str(bundle.path / tower.file)), keep_io_types=False)
                onnx.save(graph, str(tmp / tower.file))
        for f in bundle.files:  # the tokenizer.json, where the bundle has one
            if not (tmp / f).exists():
                shutil.copyfile(bundle.path / f, tmp / f)
        manifest = {k: v for k, v in bundle.manifest.items() if k not in ("files", "format")}
        write_manifest(tmp, {**manifest, "name": f"{bundle.name}-{precision}"})
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


def clocks(run, count: int, seconds: float) -> tuple[float, float]:
    """(items per wall second, CPU ms per item) over repeated calls of `run` (`count` items
    each). CPU time, ONNX Runtime's threads not spinning, is what the work costs whatever else
    the machine is doing; wall time is what a user waits here and now."""
    run()
    n, wall, cpu = 0, time.perf_counter(), time.process_time()
    while n == 0 or time.perf_counter() - wall < seconds:
        run()
        n += count
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1000


def image_clocks(enc: Encoder, batch: int, seconds: float) -> tuple[float, float]:
    size = enc.bundle.image_size
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    return clocks(lambda: enc.encode_images(x), batch, seconds)


def text_clocks(enc: Encoder, seconds: float) -> tuple[float, float]:
    """Per query through picfind's own path (tokenizer, padding rule, graph)."""
    return clocks(lambda: [enc.encode_texts([q]) for q in QUERIES], len(QUERIES), seconds)


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


def measure(bundle: Bundle, batches: tuple[int, ...], threads: int, seconds: float) -> dict:
    enc = Encoder(bundle, device="auto", threads=threads, spinning=False)
    row: dict = {}
    for n in batches:
        per_s, cpu_ms = image_clocks(enc, n, seconds)
        row[f"images_per_s_batch{n}"], row[f"image_cpu_ms_batch{n}"] = round(per_s, 2), round(cpu_ms, 1)
    per_s, cpu_ms = text_clocks(enc, seconds)
    row["text_ms"], row["text_cpu_ms"] = round(1000 / per_s, 1), round(cpu_ms, 1)
    row["mb"] = round(bundle.size_bytes() / 1e6)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default=",".join(ARCHITECTURES),
                    help="comma-separated, from: " + ", ".join(ARCHITECTURES))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seconds", type=float, default=3.0, help="per image figure (at least one call)")
    args = ap.parse_args()
    archs = ["vit-b-32", *[a for a in args.arch.split(",") if a != "vit-b-32"]]  # the baseline first
    result: dict = {"threads": args.threads, "load": os.getloadavg()[0], "rows": {}}
    for arch in archs:
        models_, precisions, batches = ARCHITECTURES[arch]
        bundle = random_bundle(arch)
        variants = [("fp32", bundle)] + [(p, converted(bundle, p)) for p in precisions]
        for label, b in variants:
            row = {"models": models_, **measure(b, batches, args.threads, args.seconds)}
            result["rows"][f"{arch} {label}"] = row
            print(f"{arch} {label}", row, flush=True)
    tiny = resolve("tiny-shapes")
    result["agreement_tiny-shapes"] = agreement(Encoder(tiny, threads=args.threads),
                                                Encoder(converted(tiny, "int8"), threads=args.threads),
                                                photo_pixels(tiny))
    base = result["rows"]["vit-b-32 fp32"]
    print(f"\nload average at start {result['load']:.1f}, {args.threads} threads; cost = CPU time per item")
    print(f"{'architecture':<22}{'img/s b1':>9}{'img/s b8':>9}{'CPU ms/img':>11}{'x B/32':>7}"
          f"{'text ms':>8}{'CPU ms/q':>9}{'x B/32':>7}{'MB':>6}")
    for key, r in result["rows"].items():
        b8 = r["image_cpu_ms_batch8"]
        print(f"{key:<22}{r['images_per_s_batch1']:>9}{r['images_per_s_batch8']:>9}{b8:>11}"
              f"{b8 / base['image_cpu_ms_batch8']:>7.2f}{r['text_ms']:>8}{r['text_cpu_ms']:>9}"
              f"{r['text_cpu_ms'] / base['text_cpu_ms']:>7.2f}{r['mb']:>6}")
    print("agreement fp32/int8 on tiny-shapes:", result["agreement_tiny-shapes"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
