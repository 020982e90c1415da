"""What a multilingual query costs: each multilingual text encoder against CLIP ViT-B/32's text
tower (the baseline, measured in the same run), per query and cold (load + first query).

Random weights at the real depth and width of each model (speed does not depend on the weights);
the token tables are the size of a small tokenizer (scripts/make_sentencepiece_tokenizers.py), so
the per-query figures are the real models' (a token lookup costs nothing) but the load times
leave out the real tables (XLM-R's 250k x 1024 floats, 1 GB; NLLB's 256k x 1024): read the load
column as a floor. Each multilingual encoder is timed twice: as Immich's graphs take it (77 tokens,
padded) and exported for any length (scripts/convert_multilingual.py `dynamic`), run unpadded.

    nice .venv/bin/python benchmarks/multilingual.py --threads 2 --queries 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))
from convert_clip import RANDOM, export_bundle  # noqa: E402
from convert_multilingual import NllbClip, export, mclip_model  # noqa: E402
from make_sentencepiece_tokenizers import nllb_like, xlmr_like  # noqa: E402

from picfind.models.bundle import Bundle  # noqa: E402
from picfind.models.encoder import Encoder  # noqa: E402

QUERIES = ["a dog asleep on a red sofa", "собака на пляже на закате", "海滩上的两只猫", "浜辺の犬と子供",
           "समुद्र तट पर कुत्ता", "كلب على الشاطئ عند الغروب", "ein Hund schläft auf einem roten Sofa"]
DEPTH = {"mclip-xlmr-large-vit-b-32": 24, "mclip-labse-vit-l-14": 12,
         "nllb-clip-base-siglip": 12, "nllb-clip-large-siglip": 24}


def build(name: str, folder: Path, tokenizers: dict[str, Path], dynamic: bool = False) -> Path:
    torch.manual_seed(0)
    out = folder / (name + ("-dynamic" if dynamic else ""))
    if name == "vit-b-32":
        return export_bundle(RANDOM[name](), out, name=name, image_size=224, description="benchmark",
                             licence="MIT", source="benchmark", check=False)
    if name.startswith("nllb"):
        from tokenizers import Tokenizer

        model = NllbClip(name, Tokenizer.from_file(str(tokenizers["nllb"])).get_vocab_size(), DEPTH[name],
                         folder=folder / f"{name}-config", vision_layers=1)  # only the text side is timed
        return export(model.eval(), name, tokenizers["nllb"], out, check=False, dynamic=dynamic)
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tokenizers["xlmr"])).get_vocab_size()
    return export(mclip_model(name, vocab, DEPTH[name], folder=folder / f"{name}-base"), name, tokenizers["xlmr"],
                  out, check=False, dynamic=dynamic)


def measure(folder: Path, threads: int, queries: int) -> tuple[float, float]:
    """(cold: load + first query, s; median per query afterwards, ms)."""
    start = time.perf_counter()
    enc = Encoder(Bundle.load(folder), device="cpu", threads=threads)
    enc.encode_text(QUERIES[0])
    cold = time.perf_counter() - start
    times = []
    for i in range(queries):
        t = time.perf_counter()
        enc.encode_text(QUERIES[i % len(QUERIES)])
        times.append(time.perf_counter() - t)
    return cold, statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--models", default="vit-b-32," + ",".join(DEPTH))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="picfind-bench-ml-") as tmp:
        folder = Path(tmp)
        tokenizers = {"nllb": nllb_like(folder / "nllb.json"), "xlmr": xlmr_like(folder / "xlmr.json")}
        base = None
        print(f"{'text encoder':<28} {'layers':>6} {'ms/query':>9} {'x B/32':>7} {'cold s':>7}   unpadded: "
              f"{'ms/query':>9} {'x B/32':>7} {'cold s':>7}")
        for name in args.models.split(","):
            cold, per_query = measure(build(name, folder, tokenizers), args.threads, args.queries)
            base = base or per_query
            line = f"{name:<28} {DEPTH.get(name, 12):>6} {per_query:>9.1f} {per_query / base:>6.1f}x {cold:>7.2f}"
            if name != "vit-b-32":  # CLIP runs unpadded already; Immich's multilingual graphs take 77 tokens
                cold, per_query = measure(build(name, folder, tokenizers, dynamic=True), args.threads, args.queries)
                line += f"             {per_query:>9.1f} {per_query / base:>6.1f}x {cold:>7.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
