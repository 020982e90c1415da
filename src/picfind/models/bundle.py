"""A model bundle: one folder with the two ONNX encoders, the tokenizer and a manifest.

The manifest says everything the loader must adapt to, so one loader runs any CLIP-family
export (OpenAI CLIP, OpenCLIP, SigLIP 2): file and tensor names, whether outputs are
normalised, a fixed batch size; the tokenizer (built-in CLIP BPE or a `tokenizer.json`),
context length, padding, end token, id dtype, attention mask, text clean-up; the image
pipeline (resize mode, interpolation, size, mean/std). It also holds the sha256 of every file,
so a bundle can be verified byte for byte.

Format 1 (CLIP only) is read by upgrading it in memory to format 2 (`upgrade`); files on disk
are never rewritten, so a format-1 bundle keeps its hashes and keeps working.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from picfind.models.constants import BUILTIN_TOKENIZER, BUILTIN_TOKENIZER_PATH, CLIP_MEAN, CLIP_STD

if TYPE_CHECKING:
    from picfind.models.preprocess import Preprocessing

MANIFEST = "manifest.json"
FORMAT = 2
TEXT_ONLY = "text"  # manifest "kind" of a text encoder alone (Multilingual-CLIP), paired with image models
MAX_IMAGE_SIZE = 4096  # a model input side in pixels; more is a typo (SigLIP 2 tops out at 512)
# CLIP's image normalisation, the default of format-1 manifests (here, not in preprocess: no Pillow).
# The OpenAI CLIP BPE vocabulary, shipped with picfind: bundles may name it instead of a file.


class BundleError(Exception):
    """A bundle is missing, incomplete or does not match its manifest."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class TowerSpec:
    """One ONNX encoder: its file, tensor names, and what its graph expects and returns."""
    file: str
    input: str
    output: str
    normalised: bool = False  # outputs already unit length (picfind normalises anyway; harmless)
    batch_size: int | None = None  # a graph exported for a fixed batch (Immich's: 1) is run in a loop
    ids: str = "int64"  # text only: dtype of the token ids (Immich's exports take int32)
    attention_mask: str | None = None  # text only: name of an attention-mask input, if the graph has one


@dataclass(frozen=True)
class TokenizerSpec:
    """How text becomes ids, as the model was trained."""
    file: str = BUILTIN_TOKENIZER  # "clip-bpe" or a tokenizer.json inside the bundle
    context_length: int = 77
    pad_to: int | None = None  # pad every text to this length (SigLIP reads the last position)
    pad_id: int = 0
    # "clip": ftfy, HTML unescape, whitespace, lower case (OpenAI's reference);
    # "canonicalize": the same clean-up, then punctuation removed and lower case (SigLIP/big_vision)
    clean: str = "clip"
    # A token appended after cutting to the context length, so it survives truncation ("sticky");
    # None: the tokenizer.json's own post-processor adds what the model expects.
    end_token: str | None = None
    # NLLB: every text starts with its language's FLORES-200 token ("rus_Cyrl"), as open_clip's
    # HFTokenizer.set_language sets it; this one when the language is not known.
    language_token: str | None = None


CLEAN_MODES = ("clip", "canonicalize", "whitespace", "none")
RESIZE_MODES = ("shortest", "squash")
INTERPOLATIONS = ("bicubic", "bilinear")
CROP_ROUNDINGS = ("floor", "round")


def upgrade(manifest: dict) -> dict:
    """A format-1 manifest (CLIP: BPE tokenizer, shortest-side resize) as format 2."""
    if manifest.get("format", 1) >= 2:
        return manifest
    text = dict(manifest.get("text_encoder", {}))
    fixed, pad_id = text.pop("fixed_length", None), text.pop("pad_id", 0)
    out = {k: v for k, v in manifest.items()
           if k not in ("image_size", "context_length", "mean", "std", "tokenizer")}
    out.update({
        "format": 2,
        "text_encoder": text,
        "tokenizer": {"file": manifest.get("tokenizer", BUILTIN_TOKENIZER),
                      "context_length": manifest.get("context_length", 77),
                      "pad_to": fixed, "pad_id": pad_id, "clean": "clip"},
        "preprocess": {"size": manifest.get("image_size"), "resize": "shortest", "interpolation": "bicubic",
                       "mean": list(manifest.get("mean", CLIP_MEAN)), "std": list(manifest.get("std", CLIP_STD))},
    })
    return out


