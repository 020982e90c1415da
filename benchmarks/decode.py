"""Cheap decoding and what it costs: full decodes against picfind's shortcuts, on real photos.

* 12 MP JPEG: full decode against DCT-scaled decoding (`Image.draft`) to >= 2x and >= 1x the
  model's input size (picfind uses 2x);
* 12 MP HEIC: full decode against the thumbnail phones store inside the file (picfind uses it
  when its shorter side is at least the model's input size);
* 12 MP camera RAW (DNG, 12-bit, written by pidng): LibRaw's half-size demosaic against the
  camera's 1620x1215 JPEG preview (picfind uses the preview when it is big enough).

For each: images/s on one core, mean pixel difference of the model input, cosine between the
embeddings and top-3 overlap over text queries (tiny-shapes, trained; vit-b-32-random
too if encode.py built it).

    .venv/bin/python benchmarks/decode.py [--photos 8]

The last line is JSON.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent / "tests"))

from encode import CACHE  # noqa: E402

from picfind.media.decode import decode, to_rgb  # noqa: E402
from picfind.models.bundle import Bundle  # noqa: E402
from picfind.models.encoder import Encoder  # noqa: E402
from picfind.models.store import resolve  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=8)
    args = ap.parse_args()
    import pillow_heif
    from conftest import real_photos
    from PIL import Image

    sources = [to_rgb(Image.fromarray(a)) for a in real_photos().values()][: args.photos]
    from raws import dng

    jpegs, heics, heics_thumb, raws, raws_preview = [], [], [], [], []
    t = time.perf_counter()
    for img in sources:
        big = img.resize((4032, 3024), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        big.save(buf, "JPEG", quality=90)
        jpegs.append(buf.getvalue())
        for out, thumbs in ((heics_thumb, [512]), (heics, [])):
            buf = io.BytesIO()  # written by pillow-heif (the test extra); read by pi-heif, as picfind does
            pillow_heif.from_pillow(big).save(buf, quality=80, thumbnails=thumbs)
            out.append(buf.getvalue())
        raws.append(dng(big))
        raws_preview.append(dng(big, preview=big.resize((1620, 1215))))
    print(f"made {len(sources)} 12 MP photos as JPEG, HEIC and DNG in {time.perf_counter() - t:.0f} s", flush=True)

    def full_decode(data: bytes) -> Image.Image:
        img = Image.open(io.BytesIO(data))
        img.load()
        return to_rgb(img)

    paths = {  # name: (files, decoder)
        "jpeg_full": (jpegs, full_decode),
        "jpeg_draft_2x": (jpegs, lambda d: decode(d, min_side=448).image),
        "jpeg_draft_1x": (jpegs, lambda d: decode(d, min_side=224).image),
        "heic_full": (heics, lambda d: decode(d, min_side=448).image),
        "heic_thumbnail": (heics_thumb, lambda d: decode(d, min_side=448).image),
        "raw_demosaic": (raws, lambda d: decode(d, min_side=448).image),
        "raw_preview": (raws_preview, lambda d: decode(d, min_side=448).image),
    }
    images, result = {}, {"photos": len(sources)}
    for name, (files, fn) in paths.items():
        start = time.perf_counter()
        images[name] = [fn(d) for d in files]
        result[name] = {"images_per_s": round(len(files) / (time.perf_counter() - start), 2)}
    bundles = [resolve("tiny-shapes")]
    random_b32 = CACHE / "vit-b-32-random"
    if (random_b32 / "manifest.json").is_file():
        bundles.append(Bundle.load(random_b32))
    queries = ["a cat", "an astronaut", "a cup of coffee", "a rocket", "a red circle", "a flower"]
    for bundle in bundles:
        enc = Encoder(bundle)
        prep = bundle.preprocessing
        pixels = {k: np.stack([prep.pixels(i) for i in v]) for k, v in images.items()}
        vecs = {k: enc.encode_images(v) for k, v in pixels.items()}
        texts = enc.encode_texts(queries)
        for name, ref in (("jpeg_draft_2x", "jpeg_full"), ("jpeg_draft_1x", "jpeg_full"),
                          ("heic_thumbnail", "heic_full"), ("raw_preview", "raw_demosaic")):
            cos = (vecs[name] * vecs[ref]).sum(1)
            same = np.mean([len(set(np.argsort(-(vecs[name] @ q))[:3]) & set(np.argsort(-(vecs[ref] @ q))[:3])) / 3
                            for q in texts])
            result[name][bundle.name] = {
                "mean_pixel_diff_255": round(float(np.abs(pixels[name] - pixels[ref]).mean() * 0.27 * 255), 2),
                "cosine_min": round(float(cos.min()), 4), "top3_overlap": round(float(same), 2)}
    print(f"{'':<16}{'images/s':>9}  vs full decode, per model: pixel diff /255, min cosine, top-3 overlap")
    for name in paths:
        extra = "  ".join(f"{b}: {v['mean_pixel_diff_255']}, {v['cosine_min']}, {v['top3_overlap']}"
                          for b, v in result[name].items() if isinstance(v, dict))
        print(f"{name:<16}{result[name]['images_per_s']:>9}  {extra}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
