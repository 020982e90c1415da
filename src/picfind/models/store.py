"""Where models come from and where they live on this machine (which ones exist: `picfind.models.registry`).

Real CLIP weights come from the public model hub, downloaded once (resumable, sha256-checked,
moved into place atomically) or imported from a folder; after that everything runs offline.
Each registry entry names a full commit where one was confirmed (its files can never change) and
the sha256 of every file where it is known; a file with no known hash is pinned on its first
download or import (`pins.json`) and checked ever after, also across `models remove`.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from picfind.models.bundle import MANIFEST, Bundle, BundleError, sha256_file, write_manifest
from picfind.models.paths import BUILTIN_DIR, models_dir
from picfind.models.registry import DEFAULT_MODEL, REGISTRY, RegistryEntry, RemoteFile

HUB_URL = "https://huggingface.co"
PINS = "pins.json"
# How long one network read may stall before the download gives up (seconds).
NETWORK_TIMEOUT = 15


class ModelError(Exception):
    """A model is unknown, not installed, or could not be fetched; the message says what to do."""



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
    hashes: str  # how its files are pinned (`_how_pinned`), or "bundle manifest"
    default: bool = False  # the model a new catalog gets when none is asked for
    languages: str = "en"  # what its text side reads
    pairs_with: tuple[str, ...] = ()  # a text encoder alone: the image models it answers for

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def list_models() -> list[ModelInfo]:
    root = models_dir()
    pins = load_pins(root)
    out = []
    for name in builtin_names():
        b = Bundle.load(BUILTIN_DIR / name)
        out.append(ModelInfo(name, b.manifest.get("description", ""), b.manifest.get("licence", "?"),
                             b.size_bytes(), True, str(b.path), "bundle manifest", languages=b.languages))
    for e in REGISTRY.values():
        path = root / e.name
        installed = (path / MANIFEST).is_file()
        out.append(ModelInfo(e.name, e.description, e.licence, e.size, installed,
                             str(path) if installed else None, _how_pinned(e, e.name in pins),
                             languages=e.languages, pairs_with=e.pairs_with))
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path.name not in REGISTRY and (path / MANIFEST).is_file():
                try:
                    b = Bundle.load(path)
                except BundleError as e:  # one broken folder must not hide the others
                    out.append(ModelInfo(path.name, f"broken: {e}", "?", 0, False, str(path), "-"))
                    continue
                out.append(ModelInfo(path.name, b.manifest.get("description", "imported bundle"),
                                     b.manifest.get("licence", "?"), b.size_bytes(), True,
                                     str(path), "bundle manifest", languages=b.languages, pairs_with=b.pairs_with))
    for info in out:
        info.default = info.name == DEFAULT_MODEL
    return out


def _how_pinned(entry: RegistryEntry, pinned: bool) -> str:
    """One line: is the revision a commit, and whose sha256 guards each file."""
    commit = len(entry.revision) == 40 and set(entry.revision) <= set(string.hexdigits)
    where = "commit" if commit else f"branch {entry.revision}"
    known = sum(bool(f.sha256) for f in entry.files)
    if known == len(entry.files):
        return f"{where} + sha256 of every file"
    first = "pinned on first use" if pinned else "pinned on first use (not downloaded yet)"
    return f"{where}, sha256 of {known} of {len(entry.files)} files; the rest {first}" if known \
        else f"{where}, sha256 {first}"


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
    return _prepared(Bundle.load(final))


def _prepared(bundle: Bundle, replaced: Bundle | None = None) -> Bundle:
    """Make the bundle's prepared text encoder now, not on its first search (`picfind.models.prepared`),
    and drop the one of the bundle it replaced."""
    from picfind.models import prepared

    if replaced is not None and prepared.folder_for(replaced, replaced.text_tower) != prepared.folder_for(
            bundle, bundle.text_tower):
        prepared.remove(replaced)
    prepared.prepare(bundle)
    return bundle


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
        replaced = _installed(final)
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
    return _prepared(Bundle.load(root / name), replaced)


def _installed(path: Path) -> Bundle | None:
    """The bundle installed at `path`, if a readable one is."""
    try:
        return Bundle.load(path)
    except BundleError:
        return None


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
        if not _plain_name(name):
            raise ModelError(f"{folder}: {name!r} cannot be a model's name (it becomes a folder in {models_dir()}): "
                             "import it with --as NAME, a plain name")
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


def _plain_name(name: str) -> bool:
    """Whether `name` names a folder directly inside the models folder (no path, no hidden name)."""
    return bool(name) and not name.startswith(".") and Path(name).name == name and "/" not in name \
        and os.sep not in name and name.isprintable()


def remove(name: str) -> Path:
    """Delete an installed model: a name from the models folder, never a path."""
    if name in builtin_names():
        raise ModelError(f"{name!r} is built into picfind and cannot be removed")
    path = models_dir() / name
    if not _plain_name(name) or not (path / MANIFEST).is_file():
        raise ModelError(f"{name!r} is not an installed model in {models_dir()}: "
                         "`picfind models list` shows their names")
    installed = _installed(path)
    if installed is not None:
        from picfind.models import prepared

        prepared.remove(installed)
    if path.is_symlink():
        path.unlink()  # a link to a bundle elsewhere: forget the link, leave what it points at
    else:
        shutil.rmtree(path)
    return path


def verify(model: str) -> tuple[Bundle, list[str], list[str]]:
    """The bundle, its problems (one line each), and what was found and done about its prepared
    text encoder when the bundle itself is sound (a damaged copy is rebuilt)."""
    from picfind.models import prepared

    bundle = resolve(model)
    problems = bundle.verify()
    return bundle, problems, [] if problems else prepared.verify(bundle)
