"""Prepared text encoders: a fresh `picfind search` maps the weights instead of copying them.

From an ordinary .onnx file ONNX Runtime copies every weight into its own memory and optimises
the graph on each start; for ViT-B/32's 254 MB text encoder that was most of a cold search. A
prepared copy is the same graph, optimised once at ONNX Runtime's portable "extended" level (the
rest is applied on load, as before) and saved with its weights in a file of their own, which
ONNX Runtime maps from the page cache. Same graph, same options: the same vectors, bit for bit
(tests/test_prepared.py).

Copies live in the models folder under `.prepared/`, one folder per source file, named after its
sha256 in the bundle's manifest; `prepared.json` records the ONNX Runtime version that wrote them
and the size and sha256 of each file. They are made when a model is downloaded or imported, or on
a bundle's first use (built-in bundles and bundle folders). On load the graph is re-hashed (it is
small) and the weights' size checked; a copy that fails, or was written by another ONNX Runtime
version, is made again, and one ONNX Runtime refuses is dropped (the next start makes it again).
`picfind models verify` re-hashes every byte and rebuilds a damaged copy. CPU only: CUDA sessions
load the bundle's own file.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from picfind.models.bundle import Bundle, TowerSpec, sha256_file
from picfind.models.paths import models_dir

FOLDER = ".prepared"
RECORD = "prepared.json"
GRAPH = "model.onnx"
WEIGHTS = "model.onnx.data"
STALE_BUILD_SECONDS = 3600  # a half-built copy this old was left by a crash
Session = TypeVar("Session")


def _root() -> Path:
    return models_dir() / FOLDER


def folder_for(bundle: Bundle, tower: TowerSpec) -> Path | None:
    """Where this tower's prepared copy lives; None when the manifest gives no sha256 to name it by."""
    digest = bundle.files.get(tower.file, {}).get("sha256")
    return _root() / f"{Path(tower.file).stem}-{digest[:16]}" if digest else None


def session(bundle: Bundle, tower: TowerSpec, open_model: Callable[[Path], Session]) -> Session:
    """`open_model(path)` on the tower's prepared copy (made first if missing or stale), or on the
    bundle's own file when no copy can be made or loaded."""
    source = bundle.path / tower.file
    folder = folder_for(bundle, tower)
    if folder is None or (not _current(folder, bundle, tower) and not _build(source, folder, bundle, tower)):
        return open_model(source)
    try:
        return open_model(folder / GRAPH)
    except _load_errors():
        shutil.rmtree(folder, ignore_errors=True)  # refused: the next start makes it again
        return open_model(source)


def prepare(bundle: Bundle) -> None:
    """Make the text encoder's prepared copy now (at download or import), unless it is current."""
    tower = bundle.text_tower
    folder = folder_for(bundle, tower)
    if folder is not None and not _current(folder, bundle, tower):
        _build(bundle.path / tower.file, folder, bundle, tower)


def verify(bundle: Bundle) -> list[str]:
    """Re-hash the prepared copy's files, rebuilding it when one does not match; one line each
    for what was found and done (nothing when there is no copy)."""
    tower = bundle.text_tower
    folder = folder_for(bundle, tower)
    if folder is None or not (folder / RECORD).is_file():
        return []
    record = _record(folder)
    problems = [f"{name}: {why}" for name, why in _mismatches(folder, record, full=True)]
    if not problems and record.get("onnxruntime") == _ort_version():
        return [f"prepared {tower.file}: {len(record['files'])} files match their sha256 ({folder})"]
    why = "; ".join(problems) or f"written by onnxruntime {record.get('onnxruntime')}"
    shutil.rmtree(folder, ignore_errors=True)
    if _build(bundle.path / tower.file, folder, bundle, tower):
        return [f"prepared {tower.file} rebuilt ({why})"]
    return [f"prepared {tower.file} removed ({why}) and could not be rebuilt; searches load {tower.file} itself"]


def remove(bundle: Bundle) -> None:
    folder = folder_for(bundle, bundle.text_tower)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__


def _load_errors() -> tuple[type[BaseException], ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return (OSError, RuntimeError, state.Fail, state.InvalidGraph, state.InvalidProtobuf, state.NoSuchFile,
            state.InvalidArgument, state.RuntimeException)


def _record(folder: Path) -> dict:
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _mismatches(folder: Path, record: dict, full: bool) -> list[tuple[str, str]]:
    """Files that differ from the record: by size and sha256 (`full`), else by size and, for the
    small graph only, sha256 (the weights are too big to hash on every start)."""
    files = record.get("files") or {}
    if set(files) != {GRAPH, WEIGHTS}:
        return [(RECORD, "unreadable or incomplete")]
    out = []
    for name, meta in sorted(files.items()):
        path = folder / name
        if not path.is_file():
            out.append((name, "missing"))
        elif path.stat().st_size != meta.get("size"):
            out.append((name, f"size {path.stat().st_size}, expected {meta.get('size')}"))
        elif (full or name == GRAPH) and sha256_file(path) != meta.get("sha256"):
            out.append((name, "sha256 mismatch (the file is corrupt or was changed)"))
    return out


def _current(folder: Path, bundle: Bundle, tower: TowerSpec) -> bool:
    record = _record(folder)
    return (record.get("onnxruntime") == _ort_version()
            and record.get("source", {}).get("sha256") == bundle.files[tower.file]["sha256"]
            and not _mismatches(folder, record, full=False))


def _build(source: Path, folder: Path, bundle: Bundle, tower: TowerSpec) -> bool:
    """Write the prepared copy beside `folder`, then move it into place; False when it cannot be
    made (a read-only or full disk, a graph ONNX Runtime cannot save): searches then load `source`."""
    import onnxruntime as ort

    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    try:
        _sweep(folder)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # "extended" holds every rewrite that does not depend on this CPU; "all" is applied on load.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.optimized_model_filepath = str(tmp / GRAPH)
        opts.add_session_config_entry("session.optimized_model_external_initializers_file_name", WEIGHTS)
        opts.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
        ort.InferenceSession(str(source), opts, providers=["CPUExecutionProvider"])
        files = {name: {"size": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
                 for name in (GRAPH, WEIGHTS)}
        record = {"onnxruntime": ort.__version__,
                  "source": {"bundle": bundle.name, "file": tower.file,
                             "sha256": bundle.files[tower.file]["sha256"]},
                  "files": files}
        (tmp / RECORD).write_text(json.dumps(record, indent=2) + "\n")
        if not _current(folder, bundle, tower):  # else another process finished first: keep its copy
            _replace(tmp, folder)
        return True
    except (*_load_errors(), OSError):
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace(tmp: Path, folder: Path) -> None:
    """Move the finished copy into place; a stale one goes first."""
    if folder.exists():
        old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
        try:
            folder.rename(old)
        except FileNotFoundError:
            pass
        shutil.rmtree(old, ignore_errors=True)
    try:
        tmp.rename(folder)
    except OSError:
        if not (folder / RECORD).is_file():  # another process moved its copy in meanwhile: as good
            raise


def _sweep(folder: Path) -> None:
    """Remove half-built copies that a crash left behind."""
    for left in folder.parent.glob(f".{folder.name}.*.tmp") if folder.parent.is_dir() else []:
        try:
            if time.time() - left.stat().st_mtime > STALE_BUILD_SECONDS:
                shutil.rmtree(left, ignore_errors=True)
        except OSError:
            continue
