"""The models picfind knows: each publisher's files, licence, quality and graph layout.

An entry names the files as its publisher lays them out on the public model hub and the
manifest a bundle made of them gets (format 2, see `picfind.models.bundle`). The layout helpers here
are the one definition of each publisher's graphs (Xenova / onnx-community, rclip, Immich);
scripts/convert_clip.py exports random-weight models with them for the parity tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from picfind.models.constants import BUILTIN_TOKENIZER, CLIP_MEAN, CLIP_STD

DEFAULT_MODEL = "vit-b-32-datacomp"  # chosen by the rule in docs/models.md


@dataclass(frozen=True)
class RemoteFile:
    path: str  # path inside the hub repository
    local: str  # file name inside the bundle
    size: int  # bytes: exact where the sha256 is known, else the size the hub's page rounds to
    sha256: str | None = None  # as published; None: recorded on first download, checked ever after


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    description: str
    licence: str
    repo: str
    revision: str  # a full commit wherever one was confirmed: its files can never change
    files: tuple[RemoteFile, ...]
    manifest: dict = field(default_factory=dict)
    languages: str = "en"  # what its text side reads: "en", or "N languages" (docs/multilingual.md)
    pairs_with: tuple[str, ...] = ()  # a text encoder alone: the image models whose space it was trained into

    def url(self, f: RemoteFile, hub: str) -> str:
        return f"{hub.rstrip('/')}/{self.repo}/resolve/{self.revision}/{f.path}"

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def bundle_manifest(self, source: str) -> dict:
        """The manifest of a bundle made from this entry's files (hashes added on writing)."""
        kind = {"kind": "text", "pairs_with": list(self.pairs_with)} if self.pairs_with else {}
        return {"name": self.name, "description": self.description, "licence": self.licence,
                "source": source, "languages": self.languages, **kind, **self.manifest}


SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)


def _manifest(dim: int, size: int, image: dict, text: dict, tokenizer: dict | None = None,
              siglip: bool = False, interpolation: str = "bicubic", crop: str = "floor") -> dict:
    """A format-2 manifest: CLIP's pipeline (BPE, 77 tokens, shortest side + crop, CLIP mean/std)
    or SigLIP's (a tokenizer.json, 64 tokens padded, canonicalised text, squash, mean = std = 0.5)."""
    if siglip:
        tok = {"file": "tokenizer.json", "context_length": 64, "pad_to": 64, "pad_id": 0, "clean": "canonicalize"}
        pre = {"size": size, "resize": "squash", "interpolation": interpolation,
               "mean": list(SIGLIP_MEAN), "std": list(SIGLIP_STD)}
    else:
        tok = {"file": BUILTIN_TOKENIZER, "context_length": 77, "pad_to": None, "pad_id": 0, "clean": "clip"}
        pre = {"size": size, "resize": "shortest", "interpolation": interpolation, "crop": crop,
               "mean": list(CLIP_MEAN), "std": list(CLIP_STD)}
    return {"embedding_dim": dim, "image_encoder": image, "text_encoder": text,
            "tokenizer": {**tok, **(tokenizer or {})}, "preprocess": pre}


def _split_layout(dim: int, size: int, vision: str, text: str, siglip: bool = False) -> dict:
    """Hugging Face / transformers.js split graphs (Xenova, onnx-community): dynamic batch, no
    attention-mask input. Their reference is transformers' image processor: CLIP's floors an odd
    crop margin; SigLIP 2's `preprocessor_config.json` says `resample: 2`, bilinear."""
    image_out, text_out = ("pooler_output", "pooler_output") if siglip else ("image_embeds", "text_embeds")
    return _manifest(dim, size, {"file": vision, "input": "pixel_values", "output": image_out},
                     {"file": text, "input": "input_ids", "output": text_out}, siglip=siglip,
                     interpolation="bilinear" if siglip else "bicubic")


