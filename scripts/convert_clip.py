"""Build a picfind model bundle from reference PyTorch CLIP weights, and check its parity.

For people who have the weights (a transformers CLIP folder); also makes `vit-b-32-random`,
ViT-B/32 shapes with random weights, for speed benchmarks (speed does not depend on weights).

    python scripts/convert_clip.py --hf-dir ./clip-vit-base-patch32 --out ./my-bundle
    python scripts/convert_clip.py --random vit-b-32 --out ./vit-b-32-random
    python scripts/convert_clip.py ... --layout rclip     # input/output names, text padded to 77

After exporting, the ONNX encoders are run next to the PyTorch forward on the same inputs and
the largest absolute difference is printed; the script fails above 1e-4.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPConfig, CLIPModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from picfind.bundle import BUILTIN_TOKENIZER, Bundle, write_manifest  # noqa: E402
from picfind.embed import Encoder  # noqa: E402

LAYOUTS = {
    # Hugging Face / Xenova split graphs: named inputs, dynamic text length.
    "split": dict(image_file="vision_model.onnx", image_input="pixel_values",
                  image_output="image_embeds", text_file="text_model.onnx",
                  text_input="input_ids", text_output="text_embeds", fixed_length=None),
    # rclip / open_clip style: plain names, text padded to the context length.
    "rclip": dict(image_file="visual.onnx", image_input="input", image_output="output",
                  text_file="textual.onnx", text_input="input", text_output="output",
                  fixed_length=77),
}
PARITY_LIMIT = 1e-4


class _Tower(torch.nn.Module):
    def __init__(self, model: CLIPModel, kind: str, normalise: bool) -> None:
        super().__init__()
        self.model, self.kind, self.normalise = model, kind, normalise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "text":
            out = self.model.get_text_features(input_ids=x).pooler_output
        else:
            out = self.model.get_image_features(pixel_values=x).pooler_output
        return torch.nn.functional.normalize(out, dim=-1) if self.normalise else out


def export_bundle(model: CLIPModel, out: Path, *, name: str, image_size: int,
                  description: str, licence: str, source: str, layout: str = "split",
                  normalised: bool = False) -> Path:
    """Write ONNX encoders + manifest into `out` (atomically) and verify parity with `model`."""
    spec = LAYOUTS[layout]
    model = model.eval()
    out = Path(out)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=out.parent if out.parent.exists() else None))
    length = spec["fixed_length"] or 16
    dummy_text = torch.zeros((2, length), dtype=torch.long)
    dummy_text[:, 0], dummy_text[:, 5] = 49406, 49407
    dummy_image = torch.zeros((2, 3, image_size, image_size))
    text_axes = {0: "batch"} if spec["fixed_length"] else {0: "batch", 1: "sequence"}
    with torch.no_grad():
        for kind, dummy, file, inp, outp, axes in (
            ("text", dummy_text, spec["text_file"], spec["text_input"], spec["text_output"], text_axes),
            ("image", dummy_image, spec["image_file"], spec["image_input"], spec["image_output"],
             {0: "batch"}),
        ):
            torch.onnx.export(_Tower(model, kind, normalised), (dummy,), str(tmp / file),
                              input_names=[inp], output_names=[outp],
                              dynamic_axes={inp: axes, outp: {0: "batch"}},
                              opset_version=17, dynamo=False)
    write_manifest(tmp, {
        "name": name,
        "description": description,
        "licence": licence,
        "source": source,
        "embedding_dim": model.config.projection_dim,
        "image_size": image_size,
        "context_length": 77,
        "image_encoder": {"file": spec["image_file"], "input": spec["image_input"],
                          "output": spec["image_output"], "normalised": normalised},
        "text_encoder": {"file": spec["text_file"], "input": spec["text_input"],
                         "output": spec["text_output"], "normalised": normalised,
                         "fixed_length": spec["fixed_length"], "pad_id": 0},
        "tokenizer": BUILTIN_TOKENIZER,
    })
    diff = parity(model, Bundle.load(tmp))
    print(f"parity with PyTorch: max abs difference {diff:.2e}")
    if diff > PARITY_LIMIT:
        shutil.rmtree(tmp)
        raise SystemExit(f"parity check failed: {diff:.2e} > {PARITY_LIMIT}")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    print(f"wrote bundle {name!r} ({layout} layout) to {out}")
    return out


def parity(model: CLIPModel, bundle: Bundle, seed: int = 0) -> float:
    """Largest |ONNX - PyTorch| over normalised embeddings of random images and real captions."""
    encoder = Encoder(bundle, device="cpu")
    rng = np.random.default_rng(seed)
    size = bundle.image_size
    pixels = rng.standard_normal((3, 3, size, size)).astype(np.float32)
    texts = ["a photo of a dog", "two red circles on a black background", "🙂 ünïcode &amp; more"]
    with torch.no_grad():
        ref_img = model.get_image_features(pixel_values=torch.from_numpy(pixels)).pooler_output
        ids = [torch.tensor([encoder.tokenizer.ids(t)]) for t in texts]
        ref_txt = torch.cat([model.get_text_features(input_ids=i).pooler_output for i in ids])
    ref_img = torch.nn.functional.normalize(ref_img, dim=-1).numpy()
    ref_txt = torch.nn.functional.normalize(ref_txt, dim=-1).numpy()
    got_img = encoder.encode_images(pixels)
    got_txt = encoder.encode_texts(texts)
    return float(max(np.abs(got_img - ref_img).max(), np.abs(got_txt - ref_txt).max()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--hf-dir", type=Path, help="a transformers CLIPModel folder")
    src.add_argument("--random", choices=["vit-b-32"], help="random weights, real shapes")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--name")
    ap.add_argument("--layout", choices=sorted(LAYOUTS), default="split")
    ap.add_argument("--normalised", action="store_true", help="normalise inside the graphs")
    args = ap.parse_args()
    if args.random:
        torch.manual_seed(0)
        model = CLIPModel(CLIPConfig())  # transformers' defaults are ViT-B/32's shapes
        name = args.name or "vit-b-32-random"
        meta = dict(description="ViT-B/32 shapes with RANDOM weights: for speed benchmarks only",
                    licence="MIT", source="scripts/convert_clip.py --random vit-b-32")
    else:
        model = CLIPModel.from_pretrained(args.hf_dir)
        name = args.name or args.hf_dir.name
        cfg_file = args.hf_dir / "config.json"
        meta = dict(description=f"converted from {args.hf_dir.name}", licence="see source",
                    source=json.loads(cfg_file.read_text()).get("_name_or_path", str(args.hf_dir)))
    export_bundle(model, args.out, name=name, image_size=model.config.vision_config.image_size,
                  layout=args.layout, normalised=args.normalised, **meta)


if __name__ == "__main__":
    main()
