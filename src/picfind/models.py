"""Which models picfind knows, where they come from, and where they live on this machine.

Real CLIP weights come from the public model hub, downloaded once (resumable, sha256-checked,
moved into place atomically) or imported from a folder; after that everything runs offline.
A file whose hash its publisher does not show is pinned on first download and checked ever after.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from .bundle import BUILTIN_TOKENIZER, MANIFEST, Bundle, sha256_file, write_manifest
from .preprocess import CLIP_MEAN, CLIP_STD

DEFAULT_MODEL = "vit-b-32-datacomp"  # chosen by the rule in README, Models
BUILTIN_DIR = Path(__file__).parent / "bundles"
HUB_URL = "https://huggingface.co"
PINS = "pins.json"
# How long one network read may stall before the download gives up (seconds).
NETWORK_TIMEOUT = 15


class ModelError(Exception):
    """A model is unknown, not installed, or could not be fetched; the message says what to do."""


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


def models_dir() -> Path:
    return Path(os.environ.get("PICFIND_MODELS_DIR") or Path(platformdirs.user_cache_dir("picfind")) / "models")


def builtin_names() -> list[str]:
    return sorted(p.name for p in BUILTIN_DIR.iterdir() if (p / MANIFEST).is_file())


def load_pins(root: Path) -> dict[str, dict[str, str]]:
    try:
        return json.loads((root / PINS).read_text())
    except (OSError, ValueError):
        return {}


def _save_pins(root: Path, pins: dict) -> None:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / (PINS + ".tmp")
    tmp.write_text(json.dumps(pins, indent=2, sort_keys=True) + "\n")
    tmp.replace(root / PINS)


def resolve(model: str | None = None) -> Bundle:
    """A model name (built-in, installed or registry) or a bundle folder -> a loaded bundle."""
    model = model or os.environ.get("PICFIND_MODEL") or DEFAULT_MODEL
    as_path = Path(model).expanduser()
    if as_path.is_dir():
        return Bundle.load(as_path)
    if model in builtin_names():
        return Bundle.load(BUILTIN_DIR / model)
    installed = models_dir() / model
    if (installed / MANIFEST).is_file():
        return Bundle.load(installed)
    if model in REGISTRY:
        raise ModelError(
            f"model {model!r} is not installed: run `picfind models download {model}` (needs "
            f"internet, once), or `picfind models import DIR` with a folder holding its files; "
            f"`--model tiny-shapes` runs offline with the built-in test model")
    known = ", ".join(sorted({*REGISTRY, *builtin_names()}))
    raise ModelError(f"unknown model {model!r}: use one of {known}, or a bundle folder")


@dataclass
class ModelInfo:
    name: str
    description: str
    licence: str
    size: int
    installed: bool
    path: str | None
    hashes: str  # "published", "pinned on first use", "not yet pinned", "bundle manifest"
    default: bool = False  # the model a new catalog gets when none is asked for

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def list_models() -> list[ModelInfo]:
    root = models_dir()
    pins = load_pins(root)
    out = []
    for name in builtin_names():
        b = Bundle.load(BUILTIN_DIR / name)
        out.append(ModelInfo(name, b.manifest.get("description", ""), b.manifest.get("licence", "?"),
                             b.size_bytes(), True, str(b.path), "bundle manifest"))
    for e in REGISTRY.values():
        path = root / e.name
        installed = (path / MANIFEST).is_file()
        if all(f.sha256 for f in e.files):
            hashes = "published"
        elif e.name in pins:
            hashes = "published + pinned on first use" if any(f.sha256 for f in e.files) else "pinned on first use"
        else:
            hashes = "pinned on first use (not downloaded yet)"
        out.append(ModelInfo(e.name, e.description, e.licence, e.size, installed,
                             str(path) if installed else None, hashes))
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path.name not in REGISTRY and (path / MANIFEST).is_file():
                b = Bundle.load(path)
                out.append(ModelInfo(path.name, b.manifest.get("description", "imported bundle"),
                                     b.manifest.get("licence", "?"), b.size_bytes(), True,
                                     str(path), "bundle manifest"))
    for info in out:
        info.default = info.name == DEFAULT_MODEL
    return out


Progress = Callable[[str, int, int], None]  # (file, bytes done, bytes total)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("PICFIND_OFFLINE") == "1"


def _fetch(url: str, part: Path, progress: Progress | None, label: str) -> None:
    """Download `url` into `part`, resuming from its current length with an HTTP Range request."""
    import urllib.error
    import urllib.request
    start = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "picfind"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    try:
        resp = urllib.request.urlopen(req, timeout=NETWORK_TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not start:
            raise
        # Nothing left after `start`: the file was whole (a run stopped while hashing it), and the
        # hash decides; or `part` is longer than the file, which then starts again.
        if e.headers.get("Content-Range", "").strip() == f"bytes */{start}":
            return
        part.unlink()
        return _fetch(url, part, progress, label)
    with resp:
        if start and resp.status != 206:
            start = 0  # the server ignored Range: start again
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length else 0
        with open(part, "ab" if start else "wb") as out:
            done = start
            while block := resp.read(1 << 20):
                out.write(block)
                done += len(block)
                if progress:
                    progress(label, done, total)
    if total and done < total:
        raise ConnectionError(f"connection closed after {done} of {total} bytes")


def download(name: str, progress: Progress | None = None, hub: str | None = None) -> Bundle:
    """Fetch a registry model into the models folder; partial files resume on the next try."""
    if name not in REGISTRY:
        raise ModelError(f"unknown model {name!r}: `picfind models list` shows what can be downloaded")
    entry = REGISTRY[name]
    hub = hub or os.environ.get("PICFIND_HUB_URL") or HUB_URL
    root = models_dir()
    final = root / name
    if (final / MANIFEST).is_file():
        return Bundle.load(final)
    how = (f"on a machine with internet, download {', '.join(f.path for f in entry.files)} from "
           f"{HUB_URL}/{entry.repo} (revision {entry.revision}) into one folder, copy it here "
           f"and run `picfind models import FOLDER`")
    if _offline():
        raise ModelError(f"offline mode (HF_HUB_OFFLINE/PICFIND_OFFLINE) forbids downloading {name!r}: {how}")
    staging = root / f".{name}.download"
    staging.mkdir(parents=True, exist_ok=True)
    pins = load_pins(root)
    for f in entry.files:
        dest = staging / f.local
        if dest.is_file():
            continue
        part = staging / (f.local + ".part")
        try:
            _fetch(entry.url(f, hub), part, progress, f.local)
        except OSError as e:  # URLError, timeouts and dropped connections are all OSErrors
            reason = getattr(e, "reason", e)
            raise ModelError(f"could not download {f.path} from {hub}: {reason}. "
                             f"What was fetched is kept and resumes on the next try. Offline? {how}") from e
        expected = f.sha256 or pins.get(name, {}).get(f.local)
        digest = sha256_file(part)
        if expected and digest != expected:
            part.unlink()
            raise ModelError(f"{f.path}: sha256 {digest} does not match the expected {expected}; "
                             "the partial file was removed, try again")
        if not f.sha256:
            pins.setdefault(name, {})[f.local] = digest
            _save_pins(root, pins)
        part.rename(dest)
    write_manifest(staging, entry.bundle_manifest(f"{HUB_URL}/{entry.repo}@{entry.revision}"))
    staging.rename(final)
    return Bundle.load(final)


def _install(src: Bundle | Path, name: str, make: Callable[[Path], None]) -> Bundle:
    """Build a bundle in a temporary folder beside the target, then move it into place."""
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.import-", dir=root))
    try:
        make(tmp)
        problems = Bundle.load(tmp).verify()
        if problems:
            raise ModelError(f"{src}: " + "; ".join(problems))
        final = root / name
        if final.exists():
            old = root / f".{name}.old"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Bundle.load(root / name)


def import_folder(folder: Path, as_name: str | None = None) -> Bundle:
    """Install a bundle folder, or a folder holding a registry model's files as on the hub."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such folder")
    if (folder / MANIFEST).is_file():
        bundle = Bundle.load(folder)
        problems = bundle.verify()
        if problems:
            raise ModelError(f"{folder} fails verification: " + "; ".join(problems))
        name = as_name or bundle.name
        return _install(folder, name, lambda tmp: _copy_bundle(folder, tmp, name))
    if as_name is not None and as_name not in REGISTRY:
        raise ModelError(f"--as {as_name}: not a known model (`picfind models list`)")
    pins = load_pins(models_dir())
    hashes: dict[Path, str] = {}
    candidates, rejected = [], []
    for entry in [REGISTRY[as_name]] if as_name else REGISTRY.values():
        found = [_find(folder, f) for f in entry.files]
        if not all(found):
            continue
        for f, path in zip(entry.files, found):
            expected = f.sha256 or pins.get(entry.name, {}).get(f.local)
            if expected and hashes.setdefault(path, sha256_file(path)) != expected:
                rejected.append(f"{path.name} is not {entry.name}'s (sha256 differs)")
                break
        else:
            candidates.append((entry, found))
    if len(candidates) == 1:
        return _import_registry_files(*candidates[0], folder)
    if len(candidates) > 1:
        names = ", ".join(e.name for e, _ in candidates)
        raise ModelError(f"{folder} could hold any of {names}: say which with `--as NAME`")
    why = f" ({'; '.join(rejected)})" if rejected else ""
    raise ModelError(f"{folder} holds neither a picfind bundle ({MANIFEST}) nor the files of a known "
                     f"model (for {DEFAULT_MODEL}: {' and '.join(f.path for f in REGISTRY[DEFAULT_MODEL].files)}){why}")


