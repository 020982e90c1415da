"""The ONNX path against the reference PyTorch CLIP, both bundle layouts, and the meaning the
committed tiny-shapes model has learnt."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from picfind.models.bundle import Bundle
from picfind.models.encoder import Encoder
from picfind.models.preprocess import Preprocessing
from picfind.models.store import resolve

from .conftest import REPO, shape_files

sys.path.insert(0, str(REPO / "scripts"))


@pytest.mark.parametrize("layout", ["split", "rclip"])
def test_onnx_embeddings_match_pytorch_within_1e_4(reference_model, exported, layout) -> None:
    from convert_clip import parity

    diff = parity(reference_model, Bundle.load(exported[layout]))
    print(f"{layout}: max abs difference {diff:.2e}")
    assert diff < 1e-4


def test_both_layouts_give_the_same_vectors(exported) -> None:
    a, b = (Encoder(Bundle.load(exported[k]), device="cpu") for k in ("split", "rclip"))
    texts = ["a red circle", "two blue squares on a white background", "x"]
    assert np.abs(a.encode_texts(texts) - b.encode_texts(texts)).max() < 1e-5
    pixels = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    assert np.abs(a.encode_images(pixels) - b.encode_images(pixels)).max() < 1e-5
    assert np.allclose(np.linalg.norm(a.encode_texts(texts), axis=1), 1, atol=1e-5)


def test_a_text_embeds_the_same_padded_or_not(exported) -> None:
    enc = Encoder(Bundle.load(exported["split"]), device="cpu")
    tower = enc.bundle.text_tower
    session = enc._session(tower)
    alone = session.run(None, {tower.input: enc.tokenizer.batch(["a cat"])})[0]
    padded = session.run(None, {tower.input: enc.tokenizer.batch(["a cat"], pad_to=77)})[0]
    assert np.abs(alone - padded).max() < 1e-5


def test_tiny_shapes_knows_colours_and_shapes() -> None:
    enc = Encoder(resolve("tiny-shapes"), device="cpu")
    prep = Preprocessing(enc.bundle.image_size)
    groups = {(c, s): shape_files(c, s, n=6, seed=i) for i, (c, s) in enumerate(
        [("red", "circle"), ("blue", "square"), ("red", "square"), ("blue", "circle"),
         ("green", "triangle"), ("yellow", "circle")])}
    labels = [k for k, imgs in groups.items() for _ in imgs]
    vecs = enc.encode_images(np.stack([prep.pixels(i) for imgs in groups.values() for i in imgs]))

    def mean_score(query: str, key: tuple[str, str]) -> float:
        q = enc.encode_text(query)
        return float(np.mean([v @ q for v, lab in zip(vecs, labels) if lab == key]))

    # colour and shape both matter
    assert mean_score("a red circle", ("red", "circle")) > mean_score("a red circle", ("blue", "square"))
    assert mean_score("a red circle", ("red", "circle")) > mean_score("a red circle", ("red", "square"))
    assert mean_score("a red circle", ("red", "circle")) > mean_score("a red circle", ("blue", "circle"))
    # and the best hits for a query are the right pictures
    for key in groups:
        q = enc.encode_text(f"a {key[0]} {key[1]}")
        top = [labels[i] for i in np.argsort(-(vecs @ q))[:3]]
        assert top.count(key) >= 2, (key, top)
