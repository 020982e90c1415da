"""CLIP-like synthetic vectors for the search benchmarks.

Real CLIP image embeddings are not tidy clusters (which flatter IVF and Annoy): their variance
falls off with a power law over the dimensions, topics overlap, and text queries sit apart from
every image (the modality gap). These imitate that: a power-law spectrum in a random basis, weak
topic centres, a direction every image shares, and queries pushed off the image cone. Nearest
image neighbours score about 0.7, the best text match about 0.45, as with CLIP ViT-B/32.
"""

from __future__ import annotations

import numpy as np


def _shape(dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    scale = np.arange(1, dim + 1, dtype=np.float32) ** -0.5
    return basis, scale


def clip_like(n: int, dim: int = 512, topics: int = 2000, seed: int = 0, draw_seed: int = 100) -> np.ndarray:
    """n unit vectors (built in chunks, so memory stays at the result's size). `seed` fixes the
    collection's shape and topics, `draw_seed` which pictures are drawn from it."""
    basis, scale = _shape(dim, seed)
    rng = np.random.default_rng(seed + 1)
    centres = (rng.standard_normal((topics, dim)).astype(np.float32) * scale) @ basis.T
    common = rng.standard_normal(dim).astype(np.float32)
    common *= 0.35 * np.sqrt((scale**2).sum()) / np.linalg.norm(common)
    out = np.empty((n, dim), np.float32)
    draw = np.random.default_rng(draw_seed)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        spread = (draw.standard_normal((m, dim)).astype(np.float32) * scale) @ basis.T
        v = common + centres[draw.integers(0, topics, m)] + 0.8 * spread
        out[start:start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def queries(n: int, dim: int = 512, seed: int = 1) -> np.ndarray:
    """Text-like queries: near some image topic, but shifted off the image cone."""
    rng = np.random.default_rng(seed)
    base = clip_like(n, dim, seed=0, draw_seed=1000 + seed)  # other pictures of the same collection
    gap = rng.standard_normal(dim).astype(np.float32)
    q = base + gap / np.linalg.norm(gap) + rng.standard_normal((n, dim)).astype(np.float32) * 0.03
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def true_top(matrix: np.ndarray, qs: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k rows for each query (ground truth), in blocks to bound memory."""
    out = np.empty((len(qs), k), np.int64)
    for start in range(0, len(qs), 64):
        scores = qs[start:start + 64] @ matrix.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        out[start:start + 64] = np.take_along_axis(part, order, axis=1)
    return out
