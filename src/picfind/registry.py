"""The models picfind knows: each publisher's files, licence, quality and graph layout.

An entry names the files as its publisher lays them out on the public model hub and the
manifest a bundle made of them gets (format 2, see `picfind.bundle`). The layout helpers here
are the one definition of each publisher's graphs (Xenova / onnx-community, rclip, Immich);
scripts/convert_clip.py exports random-weight models with them for the parity tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .bundle import BUILTIN_TOKENIZER, CLIP_MEAN, CLIP_STD

DEFAULT_MODEL = "vit-b-32-datacomp"  # chosen by the rule in README, Models


@dataclass(frozen=True)
class RemoteFile:
    path: str  # path inside the hub repository
    local: str  # file name inside the bundle
    size: int  # bytes (approximate where marked in the registry notes)
    sha256: str | None = None  # as published; None: pinned on first download


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    description: str
    licence: str
    repo: str
    revision: str
    files: tuple[RemoteFile, ...]
    manifest: dict = field(default_factory=dict)

    def url(self, f: RemoteFile, hub: str) -> str:
        return f"{hub.rstrip('/')}/{self.repo}/resolve/{self.revision}/{f.path}"

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def bundle_manifest(self, source: str) -> dict:
        """The manifest of a bundle made from this entry's files (hashes added on writing)."""
        return {"name": self.name, "description": self.description, "licence": self.licence,
                "source": source, **self.manifest}


SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)


def _manifest(dim: int, size: int, image: dict, text: dict, tokenizer: dict | None = None,
              siglip: bool = False) -> dict:
    """A format-2 manifest: CLIP's pipeline (BPE, 77 tokens, shortest side + crop, CLIP mean/std)
    or SigLIP's (a tokenizer.json, 64 tokens padded, canonicalised text, squash, mean = std = 0.5)."""
    if siglip:
        tok = {"file": "tokenizer.json", "context_length": 64, "pad_to": 64, "pad_id": 0, "clean": "canonicalize"}
        pre = {"size": size, "resize": "squash", "interpolation": "bicubic",
               "mean": list(SIGLIP_MEAN), "std": list(SIGLIP_STD)}
    else:
        tok = {"file": BUILTIN_TOKENIZER, "context_length": 77, "pad_to": None, "pad_id": 0, "clean": "clip"}
        pre = {"size": size, "resize": "shortest", "interpolation": "bicubic",
               "mean": list(CLIP_MEAN), "std": list(CLIP_STD)}
    return {"embedding_dim": dim, "image_encoder": image, "text_encoder": text,
            "tokenizer": {**tok, **(tokenizer or {})}, "preprocess": pre}


def _split_layout(dim: int, size: int, vision: str, text: str, siglip: bool = False) -> dict:
    """Hugging Face / transformers.js split graphs (Xenova, onnx-community): dynamic batch."""
    image_out, text_out = ("pooler_output", "pooler_output") if siglip else ("image_embeds", "text_embeds")
    return _manifest(dim, size, {"file": vision, "input": "pixel_values", "output": image_out},
                     {"file": text, "input": "input_ids", "output": text_out}, siglip=siglip)


def _immich_layout(dim: int, size: int, siglip: bool = False) -> dict:
    """Immich's exports: `visual/model.onnx` + `textual/model.onnx`, one item per call, int32 ids
    padded to the context length, outputs already normalised."""
    tower = {"input": "image", "output": "embedding", "normalised": True, "batch_size": 1}
    return _manifest(dim, size, {"file": "visual.onnx", **tower},
                     {"file": "textual.onnx", **tower, "input": "text", "ids": "int32"},
                     None if siglip else {"pad_to": 77}, siglip=siglip)


def _xenova(name: str, description: str, repo: str, revision: str, dim: int, quantized: bool = False,
            sizes: tuple[int, int] = (0, 0), hashes: tuple[str | None, str | None] = (None, None)) -> RegistryEntry:
    suffix = "_quantized" if quantized else ""
    files = tuple(RemoteFile(f"onnx/{tower}_model{suffix}.onnx", f"{tower}_model{suffix}.onnx", size, sha)
                  for tower, size, sha in zip(("vision", "text"), sizes, hashes))
    return RegistryEntry(name, description, "MIT", repo, revision, files,
                         _split_layout(dim, 224, files[0].local, files[1].local))


def _onnx_community(name: str, description: str, repo: str, dim: int, size: int, quantized: bool,
                    sizes: tuple[int, int], tokenizer_size: int = 34_400_000) -> RegistryEntry:
    """A SigLIP repository in the transformers.js layout: `onnx/…` graphs and `tokenizer.json`."""
    suffix = "_quantized" if quantized else ""
    files = (RemoteFile(f"onnx/vision_model{suffix}.onnx", f"vision_model{suffix}.onnx", sizes[0]),
             RemoteFile(f"onnx/text_model{suffix}.onnx", f"text_model{suffix}.onnx", sizes[1]),
             RemoteFile("tokenizer.json", "tokenizer.json", tokenizer_size))
    return RegistryEntry(name, description, "Apache-2.0", repo, "main", files,
                         _split_layout(dim, size, files[0].local, files[1].local, siglip=True))


def _rclip_layout(dim: int, size: int, siglip: bool = False) -> dict:
    """rclip's OpenCLIP exports: `visual.onnx` + `textual.onnx`, input -> output, text padded to
    the context length, outputs not normalised."""
    return _manifest(dim, size, {"file": "visual.onnx", "input": "input", "output": "output"},
                     {"file": "textual.onnx", "input": "input", "output": "output"},
                     None if siglip else {"pad_to": 77}, siglip=siglip)


