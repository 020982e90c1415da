"""Multilingual models in Immich's graph layout, from their reference implementations, with a
parity check: NLLB-CLIP (open_clip's `nllb-clip-*-siglip`: a SigLIP image tower and NLLB-200's
encoder through open_clip's own HFTextEncoder) and Multilingual-CLIP text encoders
(`multilingual_clip.pt_multilingual_clip.MultilingualCLIP`, paired with a CLIP image model).

    python scripts/convert_multilingual.py --random nllb-clip-base-siglip --tokenizer TOK.json --out DIR
    python scripts/convert_multilingual.py --random mclip-xlmr-large-vit-b-32 --tokenizer TOK.json --out DIR

`--random` builds the real widths with random weights (`--layers` of them: the speed benchmark
and the tests); the token table is the size of the tokenizer given. open_clip is imported without
its package's __init__ (which needs torchvision, see tests/test_families.py): its `hf_model` and
`hf_configs` modules are loaded as they are, from the installed wheel.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_clip import install  # noqa: E402

from picfind.models.bundle import Bundle, write_manifest  # noqa: E402
from picfind.models.encoder import Encoder  # noqa: E402
from picfind.models.registry import REGISTRY, mclip_manifest  # noqa: E402

PARITY_QUERIES = {  # FLORES-200 code: a query, as a person would type it
    "deu_Latn": "ein Hund schläft auf einem roten Sofa", "rus_Cyrl": "собака на пляже на закате",
    "zho_Hans": "海滩上的两只猫", "jpn_Jpan": "浜辺の犬と子供", "hin_Deva": "समुद्र तट पर कुत्ता",
    "arb_Arab": "كلب على الشاطئ عند الغروب", "eng_Latn": "Two RED  circles, on a black background!",
}

# Real widths (NLLB-200 600M / 1.3B encoders, SigLIP B/16-384 / So400m/14-384; XLM-R Large, LaBSE).
NLLB = {
    "nllb-clip-base-siglip": dict(d_model=1024, ffn=4096, embed=768,
                                  vision=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                              patch_size=16)),
    "nllb-clip-large-siglip": dict(d_model=1024, ffn=8192, embed=1152,
                                   vision=dict(hidden_size=1152, intermediate_size=4304, num_attention_heads=16,
                                               patch_size=14)),
}
MCLIP = {  # name: (transformer, width, heads, ffn, output)
    "mclip-xlmr-large-vit-b-32": ("xlm-roberta", 1024, 16, 4096, 512),
    "mclip-xlmr-large-vit-b-16plus": ("xlm-roberta", 1024, 16, 4096, 640),
    "mclip-labse-vit-l-14": ("bert", 768, 12, 3072, 768),
}


def openclip_module(name: str) -> types.ModuleType:
    """open_clip.<name> from the installed wheel, without running open_clip/__init__.py."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("open_clip_torch (the reference) is not installed: run `make test`")
    if "open_clip_reference" not in sys.modules:
        package = types.ModuleType("open_clip_reference")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["open_clip_reference"] = package
    return importlib.import_module(f"open_clip_reference.{name}")


class NllbClip(torch.nn.Module):
    """NLLB-CLIP as open_clip builds it: `HFTextEncoder(cls_pooler, linear)` over NLLB's encoder and a
    SigLIP ViT with attention-pool head and no projection (`timm_proj: none`, width = embed_dim)."""

    def __init__(self, name: str, vocab_size: int, layers: int = 1, folder: Path | None = None,
                 vision_layers: int | None = None) -> None:
        from transformers import M2M100Config, SiglipVisionConfig, SiglipVisionModel

        super().__init__()
        shape = NLLB[name]
        config = M2M100Config(vocab_size=vocab_size, d_model=shape["d_model"], encoder_layers=layers,
                              decoder_layers=1, encoder_attention_heads=16, decoder_attention_heads=16,
                              encoder_ffn_dim=shape["ffn"], decoder_ffn_dim=shape["ffn"], max_position_embeddings=1024,
                              scale_embedding=True, pad_token_id=1, bos_token_id=0, eos_token_id=2)
        folder = Path(folder or tempfile.mkdtemp(prefix="nllb-config-"))
        config.save_pretrained(folder)  # open_clip reads its text tower's config by name or folder
        hf = openclip_module("hf_model")
        self.text = hf.HFTextEncoder(str(folder), output_dim=shape["embed"], pooler_type="cls_pooler",
                                     proj_type="linear", pretrained=False)
        self.visual = SiglipVisionModel(SiglipVisionConfig(image_size=384, num_hidden_layers=vision_layers or layers,
                                                           **shape["vision"]))
        self.image_size, self.embed = 384, shape["embed"]

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.text(ids.long()), dim=-1)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.visual(pixel_values=pixels).pooler_output, dim=-1)


