"""Build a picfind model bundle from reference PyTorch weights (CLIP or SigLIP / SigLIP 2), and
check its parity.

For people who have the weights (a transformers CLIPModel or SiglipModel folder); also makes
random-weight models of every registry architecture for speed benchmarks (speed does not
depend on the weights).

    python scripts/convert_clip.py --hf-dir ./clip-vit-base-patch32 --out ./my-bundle
    python scripts/convert_clip.py --random vit-b-32 --out ./vit-b-32-random
    python scripts/convert_clip.py --random siglip2-b16-256 --out ./siglip2-random
    python scripts/convert_clip.py ... --layout immich    # a publisher's tensor names and habits

Layouts are the publishers' graphs: `split` (Xenova / onnx-community, transformers.js: dynamic
batch, CLIP's `*_embeds` or SigLIP's `pooler_output`), `rclip` (input/output, text padded to
the context length) and `immich` (image/text -> embedding, int32 ids, batch fixed at 1, outputs
normalised). After exporting, the ONNX encoders are run through picfind next to the PyTorch
forward on the same inputs, batch and single, and the largest absolute difference is printed;
the script fails above 1e-4.
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
from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from picfind.models.bundle import Bundle, write_manifest  # noqa: E402
from picfind.models.encoder import Encoder  # noqa: E402
from picfind.models.registry import layout_manifest as layout_manifest_of  # noqa: E402

PARITY_LIMIT = 1e-4
LAYOUTS = ("split", "rclip", "immich")
PARITY_TEXTS = ["a photo of a dog", "Two RED circles, on a black background!", "🙂 ünïcode &amp; more",
                "snake_case words and a much longer caption about a sunset over the sea " * 3, "x"]

# Real shapes of the registry's architectures (transformers' defaults are OpenAI's ViT-B/32).
RANDOM = {
    "vit-b-32": lambda: CLIPModel(CLIPConfig()),
    "vit-b-32-laion2b": lambda: CLIPModel(as_openclip(CLIPConfig())),
    "vit-b-32-256": lambda: CLIPModel(as_openclip(CLIPConfig(vision_config={"image_size": 256}))),
    "vit-b-16": lambda: CLIPModel(CLIPConfig(vision_config={"patch_size": 16})),
    "vit-l-14": lambda: CLIPModel(CLIPConfig(
        projection_dim=768,
        text_config={"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
        vision_config={"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
                       "num_hidden_layers": 24, "patch_size": 14})),
    "siglip2-b16-256": lambda: SiglipModel(siglip2_base(16)),
    "siglip2-b32-256": lambda: SiglipModel(siglip2_base(32)),
}


def as_openclip(config: CLIPConfig) -> CLIPConfig:
    """The CLIP that OpenCLIP builds for its LAION-2B and DataComp ViT-B/32 (configs without
    `quickgelu`), as transformers loads laion's published checkpoints (`hidden_act: gelu` in
    laion/CLIP-ViT-B-32-laion2B-s34B-b79K's config.json): exact GELU where OpenAI's CLIP has
    QuickGELU; everything else is the same graph."""
    config.text_config.hidden_act = config.vision_config.hidden_act = "gelu"
    return config


def siglip2_base(patch: int) -> SiglipConfig:
    """SigLIP 2 ViT-B at 256 px: Gemma's 256k vocabulary, 64 tokens, 768 wide, 12 layers."""
    return SiglipConfig(text_config={"vocab_size": 256_000, "max_position_embeddings": 64},
                        vision_config={"image_size": 256, "patch_size": patch})


def is_siglip(model: torch.nn.Module) -> bool:
    return isinstance(model, SiglipModel)


def features(model: torch.nn.Module, kind: str, x: torch.Tensor) -> torch.Tensor:
    """The reference embedding (projected, not normalised) of one tower."""
    out = (model.get_text_features(input_ids=x) if kind == "text"
           else model.get_image_features(pixel_values=x))
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class _Tower(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, kind: str, normalise: bool) -> None:
        super().__init__()
        self.model, self.kind, self.normalise = model, kind, normalise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = features(self.model, self.kind, x.long() if self.kind == "text" else x)
        return torch.nn.functional.normalize(out, dim=-1) if self.normalise else out


def layout_manifest(model: torch.nn.Module, layout: str, image_size: int) -> dict:
    """The manifest entries of an export in one publisher's layout (the registry's own), with
    SigLIP's context length and pad id taken from the model."""
    siglip = is_siglip(model)
    spec = layout_manifest_of(layout, embedding_dim(model), image_size, siglip=siglip)
    if siglip:
        text = model.config.text_config
        spec["tokenizer"].update(context_length=text.max_position_embeddings, pad_to=text.max_position_embeddings,
                                 pad_id=text.pad_token_id)
    return spec


def embedding_dim(model: torch.nn.Module) -> int:
    return model.config.text_config.projection_size if is_siglip(model) else model.config.projection_dim


