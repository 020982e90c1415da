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


def _lcs(near: np.ndarray) -> int:
    """The longest common subsequence of a boolean matrix, cell by cell (the textbook recurrence)."""
    table = np.zeros((near.shape[0] + 1, near.shape[1] + 1), np.int64)
    for i in range(near.shape[0]):
        for j in range(near.shape[1]):
            table[i + 1, j + 1] = max(table[i, j + 1], table[i + 1, j], table[i, j] + near[i, j])
    return int(table[-1, -1])


def test_frame_sequences_pair_off_in_order_as_the_textbook_recurrence_says() -> None:
    rng = np.random.default_rng(4)
    for shape, density in [((1, 1), 0.5), ((7, 3), 0.3), ((30, 45), 0.1), ((60, 60), 0.5), ((12, 40), 0.02)]:
        near = rng.random(shape) < density
        assert dupes._in_order(near) == _lcs(near), (shape, density)


def test_only_videos_that_could_pair_off_enough_frames_are_compared_in_order(monkeypatch) -> None:
    """Bounds before the sequence comparison: a video with too few frames, or too few frames near
    any of the other's, cannot reach the share; only the re-encoded copy is compared in order."""
    rng = np.random.default_rng(5)

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, 64)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    a = unit(10)
    copy = a + rng.standard_normal(a.shape).astype(np.float32) * 0.01
    short = np.vstack([a[:1], unit(3)])  # opens like a: a candidate, but 4 frames against 10
    other = np.vstack([a[:1], unit(9)])  # opens like a, 10 frames, one near a's
    videos = {"a": a, "copy": copy / np.linalg.norm(copy, axis=1, keepdims=True), "short": short, "other": other}
    rows, keys = [], {}
    for name, frames in videos.items():
        for k, vec in enumerate(frames):
            keys[len(rows)] = f"{name}@{k * 2000}-{k * 2000 + 2000}"
            rows.append(vec)
    matrix = np.stack(rows)
    ids = np.arange(len(matrix), dtype=np.int64)
    compared: list[tuple[int, int]] = []
    real = dupes._in_order
    monkeypatch.setattr(dupes, "_in_order", lambda near: compared.append(near.shape) or real(near))
    pairs = dupes.video_pairs(ids, keys, similar_pairs(matrix, 0.9), matrix, 0.9)
    assert [(keys[i].split("@")[0], keys[j].split("@")[0]) for i, j, _ in pairs] == [("a", "copy")]
    assert compared == [(10, 10)]  # a against its copy only