def mclip_model(name: str, vocab_size: int, layers: int = 1, folder: Path | None = None) -> torch.nn.Module:
    """A MultilingualCLIP (the reference class itself) over a random transformer of the real widths,
    saved in `folder` so that its `AutoModel.from_pretrained(config.modelBase)` finds it offline."""
    import transformers
    from multilingual_clip.Config_MCLIP import MCLIPConfig
    from multilingual_clip.pt_multilingual_clip import MultilingualCLIP

    kind, width, heads, ffn, out = MCLIP[name]
    folder = Path(folder or tempfile.mkdtemp(prefix="mclip-base-"))
    make = transformers.XLMRobertaConfig if kind == "xlm-roberta" else transformers.BertConfig
    base = make(vocab_size=vocab_size, hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads,
                intermediate_size=ffn, max_position_embeddings=514 if kind == "xlm-roberta" else 512,
                pad_token_id=1 if kind == "xlm-roberta" else 0, type_vocab_size=1 if kind == "xlm-roberta" else 2)
    transformers.AutoModel.from_config(base).save_pretrained(folder)
    return MultilingualCLIP(MCLIPConfig(modelBase=str(folder), transformerDimSize=width, imageDimSize=out)).eval()


class _Graph(torch.nn.Module):
    def __init__(self, fn) -> None:  # noqa: ANN001 - a bound encode method
        super().__init__()
        self.fn = fn

    def forward(self, *x: torch.Tensor) -> torch.Tensor:
        return self.fn(*x)


def _mclip_forward(model: torch.nn.Module):  # noqa: ANN202
    """Immich's export of MultilingualCLIP.forward: the mean over real tokens, projected, normalised."""
    def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ids, mask = ids.long(), mask.long()
        embs = model.transformer(input_ids=ids, attention_mask=mask)[0]
        embs = (embs * mask.unsqueeze(2)).sum(dim=1) / mask.sum(dim=1)[:, None]
        return torch.nn.functional.normalize(model.LinearTransformation(embs), dim=-1)
    return forward


def export(model: torch.nn.Module, name: str, tokenizer: Path, out: Path, check: bool = True,
           dynamic: bool = False) -> Path:
    """Write the bundle of `name` (the registry's manifest, Immich's graphs) into `out`. `dynamic`:
    text graphs of any length, run unpadded (the pooling reads only real tokens, so the vectors are
    the same): what an export of one's own may do where Immich's fixes 77 tokens."""
    entry = REGISTRY[name]
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=out.parent if out.parent.exists() else None))
    shutil.copyfile(tokenizer, tmp / "tokenizer.json")
    manifest = entry.bundle_manifest("scripts/convert_multilingual.py (random weights)")
    ids = torch.ones((1, 77), dtype=torch.int32)
    axes = {1: "sequence"} if dynamic else {}
    for p in model.parameters():  # the graphs hold the weights as constants (Immich's export does the same)
        p.requires_grad_(False)
    with torch.no_grad():
        if isinstance(model, NllbClip):
            torch.onnx.export(_Graph(model.encode_image), (torch.zeros((1, 3, 384, 384)),), str(tmp / "visual.onnx"),
                              input_names=["image"], output_names=["embedding"], opset_version=17, dynamo=False)
            torch.onnx.export(_Graph(model.encode_text), (ids,), str(tmp / "textual.onnx"), input_names=["text"],
                              output_names=["embedding"], dynamic_axes={"text": axes}, opset_version=17, dynamo=False)
        else:
            manifest.update(mclip_manifest(model.LinearTransformation.out_features))
            manifest["tokenizer"]["pad_id"] = entry.manifest["tokenizer"]["pad_id"]
            torch.onnx.export(_Graph(_mclip_forward(model)), (ids, ids), str(tmp / "textual.onnx"),
                              input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                              dynamic_axes={"input_ids": axes, "attention_mask": axes}, opset_version=17, dynamo=False)
    if dynamic:
        manifest["tokenizer"]["pad_to"] = None
    write_manifest(tmp, {k: v for k, v in manifest.items() if k not in ("format", "files")})
    return install(tmp, out, (lambda: parity(model, Bundle.load(tmp), tokenizer)) if check else None)