def _immich_layout(dim: int, size: int, siglip: bool = False) -> dict:
    """Immich's exports: `visual/model.onnx` + `textual/model.onnx`, one item per call, int32 ids
    padded to the context length, outputs already normalised. Made with OpenCLIP, whose pipeline
    (`visual/preprocess_cfg.json`: bicubic; SigLIP squashes) is the reference: torchvision's
    centre crop rounds an odd margin half to even."""
    tower = {"input": "image", "output": "embedding", "normalised": True, "batch_size": 1}
    return _manifest(dim, size, {"file": "visual.onnx", **tower},
                     {"file": "textual.onnx", **tower, "input": "text", "ids": "int32"},
                     None if siglip else {"pad_to": 77}, siglip=siglip, crop="round")


def _rclip_layout(dim: int, size: int, siglip: bool = False) -> dict:
    """rclip's OpenCLIP exports: `visual.onnx` + `textual.onnx`, input -> output, text padded to
    the context length, outputs not normalised; OpenCLIP's pipeline (torchvision's crop)."""
    return _manifest(dim, size, {"file": "visual.onnx", "input": "input", "output": "output"},
                     {"file": "textual.onnx", "input": "input", "output": "output"},
                     None if siglip else {"pad_to": 77}, siglip=siglip, crop="round")


def layout_manifest(layout: str, dim: int, size: int, siglip: bool = False) -> dict:
    """The manifest (less name, source and hashes) of graphs in one publisher's layout: `split`
    (Xenova, onnx-community), `rclip` or `immich`; scripts/convert_clip.py exports each."""
    if layout == "split":
        return _split_layout(dim, size, "vision_model.onnx", "text_model.onnx", siglip=siglip)
    return (_immich_layout if layout == "immich" else _rclip_layout)(dim, size, siglip=siglip)


Pin = tuple[int, str | None]  # (bytes, sha256 or None)


def _xenova(name: str, description: str, repo: str, revision: str, dim: int, pins: tuple[Pin, Pin],
            variant: str = "") -> RegistryEntry:
    files = tuple(RemoteFile(f"onnx/{tower}_model{variant}.onnx", f"{tower}_model{variant}.onnx", size, sha)
                  for tower, (size, sha) in zip(("vision", "text"), pins))
    return RegistryEntry(name, description, "MIT", repo, revision, files,
                         _split_layout(dim, 224, files[0].local, files[1].local))


def _onnx_community(name: str, description: str, repo: str, revision: str, dim: int, size: int,
                    pins: tuple[Pin, Pin, Pin], variant: str = "") -> RegistryEntry:
    """A SigLIP repository in the transformers.js layout: `onnx/…` graphs and `tokenizer.json`."""
    paths = (f"onnx/vision_model{variant}.onnx", f"onnx/text_model{variant}.onnx", "tokenizer.json")
    files = tuple(RemoteFile(path, path.rsplit("/", 1)[-1], n, sha) for path, (n, sha) in zip(paths, pins))
    return RegistryEntry(name, description, "Apache-2.0", repo, revision, files,
                         _split_layout(dim, size, files[0].local, files[1].local, siglip=True))


def _rclip(name: str, description: str, folder: str, dim: int, size: int, pins: tuple[Pin, Pin]) -> RegistryEntry:
    """rclip's repository squashes its history on every upload, so no commit lasts: the branch and
    the sha256 of each file pin it."""
    files = tuple(RemoteFile(f"{folder}/{tower}.onnx", f"{tower}.onnx", n, sha)
                  for tower, (n, sha) in zip(("visual", "textual"), pins))
    return RegistryEntry(name, description, "MIT", "yurijmikhalevich/rclip-models", "main", files,
                         _rclip_layout(dim, size))


def _immich(name: str, description: str, licence: str, repo: str, revision: str, dim: int, size: int,
            pins: tuple[Pin, ...], siglip: bool = False) -> RegistryEntry:
    paths = [("visual/model.onnx", "visual.onnx"), ("textual/model.onnx", "textual.onnx")]
    if siglip:
        paths.append(("textual/tokenizer.json", "tokenizer.json"))
    files = tuple(RemoteFile(path, local, n, sha) for (path, local), (n, sha) in zip(paths, pins))
    return RegistryEntry(name, description, licence, repo, revision, files, _immich_layout(dim, size, siglip=siglip))