def _check(path: Path, manifest: dict) -> None:
    """One clear line for a manifest that asks for something this loader does not do."""
    mf = path / MANIFEST
    image = () if manifest.get("kind") == TEXT_ONLY else ("image_encoder", "preprocess")
    for key in ("name", "embedding_dim", *image, "text_encoder", "tokenizer"):
        if key not in manifest:
            raise BundleError(f"{mf}: missing {key!r}")
    pre, tok = manifest.get("preprocess", {"size": 1}), manifest["tokenizer"]
    checks = [("preprocess.resize", pre.get("resize", "shortest"), RESIZE_MODES),
              ("preprocess.interpolation", pre.get("interpolation", "bicubic"), INTERPOLATIONS),
              ("preprocess.crop", pre.get("crop", "floor"), CROP_ROUNDINGS),
              ("tokenizer.clean", tok.get("clean", "clip"), CLEAN_MODES),
              ("text_encoder.ids", manifest["text_encoder"].get("ids", "int64"), ("int64", "int32"))]
    for key, value, allowed in checks:
        if value not in allowed:
            raise BundleError(f"{mf}: {key} {value!r} is not one of {', '.join(allowed)}")
    size = pre.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_IMAGE_SIZE:
        raise BundleError(f"{mf}: the image size must be a number of pixels from 1 to {MAX_IMAGE_SIZE}, not {size!r}")
    for key, default in (("mean", CLIP_MEAN), ("std", CLIP_STD)):
        values = pre.get(key, default)
        numbers = isinstance(values, (list, tuple)) and len(values) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
        if not numbers or key == "std" and min(values) <= 0:
            raise BundleError(f"{mf}: {key} must be three finite numbers" + (", each above 0 (every pixel is divided "
                              "by it)" if key == "std" else "") + f", not {values!r}")
    if manifest["embedding_dim"] < 1:
        raise BundleError(f"{mf}: embedding_dim must be 1 or more, not {manifest['embedding_dim']!r}")


@dataclass(frozen=True)
class Bundle:
    path: Path
    name: str
    manifest: dict = field(repr=False)

    @classmethod
    def load(cls, path: Path | str) -> Bundle:
        path = Path(path)
        mf = path / MANIFEST
        if not mf.is_file():
            raise BundleError(f"{path} is not a model bundle (no {MANIFEST})")
        try:
            manifest = json.loads(mf.read_text())
        except (OSError, ValueError) as e:
            raise BundleError(f"{mf}: unreadable manifest ({e})") from e
        _check_shape(mf, manifest)
        if manifest.get("format", 1) > FORMAT:
            raise BundleError(f"{path}: bundle format {manifest['format']} is newer than this "
                              f"picfind understands ({FORMAT}); upgrade picfind")
        manifest = upgrade(manifest)
        _check(path, manifest)
        bundle = cls(path=path, name=manifest["name"], manifest=manifest)
        for rel in bundle.used_files():
            if not _inside(path, rel):
                raise BundleError(f"{mf}: {rel!r} is outside the bundle folder; a manifest names files inside it only")
        return bundle

    @property
    def embedding_dim(self) -> int:
        return int(self.manifest["embedding_dim"])

    @property
    def text_only(self) -> bool:
        """A text encoder alone, trained into the space of the image models in `pairs_with`."""
        return self.manifest.get("kind") == TEXT_ONLY

    @property
    def pairs_with(self) -> tuple[str, ...]:
        return tuple(self.manifest.get("pairs_with", ()))

    @property
    def languages(self) -> str:
        """What the text encoder reads, as the registry says it ("en", or a count of languages)."""
        return str(self.manifest.get("languages", "en"))

    @property
    def preprocessing(self) -> Preprocessing:
        from picfind.models.preprocess import Preprocessing  # Pillow: a text search never loads it

        p = self.manifest["preprocess"]
        return Preprocessing(size=int(p["size"]), mean=tuple(p.get("mean", CLIP_MEAN)),
                             std=tuple(p.get("std", CLIP_STD)), resize_mode=p.get("resize", "shortest"),
                             interpolation=p.get("interpolation", "bicubic"), crop=p.get("crop", "floor"))

    @property
    def image_size(self) -> int:
        return int(self.manifest["preprocess"]["size"])

    @property
    def image_tower(self) -> TowerSpec:
        return TowerSpec(**self.manifest["image_encoder"])

    @property
    def text_tower(self) -> TowerSpec:
        return TowerSpec(**self.manifest["text_encoder"])

    @property
    def text(self) -> TokenizerSpec:
        return TokenizerSpec(**self.manifest["tokenizer"])

    @property
    def tokenizer_path(self) -> Path:
        tok = self.text.file
        return BUILTIN_TOKENIZER_PATH if tok == BUILTIN_TOKENIZER else self.path / tok

    @property
    def files(self) -> dict[str, dict]:
        return self.manifest.get("files", {})

    def size_bytes(self) -> int:
        return sum(int(f.get("size", 0)) for f in self.files.values())

    def used_files(self) -> list[str]:
        """The files the manifest makes picfind open: the two encoders, and the tokenizer."""
        tok = self.text.file
        image = [] if self.text_only else [self.image_tower.file]
        return [*image, self.text_tower.file, *([tok] if tok != BUILTIN_TOKENIZER else [])]

    def verify(self) -> list[str]:
        """Problems found, one line each, naming the file; empty when every byte matches. Every
        file named by the manifest must lie inside the bundle folder, and every file it uses must
        be listed with its hash, so that nothing outside is read or goes unchecked."""
        problems = []
        if not self.files:
            problems.append(f"{MANIFEST} lists no files to check")
        outside = [rel for rel in sorted({*self.files, *self.used_files()}) if not _inside(self.path, rel)]
        problems += [f"{rel}: outside the bundle folder (a manifest names files inside it only)" for rel in outside]
        problems += [f"{rel}: used but not listed with a sha256 in {MANIFEST}"
                     for rel in self.used_files() if rel not in self.files and rel not in outside]
        present = {f.relative_to(self.path).as_posix() for f in self.path.rglob("*")
                   if f.is_file() and f.name != MANIFEST} if self.path.is_dir() else set()
        problems += [f"{rel}: in the bundle folder but not listed in {MANIFEST}"
                     for rel in sorted(present - set(self.files))]
        for rel, meta in sorted(self.files.items()):
            f = self.path / rel
            if rel in outside:
                continue
            if not f.is_file():
                problems.append(f"{rel}: missing")
            elif f.stat().st_size != meta.get("size", f.stat().st_size):
                problems.append(f"{rel}: size {f.stat().st_size}, expected {meta['size']}")
            elif sha256_file(f) != meta["sha256"]:
                problems.append(f"{rel}: sha256 mismatch (the file is corrupt or was changed)")
        return problems


