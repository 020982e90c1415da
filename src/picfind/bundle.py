"""A model bundle: one folder with the two ONNX encoders, the tokenizer and a manifest.

The manifest says everything the loader must adapt to (file and tensor names, whether outputs
are normalised, fixed or dynamic text length, image size, mean/std) and the sha256 of every
file, so a bundle can be verified byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .preprocess import Preprocessing

MANIFEST = "manifest.json"
FORMAT = 1
# The OpenAI CLIP BPE vocabulary, shipped with picfind: bundles may name it instead of a file.
BUILTIN_TOKENIZER = "clip-bpe"
BUILTIN_TOKENIZER_PATH = Path(__file__).parent / "bundles" / "clip-tokenizer.json"


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
    file: str
    input: str
    output: str
    normalised: bool = False
    fixed_length: int | None = None
    pad_id: int = 0


@dataclass(frozen=True)
class Bundle:
    path: Path
    name: str
    manifest: dict

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
        bundle = cls(path=path, name=manifest["name"], manifest=manifest)
        for rel in bundle.used_files():
            if not _inside(path, rel):
                raise BundleError(f"{mf}: {rel!r} is outside the bundle folder; a manifest names files inside it only")
        return bundle

    @property
    def embedding_dim(self) -> int:
        return int(self.manifest["embedding_dim"])

    @property
    def image_size(self) -> int:
        return int(self.manifest["image_size"])

    @property
    def context_length(self) -> int:
        return int(self.manifest.get("context_length", 77))

    @property
    def preprocessing(self) -> Preprocessing:
        from .preprocess import CLIP_MEAN, CLIP_STD, Preprocessing  # Pillow: a text search never loads it

        return Preprocessing(size=self.image_size,
                             mean=tuple(self.manifest.get("mean", CLIP_MEAN)),
                             std=tuple(self.manifest.get("std", CLIP_STD)))

    @property
    def image_tower(self) -> TowerSpec:
        return TowerSpec(**self.manifest["image_encoder"])

    @property
    def text_tower(self) -> TowerSpec:
        return TowerSpec(**self.manifest["text_encoder"])

    @property
    def tokenizer_path(self) -> Path:
        tok = self.manifest.get("tokenizer", BUILTIN_TOKENIZER)
        return BUILTIN_TOKENIZER_PATH if tok == BUILTIN_TOKENIZER else self.path / tok

    @property
    def files(self) -> dict[str, dict]:
        return self.manifest.get("files", {})

    def size_bytes(self) -> int:
        return sum(int(f.get("size", 0)) for f in self.files.values())

    def used_files(self) -> list[str]:
        """The files the manifest makes picfind open: the two encoders, and the tokenizer."""
        tok = self.manifest.get("tokenizer", BUILTIN_TOKENIZER)
        return [self.image_tower.file, self.text_tower.file, *([tok] if tok != BUILTIN_TOKENIZER else [])]

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
    for key in ("name", "embedding_dim", "image_size", "image_encoder", "text_encoder"):
        if key not in manifest:
            raise BundleError(f"{mf}: missing {key!r}")
    wrong = [key for key, kind in (("format", int), ("name", str), ("embedding_dim", int), ("image_size", int),
                                   ("context_length", int), ("image_encoder", dict), ("text_encoder", dict),
                                   ("tokenizer", str), ("files", dict), ("mean", list), ("std", list))
             if key in manifest and (not isinstance(manifest[key], kind) or isinstance(manifest[key], bool))]
    if isinstance(manifest.get("name"), str) and not manifest["name"].isprintable():
        wrong.append("name")  # it is printed wherever the model is named
    for tower in ("image_encoder", "text_encoder"):
        spec = manifest.get(tower)
        if isinstance(spec, dict) and (set(spec) - set(TowerSpec.__dataclass_fields__)
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
    """Write manifest.json with the size and sha256 of every other file in `folder`."""
    folder = Path(folder)
    files = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.name != MANIFEST:
            files[f.relative_to(folder).as_posix()] = {"size": f.stat().st_size,
                                                       "sha256": sha256_file(f)}
    out = {"format": FORMAT, **manifest, "files": files}
    (folder / MANIFEST).write_text(json.dumps(out, indent=2) + "\n")
    return folder / MANIFEST