# Revisions and hashes, and where each was confirmed (README, Models: "Sources, pinned").
# Xenova ViT-B/32: its own pages (tree and blob pages at 4c1807b7, "Git LFS Details: SHA256").
XENOVA_B32 = ("Xenova/clip-vit-base-patch32", "4c1807b705b1d015fb032789cc4d221b23025a6f")
# Xenova ViT-L/14: the commit and vision hash as several public projects pin them, the text hash as one does.
XENOVA_L14 = ("Xenova/clip-vit-large-patch14", "c307790166907339eed5a9a53a249af534102536")
# onnx-community SigLIP 2 B/16-256: its tree page shows head d111425 (3 commits); the full commit and the LFS
# sha256 of each file as public projects pin them from the hub's API (tokenizer.json's by five of them).
SIGLIP2_B16 = ("onnx-community/siglip2-base-patch16-256-ONNX", "d1114256522a37ffa257a0a58017348ab0058db2")
# Immich: commits and hashes as public projects that download these exports pin them. rclip: the sha256
# of both files as projects pin them at two different commits of its squashed history (the files did not change).
IMMICH_LAION2B = ("immich-app/ViT-B-32__laion2b-s34b-b79k", "19a057a0fb927cf239541300e74237cd56c7ffe2")
IMMICH_SIGLIP2_B32 = ("immich-app/ViT-B-32-SigLIP2-256__webli", "762c736d366fc253e9453021144f9fe71789b075")
SIGLIP2_TOKENIZER = (34_363_039, "cb9140fae3ac5122c972d37adf83e1248471a38147ad76f8215c8872c6fd8322")

MULTILINGUAL_SIGLIP2 = "multilingual (SigLIP 2's WebLI languages)"


def _nllb(name: str, description: str, dim: int, pins: tuple[Pin, Pin, Pin]) -> RegistryEntry:
    """NLLB-CLIP (open_clip `nllb-clip-*-siglip`): a SigLIP image tower at 384 px and NLLB-200's
    encoder, CLS-pooled (the first position: the language token) and projected. Immich's export:
    one item per call, int32 ids padded to 77 with NLLB's <pad> (1), outputs normalised; NLLB's
    tokenizer.json; every text starts with its FLORES-200 language token, ends with </s>. The `mrl`
    weights (open_clip's pretrained tag): better than `v1` in every language OpenCLIP measured."""
    paths = [("visual/model.onnx", "visual.onnx"), ("textual/model.onnx", "textual.onnx"),
             ("textual/tokenizer.json", "tokenizer.json")]
    files = tuple(RemoteFile(path, local, n, sha) for (path, local), (n, sha) in zip(paths, pins))
    manifest = _immich_layout(dim, 384, siglip=True)
    manifest["tokenizer"] = {"file": "tokenizer.json", "context_length": 77, "pad_to": 77, "pad_id": 1,
                             "clean": "whitespace", "end_token": "</s>", "language_token": "eng_Latn"}
    return RegistryEntry(name, description, "CC-BY-NC-4.0", f"immich-app/{name}__mrl", "main", files, manifest,
                         languages="201 languages (NLLB-200)")


def mclip_manifest(dim: int) -> dict:
    """A Multilingual-CLIP text encoder as Immich exports it: `input_ids` and `attention_mask` (int32,
    padded to 77 with XLM-R's or LaBSE's pad), the mean over real tokens projected and normalised
    (`embedding`); the tokenizer.json of its transformer, whose post-processor adds <s> ... </s>."""
    tower = {"file": "textual.onnx", "input": "input_ids", "output": "embedding", "normalised": True,
             "batch_size": 1, "ids": "int32", "attention_mask": "attention_mask"}
    return {"embedding_dim": dim, "text_encoder": tower,
            "tokenizer": {"file": "tokenizer.json", "context_length": 77, "pad_to": 77, "pad_id": 1, "clean": "none"}}