def _check_shape(mf: Path, manifest: object) -> None:
    """A hand-edited or hostile manifest fails here with one line, not later with a TypeError."""
    if not isinstance(manifest, dict):
        raise BundleError(f"{mf}: not a manifest (a JSON object is expected)")
    v2 = manifest.get("format", 1) == 2  # format 1: CLIP's flat keys; 2: `tokenizer` and `preprocess` objects
    image = () if v2 and manifest.get("kind") == TEXT_ONLY else ("image_encoder",)
    required = (("tokenizer",) if image == () else ("tokenizer", "preprocess")) if v2 else ("image_size",)
    for key in ("name", "embedding_dim", *required, *image, "text_encoder"):
        if key not in manifest:
            raise BundleError(f"{mf}: missing {key!r}")
    kinds = [("format", int), ("name", str), ("embedding_dim", int), ("image_encoder", dict), ("text_encoder", dict),
             ("files", dict)]
    kinds += ([("tokenizer", dict), ("preprocess", dict)] if v2 else
              [("image_size", int), ("context_length", int), ("tokenizer", str), ("mean", list), ("std", list)])
    wrong = [key for key, kind in kinds
             if key in manifest and (not isinstance(manifest[key], kind) or isinstance(manifest[key], bool))]
    tok, pre = manifest.get("tokenizer"), manifest.get("preprocess")
    if v2 and isinstance(tok, dict) and (set(tok) - set(TokenizerSpec.__dataclass_fields__)
                                         or not isinstance(tok.get("file", ""), str)):
        wrong.append("tokenizer")
    if v2 and isinstance(pre, dict) and set(pre) - {"size", "resize", "interpolation", "crop", "mean", "std"}:
        wrong.append("preprocess")
    if isinstance(manifest.get("name"), str) and not manifest["name"].isprintable():
        wrong.append("name")  # it is printed wherever the model is named
    legacy = set() if v2 else {"fixed_length", "pad_id"}  # format 1 kept text padding in the tower
    for tower in ("image_encoder", "text_encoder"):
        spec = manifest.get(tower)
        if isinstance(spec, dict) and (set(spec) - set(TowerSpec.__dataclass_fields__) - legacy
                                       or not all(isinstance(spec.get(k), str) for k in ("file", "input", "output"))):
            wrong.append(tower)
    files = manifest.get("files")
    if isinstance(files, dict) and not all(isinstance(m, dict) and isinstance(m.get("sha256"), str)
                                           and isinstance(m.get("size", 0), int) for m in files.values()):
        wrong.append("files")
    if wrong:
        raise BundleError(f"{mf}: {', '.join(repr(k) for k in wrong)} not as a picfind manifest has them; "
                          "write it again with picfind's bundle tools, or import the model's files instead")


def _inside(folder: Path, rel: str) -> bool:
    """Whether a manifest's relative file name stays inside the bundle folder (symlinks resolved)."""
    if not rel or Path(rel).is_absolute() or PurePosixPath(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
        return False
    root = folder.resolve()
    return (root / rel).resolve().is_relative_to(root)


def write_manifest(folder: Path, manifest: dict) -> Path:
    """Write manifest.json (format 2) with the size and sha256 of every other file in `folder`."""
    folder = Path(folder)
    files = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.name != MANIFEST:
            files[f.relative_to(folder).as_posix()] = {"size": f.stat().st_size,
                                                       "sha256": sha256_file(f)}
    out = {"format": FORMAT, **manifest, "files": files}
    (folder / MANIFEST).write_text(json.dumps(out, indent=2) + "\n")
    return folder / MANIFEST