def export_bundle(model: torch.nn.Module, out: Path, *, name: str, image_size: int,
                  description: str, licence: str, source: str, layout: str = "split",
                  normalised: bool = False, tokenizer: Path | None = None, check: bool = True) -> Path:
    """Write ONNX encoders + manifest into `out` (atomically) and verify parity with `model`.
    SigLIP needs `tokenizer`, the tokenizer.json its vocabulary comes from (copied in)."""
    model = model.eval()
    out = Path(out)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=out.parent if out.parent.exists() else None))
    spec = layout_manifest(model, layout, image_size)
    if tokenizer is not None:
        shutil.copyfile(tokenizer, tmp / "tokenizer.json")
    normalise = normalised or spec["image_encoder"].get("normalised", False)  # Immich's graphs always do
    for tower in ("image_encoder", "text_encoder"):
        spec[tower]["normalised"] = normalise
    fixed_batch = spec["image_encoder"].get("batch_size")
    pad_to = spec["tokenizer"]["pad_to"]
    batch = fixed_batch or 2
    ids = torch.int32 if spec["text_encoder"].get("ids") == "int32" else torch.long
    dummy_text = torch.zeros((batch, pad_to or 16), dtype=ids)
    dummy_text[:, 0], dummy_text[:, 5] = 1, 2  # any ids: CLIP pools the largest, SigLIP the last
    dummy_image = torch.zeros((batch, 3, image_size, image_size))
    batch_axis = {} if fixed_batch else {0: "batch"}
    text_axes = batch_axis if pad_to else {**batch_axis, 1: "sequence"}
    with torch.no_grad():
        for kind, dummy, tower, axes in (("text", dummy_text, spec["text_encoder"], text_axes),
                                         ("image", dummy_image, spec["image_encoder"], batch_axis)):
            torch.onnx.export(_Tower(model, kind, normalise), (dummy,), str(tmp / tower["file"]),
                              input_names=[tower["input"]], output_names=[tower["output"]],
                              dynamic_axes={tower["input"]: axes, tower["output"]: batch_axis},
                              opset_version=17, dynamo=False)
    write_manifest(tmp, {"name": name, "description": description, "licence": licence, "source": source, **spec})
    install(tmp, out, (lambda: parity(model, Bundle.load(tmp))) if check else None)
    print(f"wrote bundle {name!r} ({layout} layout) to {out}")
    return out


def install(tmp: Path, out: Path, check=None) -> Path:  # noqa: ANN001 - check: () -> float, or None
    """Move a written bundle into place, after its parity check (`check()`: the largest difference)
    passes; a failed one is deleted and the script stops."""
    if check is not None:
        diff = check()
        print(f"parity with the reference: max abs difference {diff:.2e}")
        if diff > PARITY_LIMIT:
            shutil.rmtree(tmp)
            raise SystemExit(f"parity check failed: {diff:.2e} > {PARITY_LIMIT}")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def parity(model: torch.nn.Module, bundle: Bundle, seed: int = 0) -> float:
    """Largest |ONNX - PyTorch| over normalised embeddings of random images and varied captions,
    each encoded in one batch and one at a time; picfind's tokenizer makes the ids for both."""
    encoder = Encoder(bundle, device="cpu")
    rng = np.random.default_rng(seed)
    size = bundle.image_size
    pixels = rng.standard_normal((3, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        ref_img = features(model, "image", torch.from_numpy(pixels))
        ids = [torch.from_numpy(encoder.tokenizer.batch([t])) for t in PARITY_TEXTS]
        ref_txt = torch.cat([features(model, "text", i) for i in ids])
    ref_img = torch.nn.functional.normalize(ref_img, dim=-1).numpy()
    ref_txt = torch.nn.functional.normalize(ref_txt, dim=-1).numpy()
    got = [(encoder.encode_images(pixels), ref_img), (encoder.encode_texts(PARITY_TEXTS), ref_txt),
           (np.concatenate([encoder.encode_images(p[None]) for p in pixels]), ref_img),
           (np.concatenate([encoder.encode_texts([t]) for t in PARITY_TEXTS]), ref_txt)]
    return float(max(np.abs(a - b).max() for a, b in got))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--hf-dir", type=Path, help="a transformers CLIPModel or SiglipModel folder")
    src.add_argument("--random", choices=sorted(RANDOM), help="random weights, real shapes")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--name")
    ap.add_argument("--layout", choices=LAYOUTS, default="split")
    ap.add_argument("--normalised", action="store_true", help="normalise inside the graphs")
    ap.add_argument("--tokenizer", type=Path, help="SigLIP: the tokenizer.json to bundle")
    ap.add_argument("--no-check", action="store_true", help="skip the parity check (random benchmark models)")
    args = ap.parse_args()
    if args.random:
        torch.manual_seed(0)
        model = RANDOM[args.random]()
        name = args.name or f"{args.random}-random"
        meta = dict(description=f"{args.random} shapes with RANDOM weights: for speed benchmarks only",
                    licence="MIT", source=f"scripts/convert_clip.py --random {args.random}")
    else:
        config = json.loads((args.hf_dir / "config.json").read_text())
        model = (SiglipModel if config.get("model_type") == "siglip" else CLIPModel).from_pretrained(args.hf_dir)
        name = args.name or args.hf_dir.name
        meta = dict(description=f"converted from {args.hf_dir.name}", licence="see source",
                    source=config.get("_name_or_path", str(args.hf_dir)))
        if args.tokenizer is None and (args.hf_dir / "tokenizer.json").is_file() and is_siglip(model):
            args.tokenizer = args.hf_dir / "tokenizer.json"
    if is_siglip(model) and args.tokenizer is None:
        raise SystemExit("a SigLIP bundle needs --tokenizer TOKENIZER.json (the model's vocabulary)")
    export_bundle(model, args.out, name=name, image_size=model.config.vision_config.image_size,
                  layout=args.layout, normalised=args.normalised, tokenizer=args.tokenizer,
                  check=not args.no_check, **meta)


if __name__ == "__main__":
    main()