def _mclip(name: str, repo: str, description: str, dim: int, pairs: tuple[str, ...], pins: tuple[Pin, Pin],
           pad_id: int = 1) -> RegistryEntry:
    """Multilingual-CLIP (FreddeFrallan/Multilingual-CLIP, MIT): a text encoder distilled onto one
    CLIP's English text space, so that CLIP's image vectors answer it unchanged."""
    files = (RemoteFile("textual/model.onnx", "textual.onnx", pins[0][0], pins[0][1]),
             RemoteFile("textual/tokenizer.json", "tokenizer.json", pins[1][0], pins[1][1]))
    manifest = mclip_manifest(dim)
    manifest["tokenizer"]["pad_id"] = pad_id
    return RegistryEntry(name, description, "MIT", repo, "main", files, manifest,
                         languages="48+ languages (Multilingual-CLIP)", pairs_with=pairs)


# The NLLB-CLIP and Multilingual-CLIP exports are Immich's; no commit or sha256 of them was found in
# public sources, so they are pinned on first download (sizes approximate: docs/multilingual.md).
MULTILINGUAL = (
    _nllb("nllb-clip-base-siglip", "NLLB-CLIP base (SigLIP B/16-384 + NLLB-200 600M encoder, mrl): reads 201 "
          "languages; Crossmodal-3600 R@1 55.4 averaged over 36 languages", 768,
          ((373_000_000, None), (1_660_000_000, None), (17_300_000, None))),
    _nllb("nllb-clip-large-siglip", "NLLB-CLIP large (SigLIP So400m/14-384 + NLLB-200 1.3B encoder, mrl): reads 201 "
          "languages; Crossmodal-3600 R@1 60.8 averaged over 36 languages; for a GPU", 1152,
          ((1_710_000_000, None), (2_260_000_000, None), (17_300_000, None))),
    _mclip("mclip-xlmr-large-vit-b-32", "immich-app/XLM-Roberta-Large-Vit-B-32",
           "Multilingual-CLIP XLM-R Large text encoder for OpenAI ViT-B/32 catalogs (search --text-model)", 512,
           ("vit-b-32", "vit-b-32-fp16", "vit-b-32-int8"), ((2_240_000_000, None), (17_100_000, None))),
    _mclip("mclip-xlmr-large-vit-b-16plus", "immich-app/XLM-Roberta-Large-Vit-B-16Plus",
           "Multilingual-CLIP XLM-R Large text encoder for OpenCLIP ViT-B-16-plus-240 catalogs (a bundle of that "
           "name)", 640, ("vit-b-16-plus-240",), ((2_240_000_000, None), (17_100_000, None))),
    _mclip("mclip-labse-vit-l-14", "immich-app/LABSE-Vit-L-14",
           "Multilingual-CLIP LaBSE text encoder for OpenAI ViT-L/14 catalogs (search --text-model)", 768,
           ("vit-l-14", "vit-l-14-int8"), ((1_880_000_000, None), (13_600_000, None)), pad_id=0),
)