def layout_manifest(layout: str, dim: int, size: int, siglip: bool = False) -> dict:
    """The manifest (less name, source and hashes) of graphs in one publisher's layout: `split`
    (Xenova, onnx-community), `rclip` or `immich`; scripts/convert_clip.py exports each."""
    if layout == "split":
        return _split_layout(dim, size, "vision_model.onnx", "text_model.onnx", siglip=siglip)
    return (_immich_layout if layout == "immich" else _rclip_layout)(dim, size, siglip=siglip)


def _rclip(name: str, description: str, folder: str, dim: int, size: int, sizes: tuple[int, int]) -> RegistryEntry:
    files = (RemoteFile(f"{folder}/visual.onnx", "visual.onnx", sizes[0]),
             RemoteFile(f"{folder}/textual.onnx", "textual.onnx", sizes[1]))
    return RegistryEntry(name, description, "MIT", "yurijmikhalevich/rclip-models", "main", files,
                         _rclip_layout(dim, size))


def _immich(name: str, description: str, licence: str, repo: str, dim: int, size: int, sizes: tuple[int, int],
            siglip: bool = False) -> RegistryEntry:
    files = [RemoteFile("visual/model.onnx", "visual.onnx", sizes[0]),
             RemoteFile("textual/model.onnx", "textual.onnx", sizes[1])]
    if siglip:
        files.append(RemoteFile("textual/tokenizer.json", "tokenizer.json", 34_400_000))
    return RegistryEntry(name, description, licence, repo, "main", tuple(files),
                         _immich_layout(dim, size, siglip=siglip))


SIGLIP2_B16 = "onnx-community/siglip2-base-patch16-256-ONNX"
XENOVA_B32 = ("Xenova/clip-vit-base-patch32", "4c1807b705b1d015fb032789cc4d221b23025a6f")
REGISTRY: dict[str, RegistryEntry] = {e.name: e for e in (
    _xenova("vit-b-32", "OpenAI CLIP ViT-B/32 (2021): MS-COCO text->image R@1 30.4", *XENOVA_B32, 512,
            sizes=(352_000_000, 254_000_000),
            hashes=("fd6e1402a588279d1723c7534d4bcba5bc0b14b47dfab0e46f8c47b8270d7d40", None)),
    _xenova("vit-b-32-fp16", "OpenAI CLIP ViT-B/32, half-size fp16 files (same quality, GPU-friendly)",
            *XENOVA_B32, 512, sizes=(176_000_000, 127_000_000),
            hashes=("35c4e0fb0aeee527dcde1693520b214a34424a786babd530f35366bad5844efd",
                    "df587ffbf248bf20d44fa6e16adc5ebc27ead691860e5333dbdaab5fd6bf3f6e")),
    _xenova("vit-b-32-int8", "OpenAI CLIP ViT-B/32, Xenova's int8 files: quarter size, faster on CPUs with VNNI",
            *XENOVA_B32, 512, quantized=True, sizes=(89_000_000, 64_500_000),
            hashes=(None, "73baab855d406190da9faa498cfedf65f15cf309f4cc7385b7b032e6d08e5c3a")),
    _xenova("vit-b-16", "OpenAI CLIP ViT-B/16: R@1 33.1, about 4x slower to index than B/32",
            "Xenova/clip-vit-base-patch16", "main", 512, sizes=(345_000_000, 254_000_000)),
    _xenova("vit-l-14", "OpenAI CLIP ViT-L/14, 768-d: R@1 36.5; about 22x B/32's CPU cost (for a GPU)",
            "Xenova/clip-vit-large-patch14", "main", 768, sizes=(1_220_000_000, 495_000_000)),
    _xenova("vit-l-14-int8", "OpenAI CLIP ViT-L/14, Xenova's int8 files", "Xenova/clip-vit-large-patch14", "main",
            768, quantized=True, sizes=(307_000_000, 125_000_000)),
    _rclip("vit-b-32-datacomp",
           "OpenCLIP ViT-B/32-256 DataComp (the default): R@1 39.9 at 1.4x B/32's CPU cost (rclip's export)",
           "ViT-B-32-256-datacomp_s34b_b86k", 512, 256, (352_000_000, 254_000_000)),
    _immich("vit-b-32-laion2b",
            "OpenCLIP ViT-B/32 LAION-2B: R@1 39.3 at B/32's cost (Immich's export, one image per call)", "MIT",
            "immich-app/ViT-B-32__laion2b-s34b-b79k", 512, 224, (352_000_000, 254_000_000)),
    _onnx_community("siglip2-b16-256", "Google SigLIP 2 ViT-B/16-256, multilingual: R@1 53.2, about 7x B/32's CPU cost",
                    SIGLIP2_B16,
                    768, 256, False, (372_000_000, 1_130_000_000)),
    _onnx_community("siglip2-b16-256-int8",
                    "Google SigLIP 2 ViT-B/16-256, onnx-community's int8 files: about 3.5x B/32's CPU cost",
                    SIGLIP2_B16,
                    768, 256, True, (100_000_000, 290_000_000)),
    _immich("siglip2-b32-256", "Google SigLIP 2 ViT-B/32-256, multilingual: R@1 47.2 at 1.2-1.4x B/32's CPU cost "
            "(Immich's export, one image per call)",
            "Apache-2.0", "immich-app/ViT-B-32-SigLIP2-256__webli", 768, 256, (350_000_000, 1_130_000_000),
            siglip=True),
)}