def reference_texts(model: torch.nn.Module, tokenizer: Path, queries: dict[str, str]) -> np.ndarray:
    """Unit vectors of the queries as the reference pipeline makes them: open_clip's HFTokenizer
    (told each query's language) and model for NLLB-CLIP; MultilingualCLIP.forward with the
    transformer's own tokenizer for Multilingual-CLIP."""
    from transformers import NllbTokenizer, PreTrainedTokenizerFast

    rows = []
    with torch.no_grad():
        if isinstance(model, NllbClip):
            ref = openclip_module("tokenizer").HFTokenizer.__new__(openclip_module("tokenizer").HFTokenizer)
            for language, text in queries.items():
                hf = NllbTokenizer(tokenizer_file=str(tokenizer), src_lang=language)
                _as_openclip_tokenizer(ref, hf)
                ref.set_language(language)
                rows.append(model.encode_text(ref([text])))
        else:
            hf = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer))  # XLM-R's or LaBSE's, as AutoTokenizer loads it
            hf.pad_token = "[PAD]" if "[PAD]" in hf.get_vocab() else "<pad>"
            for text in queries.values():
                rows.append(torch.nn.functional.normalize(model(text, hf), dim=-1))
    return torch.cat(rows).numpy()


def _as_openclip_tokenizer(ref, hf) -> None:  # noqa: ANN001
    """open_clip's HFTokenizer as `get_tokenizer("nllb-clip-base-siglip")` makes it (context 77,
    clean 'whitespace'), holding a tokenizer built from a file instead of one named on the hub."""
    tok = openclip_module("tokenizer")
    ref.tokenizer_mode, ref.context_length, ref.strip_sep_token = "", 77, False
    ref.clean_fn = tok.get_clean_fn("whitespace")
    ref.tokenizer, ref.set_lang_fn = hf, hf.set_src_lang_special_tokens


def parity(model: torch.nn.Module, bundle: Bundle, tokenizer: Path, seed: int = 0) -> float:
    """Largest |ONNX - reference| over the queries' and (NLLB-CLIP) random images' unit vectors."""
    encoder = Encoder(bundle, device="cpu")
    expected = reference_texts(model, tokenizer, PARITY_QUERIES)
    got = np.stack([encoder.encode_text(t, lang) for lang, t in PARITY_QUERIES.items()])
    worst = float(np.abs(got - expected).max())
    if isinstance(model, NllbClip):
        pixels = np.random.default_rng(seed).standard_normal((2, 3, 384, 384)).astype(np.float32)
        with torch.no_grad():
            ref = model.encode_image(torch.from_numpy(pixels)).numpy()
        worst = max(worst, float(np.abs(encoder.encode_images(pixels) - ref).max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--random", required=True, choices=[*NLLB, *MCLIP])
    ap.add_argument("--tokenizer", type=Path, required=True, help="the tokenizer.json (its size sets the token table)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--layers", type=int, default=1, help="transformer layers (the real models: 12 to 27)")
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(args.tokenizer)).get_vocab_size()
    torch.manual_seed(0)
    model = NllbClip(args.random, vocab, args.layers) if args.random in NLLB else \
        mclip_model(args.random, vocab, args.layers)
    export(model.eval(), args.random, args.tokenizer, args.out, check=not args.no_check)
    print(f"wrote {args.random} (random weights, {args.layers} layers) to {args.out}")


if __name__ == "__main__":
    main()