REGISTRY: dict[str, RegistryEntry] = {e.name: e for e in (
    _xenova("vit-b-32", "OpenAI CLIP ViT-B/32 (2021): MS-COCO text->image R@1 30.4", *XENOVA_B32, 512,
            ((352_000_000, "fd6e1402a588279d1723c7534d4bcba5bc0b14b47dfab0e46f8c47b8270d7d40"), (254_000_000, None))),
    _xenova("vit-b-32-fp16", "OpenAI CLIP ViT-B/32, half-size fp16 files (same quality; on a CPU as fast as fp32)",
            *XENOVA_B32, 512,
            ((176_000_000, "35c4e0fb0aeee527dcde1693520b214a34424a786babd530f35366bad5844efd"),
             (127_000_000, "df587ffbf248bf20d44fa6e16adc5ebc27ead691860e5333dbdaab5fd6bf3f6e")), variant="_fp16"),
    _xenova("vit-b-32-int8", "OpenAI CLIP ViT-B/32, Xenova's int8 files: quarter size, faster on CPUs with VNNI",
            *XENOVA_B32, 512,
            ((89_100_000, None), (64_500_000, "73baab855d406190da9faa498cfedf65f15cf309f4cc7385b7b032e6d08e5c3a")),
            variant="_quantized"),
    _xenova("vit-b-16", "OpenAI CLIP ViT-B/16: R@1 33.1, about 4x slower to index than B/32",
            "Xenova/clip-vit-base-patch16", "main", 512, ((345_000_000, None), (254_000_000, None))),
    _xenova("vit-l-14", "OpenAI CLIP ViT-L/14, 768-d: R@1 36.5; about 22x B/32's CPU cost (for a GPU)",
            *XENOVA_L14, 768,
            ((1_216_438_437, "ff49f8aa57c7abfd26e382eb083e4dbf988505223a9bd3767dbfd4e729206709"),
             (495_000_000, "a86051a90491b97e2ea1d0351ef664926735bca7536034384f901915ee91fd69"))),
    _xenova("vit-l-14-int8", "OpenAI CLIP ViT-L/14, Xenova's int8 files", *XENOVA_L14, 768,
            ((307_000_000, None), (125_000_000, None)), variant="_quantized"),
    _rclip("vit-b-32-datacomp",
           "OpenCLIP ViT-B/32-256 DataComp (the default): R@1 39.9 at 1.2-1.4x B/32's CPU cost (rclip's export)",
           "ViT-B-32-256-datacomp_s34b_b86k", 512, 256,
           ((351_826_068, "3f7e6f94e5a34bc7ee8aba84aec0f963f56974ab405fbcd334c8e1c3f832bd2c"),
            (254_344_274, "ee267cd64f0f77362670ae0140476ed51ee8c5a761d41636e09997f2fdddcacc"))),
    _immich("vit-b-32-laion2b",
            "OpenCLIP ViT-B/32 LAION-2B: R@1 39.3 at B/32's cost (Immich's export, one image per call)", "MIT",
            *IMMICH_LAION2B, 512, 224,
            ((351_613_724, "b9ce24b91a8c62ef8d40ea786051709c93140104cbf2b6b4a2cc270df3838f9c"),
             (254_193_396, "48c25be37b352398f2533c9426dab6f9340535e14e46f884cc894236a5060722"))),
    _onnx_community("siglip2-b16-256", "Google SigLIP 2 ViT-B/16-256, multilingual: R@1 53.2, about 7x B/32's CPU cost",
                    *SIGLIP2_B16, 768, 256,
                    ((371_992_072, "f5cb16728a704703f05516ded628397e11dbca4de2eb5db04b0c0bcee988aa7a"),
                     (1_129_469_657, "d3de4a6bbbfcb429b6615ac496790353cf4a4fc0f19fbbe7179e523ae60daaef"),
                     SIGLIP2_TOKENIZER)),
    _onnx_community("siglip2-b16-256-int8",
                    "Google SigLIP 2 ViT-B/16-256, onnx-community's int8 files: about 3.5x B/32's CPU cost, "
                    "less faithful to fp32 than CLIP's int8",
                    *SIGLIP2_B16, 768, 256,
                    ((94_737_653, "f2eb8ccfa3dc0b3761d9ea9a39554fe0f2be71b247ad7f68a80720ec88895650"),
                     (283_438_275, "6f59b39d880c413042314b79302b74d0dd93b273caf8fbfdb1eb2df61a7fefd4"),
                     SIGLIP2_TOKENIZER), variant="_quantized"),
    _immich("siglip2-b32-256", "Google SigLIP 2 ViT-B/32-256, multilingual: R@1 47.2 at 1.2-1.4x B/32's CPU cost "
            "(Immich's export, one image per call)", "Apache-2.0", *IMMICH_SIGLIP2_B32, 768, 256,
            ((378_359_772, "e96b8a3d32ab1b683aa12c45312342b4a10d4befef5f195f5cf84eadf1938696"),
             (1_129_435_819, "ba6e09d2dbb3d7ac0f9e2935676db92dceebddfd06c1462b67019caa90eeea20"),
             (34_362_885, "220c63d496e0c14e63eb656c91e0215e926202e4c74b1f089e09f1920d779b04")), siglip=True),
    *MULTILINGUAL,
)}
for _name in ("siglip2-b16-256", "siglip2-b16-256-int8", "siglip2-b32-256"):
    REGISTRY[_name] = replace(REGISTRY[_name], languages=MULTILINGUAL_SIGLIP2)