def _copy_bundle(src: Path, dest: Path, name: str) -> None:
    shutil.copytree(src, dest, dirs_exist_ok=True)
    if name != Bundle.load(dest).name:
        manifest = json.loads((dest / MANIFEST).read_text())
        (dest / MANIFEST).write_text(json.dumps({**manifest, "name": name}, indent=2) + "\n")


def _find(folder: Path, f: RemoteFile) -> Path | None:
    for candidate in (folder / f.path, folder / f.local):
        if candidate.is_file():
            return candidate
    return None


def _import_registry_files(entry: RegistryEntry, found: list[Path], folder: Path) -> Bundle:
    root = models_dir()

    def make(tmp: Path) -> None:
        for f, path in zip(entry.files, found):
            shutil.copyfile(path, tmp / f.local)
        write_manifest(tmp, entry.bundle_manifest(f"imported from {folder} ({entry.repo})"))

    bundle = _install(folder, entry.name, make)
    pins = load_pins(root)
    for f in entry.files:
        if not f.sha256:
            pins.setdefault(entry.name, {}).setdefault(f.local, bundle.files[f.local]["sha256"])
    _save_pins(root, pins)
    return bundle


def remove(name: str) -> Path:
    """Delete an installed model: a name from the models folder, never a path."""
    if name in builtin_names():
        raise ModelError(f"{name!r} is built into picfind and cannot be removed")
    path = models_dir() / name
    if (name in ("", ".", "..") or Path(name).name != name or "/" in name or os.sep in name
            or not (path / MANIFEST).is_file()):
        raise ModelError(f"{name!r} is not an installed model in {models_dir()}: "
                         "`picfind models list` shows their names")
    if path.is_symlink():
        path.unlink()  # a link to a bundle elsewhere: forget the link, leave what it points at
    else:
        shutil.rmtree(path)
    return path


def verify(model: str) -> tuple[Bundle, list[str]]:
    bundle = resolve(model)
    return bundle, bundle.verify()
