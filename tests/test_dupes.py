"""Near-duplicate pairs: the exact blockwise comparison, and the hnsw neighbour search against it."""

from __future__ import annotations

import numpy as np

from picfind.catalogs.sqlite.vectors import HnswIndex, IndexSettings
from picfind.search import dupes
from picfind.search.dupes import groups_of, neighbour_pairs, similar_pairs


def planted(n: int = 3000, copies: int = 60, dim: int = 64) -> tuple[np.ndarray, set[frozenset]]:
    rng = np.random.default_rng(0)
    m = rng.standard_normal((n, dim)).astype(np.float32)
    sources = rng.choice(n - copies, copies // 3, replace=False)
    for k, s in enumerate(np.repeat(sources, 3)):  # three near-copies of each source
        m[n - copies + k] = m[s] + rng.standard_normal(dim).astype(np.float32) * 0.05
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    groups = {frozenset([int(s), *range(n - copies + 3 * j, n - copies + 3 * j + 3)]) for j, s in enumerate(sources)}
    return m, groups


def test_blockwise_pairs_find_every_planted_group_in_small_blocks(monkeypatch) -> None:
    matrix, expected = planted()
    monkeypatch.setattr(dupes, "BLOCK_SCORES", 3000 * 7)  # 7 rows a block: block edges are crossed
    found = {frozenset(g) for g in groups_of(len(matrix), similar_pairs(matrix, 0.95))}
    assert found == expected


def test_the_hnsw_path_finds_nearly_every_pair_with_exact_scores() -> None:
    matrix, expected = planted()
    ids = np.arange(100, 100 + len(matrix), dtype=np.int64)[::-1].copy()  # ids in no particular order
    index = HnswIndex.build(ids, matrix, 0, IndexSettings())
    exact = similar_pairs(matrix, 0.95)
    approx = neighbour_pairs(index.nearest, ids, matrix, 0.95)
    found, truth = {(i, j) for i, j, _ in approx}, {(i, j) for i, j, _ in exact}
    assert found <= truth and len(found) >= 0.95 * len(truth)  # approximate: may miss, never invents
    scores = {(i, j): s for i, j, s in exact}
    assert all(abs(s - scores[i, j]) < 1e-5 for i, j, s in approx)  # rescored exactly
    assert len({frozenset(g) for g in groups_of(len(matrix), approx)} & expected) >= 0.95 * len(expected)


def test_near_duplicates_then_a_text_search_in_one_fresh_process(tmp_path) -> None:
    """The web server's order: `dupes --near` opens the hnsw index (usearch) before any text was
    encoded; ONNX Runtime loaded after usearch crashed the process (a segmentation fault)."""
    import subprocess
    import sys

    from .conftest import picfind, write_shapes

    write_shapes(tmp_path / "lib", 12)
    db = str(tmp_path / "c.db")
    picfind("index", str(tmp_path / "lib"), "--db", db, "--ann", "hnsw", "--quiet", check=True)
    script = ("import sys\nfrom picfind.library import Library\nwith Library(sys.argv[1]) as lib:\n"
              "    lib.dupes(near=True)\n    print(len(lib.search('a red circle', n=3)))\n")
    proc = subprocess.run([sys.executable, "-c", script, db], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "3"
