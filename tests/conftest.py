"""Shared fixtures: real photos, generated shape pictures, bad files, and a CLI runner."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from picfind.models.shapes import Scene, random_scene, render

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the user's catalog, model cache, state (a shared catalog's journal) or the network."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("PICFIND_MODELS_DIR", str(home / "models"))
    monkeypatch.setenv("PICFIND_DB", str(home / "catalog.db"))
    monkeypatch.setenv("PICFIND_MODEL", "tiny-shapes")
    monkeypatch.setenv("PICFIND_HUB_URL", "http://127.0.0.1:9")  # closed port: no real download


def real_photos() -> dict[str, np.ndarray]:
    """Real photographs shipped inside scikit-image and scikit-learn."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = {name: getattr(data, name)() for name in ("astronaut", "chelsea", "coffee", "rocket", "camera")}
    sample = load_sample_images()
    for fname, arr in zip(sample.filenames, sample.images):
        photos[Path(fname).stem] = arr
    return photos


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i, (name, arr) in enumerate(real_photos().items()):
        Image.fromarray(arr).save(folder / f"{name}.{'png' if i % 2 else 'jpg'}", quality=92)
    return folder


def write_shapes(folder: Path, n: int, seed: int = 3, size: int = 160) -> list[Scene]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    scenes = []
    for i in range(n):
        scene = random_scene(rng)
        render(scene, size=size, rng=rng).save(folder / f"{i:04d}_{scene.colour}_{scene.shape}_{scene.count}.png")
        scenes.append(scene)
    return scenes


def shape_files(colour: str, shape: str, count: int = 1, n: int = 3, size: int = 160,
                seed: int = 0) -> list[Image.Image]:
    rng = random.Random(seed)
    return [render(Scene(shape, colour, count, rng.choice(["white", "grey", "black"])), size, rng) for _ in range(n)]


def picfind(*args: str, env: dict | None = None, check: bool = False, timeout: float = 300,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real `picfind` command."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "picfind", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"picfind {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def reference_model():
    """A CLIPModel of the tiny-shapes architecture with fixed random weights (the reference)."""
    import torch

    sys.path.insert(0, str(REPO / "scripts"))
    from train_tiny_shapes import tiny_config
    from transformers import CLIPModel

    torch.manual_seed(123)
    return CLIPModel(tiny_config()).eval()


@pytest.fixture(scope="session")
def exported(reference_model, tmp_path_factory) -> dict[str, Path]:
    """The same weights exported by scripts/convert_clip.py in the Xenova-style split layout
    and the rclip-style layout."""
    return {layout: _export(reference_model, tmp_path_factory, "random", layout, normalised=layout != "split")
            for layout in ("split", "rclip", "immich")}


def _export(model, tmp_path_factory, prefix: str, layout: str, **options) -> Path:
    """`model` exported by scripts/convert_clip.py as a 64-px bundle in one publisher's layout."""
    sys.path.insert(0, str(REPO / "scripts"))
    from convert_clip import export_bundle

    folder = tmp_path_factory.mktemp(prefix) / layout
    export_bundle(model, folder, name=f"{prefix}-{layout}", image_size=64, description="test",
                  source="tests", layout=layout, **{"licence": "MIT", **options})
    return folder


@pytest.fixture(scope="session")
def openclip_model():
    """The tiny-shapes CLIP as OpenCLIP builds its LAION-2B and DataComp models (exact GELU,
    `convert_clip.as_openclip`), fixed random weights: the reference for rclip's and Immich's CLIPs."""
    import torch

    sys.path.insert(0, str(REPO / "scripts"))
    from convert_clip import as_openclip
    from train_tiny_shapes import tiny_config
    from transformers import CLIPModel

    torch.manual_seed(321)
    return CLIPModel(as_openclip(tiny_config())).eval()


@pytest.fixture(scope="session")
def openclip_exported(openclip_model, tmp_path_factory) -> dict[str, Path]:
    """The OpenCLIP model exported by scripts/convert_clip.py as rclip's and Immich's graphs."""
    return {layout: _export(openclip_model, tmp_path_factory, "openclip", layout, check=False)
            for layout in ("rclip", "immich")}


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL 16 with pgvector (the pgserver wheel), on a unix socket, for the session.
    Its folder is outside pytest's (mode 700): run as root, pgserver starts the server as its own
    user, which must reach the folder."""
    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="picfind-pg-"))
    folder.chmod(0o755)
    server = pgserver.get_server(folder / "data", cleanup_mode="stop")
    yield server
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def pg_url(pg_server) -> str:
    """A new, empty database on the test server."""
    name = f"picfind_{uuid.uuid4().hex[:12]}"
    pg_server.psql(f"CREATE DATABASE {name};")
    return pg_server.get_uri(name)


@pytest.fixture(scope="session")
def sentencepiece_tokenizers(tmp_path_factory) -> dict[str, Path]:
    """Small tokenizer.json files of SigLIP 2's kind (Gemma-like BPE) and SigLIP 1's (T5-like Unigram)."""
    sys.path.insert(0, str(REPO / "scripts"))
    from make_sentencepiece_tokenizers import gemma_like, t5_like

    folder = tmp_path_factory.mktemp("tokenizers")
    return {"gemma": gemma_like(folder / "gemma-like.json"), "t5": t5_like(folder / "t5-like.json")}


@pytest.fixture(scope="session")
def siglip_model(sentencepiece_tokenizers):
    """A transformers SiglipModel (the class fixed-resolution SigLIP 2 checkpoints load with),
    tiny, random weights, over the Gemma-like vocabulary."""
    import torch
    from tokenizers import Tokenizer
    from transformers import SiglipConfig, SiglipModel

    vocab = Tokenizer.from_file(str(sentencepiece_tokenizers["gemma"])).get_vocab_size()
    layers = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
    torch.manual_seed(7)
    config = SiglipConfig(text_config={**layers, "vocab_size": vocab, "max_position_embeddings": 64,
                                       "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2},
                          vision_config={**layers, "image_size": 64, "patch_size": 16})
    return SiglipModel(config).eval()


@pytest.fixture(scope="session")
def siglip_exported(siglip_model, sentencepiece_tokenizers, tmp_path_factory) -> dict[str, Path]:
    """The SigLIP model exported by scripts/convert_clip.py as onnx-community's (`split`) and
    Immich's graphs."""
    return {layout: _export(siglip_model, tmp_path_factory, "siglip", layout, licence="Apache-2.0",
                            tokenizer=sentencepiece_tokenizers["gemma"], check=False)
            for layout in ("split", "immich")}
