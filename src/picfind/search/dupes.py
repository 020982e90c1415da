"""Duplicates: exact copies (one content hash, several files) and near-duplicates (resized,
re-encoded, lightly cropped copies: embeddings closer than a threshold).

Near-duplicate pairs come from an exact, blockwise comparison of every vector with every
other (time grows with the square of the catalog, memory only with its size: one block of
scores at a time), or, where the catalog has an approximate index (the embedded catalog's hnsw
past 100k vectors, PostgreSQL's HNSW index), from each vector's nearest neighbours in it, rescored
exactly: time grows with n log n. Pairs are joined into
groups (connected components), and each group lists its best-quality member first: most
pixels, then the largest file. picfind never deletes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from picfind.records import frame_span, owner

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend, Nearest

DEFAULT_THRESHOLD = 0.93
VIDEO_SHARE = 0.8  # two videos are near-duplicates when this share of each one's moments match
BLOCK_SCORES = 16_000_000  # scores held at once (64 MB of float32)


@dataclass
class Member:
    path: str
    size: int
    width: int | None
    height: int | None
    copies: list[str] = field(default_factory=list)  # other files with identical content
    score: float = 1.0  # similarity to the group's first member
    id: int = 0


@dataclass
class Group:
    members: list[Member]
    wasted_bytes: int  # what removing every file but the first member's first would free

    def as_dict(self) -> dict:
        return asdict(self)


def exact_copies(catalog: CatalogBackend) -> list[Group]:
    """Groups of files with the same content, the most wasteful first."""
    groups = []
    for files in catalog.files_for_hashes(catalog.repeated_contents()).values():
        if len(files) < 2:
            continue
        members = [Member(f["path"], f["size"], f["width"], f["height"], id=f["id"]) for f in files]
        groups.append(Group(members, sum(m.size for m in members[1:])))
    return sorted(groups, key=lambda g: -g.wasted_bytes)


def similar_pairs(matrix: np.ndarray, threshold: float,
                  progress: Callable[[int, int], None] | None = None) -> list[tuple[int, int, float]]:
    """Every (i, j, score) with i < j and cosine >= threshold, one block of rows at a time."""
    n = len(matrix)
    block = max(1, BLOCK_SCORES // max(n, 1))
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, n, block):
        scores = matrix[start:start + block] @ matrix.T
        rows, cols = np.nonzero(scores >= threshold)
        keep = cols > rows + start
        rows, cols = rows[keep], cols[keep]
        pairs += zip((rows + start).tolist(), cols.tolist(), scores[rows, cols].tolist())
        if progress:
            progress(min(start + block, n), n)
    return pairs


def neighbour_pairs(nearest: Nearest, ids: np.ndarray, matrix: np.ndarray, threshold: float, k: int = 16,
                    progress: Callable[[int, int], None] | None = None) -> list[tuple[int, int, float]]:
    """Like `similar_pairs`, from each vector's k nearest neighbours in an approximate index. A
    group larger than k still comes out whole, through chains of pairs."""
    order = np.argsort(ids)
    n = len(ids)
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, n, 10_000):
        keys, scores = nearest(ids[start:start + 10_000], matrix[start:start + 10_000], k)
        pairs += _block_pairs(keys, scores, ids, order, matrix, start, threshold)
        if progress:
            progress(min(start + 10_000, n), n)
    return pairs


def _block_pairs(found: np.ndarray, found_scores: np.ndarray, ids: np.ndarray, order: np.ndarray,
                 matrix: np.ndarray, start: int, threshold: float) -> list[tuple[int, int, float]]:
    n = len(ids)
    rows, cols = np.nonzero(found_scores >= threshold - 0.01)  # float16 scores: a margin
    keys = found[rows, cols]
    at = np.searchsorted(ids, keys, sorter=order)
    others = order[np.minimum(at, n - 1)]
    known = ids[others] == keys
    mine, others = rows[known] + start, others[known]
    scores = np.einsum("ij,ij->i", matrix[mine], matrix[others])  # exact, from the catalog's vectors
    keep = (others > mine) & (scores >= threshold)
    return list(zip(mine[keep].tolist(), others[keep].tolist(), scores[keep].tolist()))


def video_pairs(ids: np.ndarray, keys: dict[int, str], pairs: list[tuple[int, int, float]], matrix: np.ndarray,
                threshold: float, share: float = VIDEO_SHARE) -> list[tuple[int, int, float]]:
    """The pairs between pictures, and one pair for two videos whose frame sequences match: in
    time order, at least `share` of each one's kept frames pair off with frames of the other
    (the same footage re-encoded or resized), between their first frames' rows. A frame near a
    photo, or another frame of its own video, pairs nothing."""
    frames: dict[str, list[tuple[float, int]]] = {}
    for row, i in enumerate(ids):
        key = keys.get(int(i), "")
        span = frame_span(key)
        if span is not None:
            frames.setdefault(owner(key), []).append((span[0], row))
    rows = {video: [r for _, r in sorted(found)] for video, found in frames.items()}
    video_of = {r: video for video, found in rows.items() for r in found}
    out, candidates = [], set()
    for i, j, score in pairs:
        a, b = video_of.get(i), video_of.get(j)
        if a is None and b is None:
            out.append((i, j, score))
        elif a is not None and b is not None and a != b:
            candidates.add((min(a, b), max(a, b)))
    for a, b in sorted(candidates):
        need = share * max(len(rows[a]), len(rows[b]))
        if min(len(rows[a]), len(rows[b])) < need:
            continue  # too few frames on one side ever to pair off enough of the other's
        near = matrix[rows[a]] @ matrix[rows[b]].T >= threshold
        if min(np.count_nonzero(near.any(axis=1)), np.count_nonzero(near.any(axis=0))) < need:
            continue  # too few frames near any of the other's: no order can pair off enough
        if _in_order(near) >= need:
            out.append((rows[a][0], rows[b][0], float(matrix[rows[a][0]] @ matrix[rows[b][0]])))
    return out


def _in_order(near: np.ndarray) -> int:
    """How many frames of one video pair off with frames of the other, both in time order (the
    longest common subsequence of a boolean similarity matrix). One row at a time, in numpy: the
    match ending just before each column extended, or the row above, then carried rightwards
    (a running maximum), so two 600-frame videos cost 600 vector steps, not 360,000 Python ones."""
    best = np.zeros(near.shape[1] + 1, np.int64)
    for row in near:
        best[1:] = np.maximum.accumulate(np.maximum(best[1:], best[:-1] + row))
    return int(best[-1])


def groups_of(n: int, pairs: list[tuple[int, int, float]]) -> list[list[int]]:
    """Connected components (union-find) of the pairs, each with two or more rows."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _ in pairs:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    components: dict[int, list[int]] = {}
    for i in {k for p in pairs for k in p[:2]}:
        components.setdefault(root(i), []).append(i)
    return [sorted(c) for c in components.values() if len(c) > 1]


def near_duplicates(catalog: CatalogBackend, model: str, threshold: float = DEFAULT_THRESHOLD,
                    progress: Callable[[int, int], None] | None = None,
                    nearest: Nearest | None = None) -> list[Group]:
    """`nearest`: the catalog's approximate index, which makes this n log n instead of n²."""
    _, ids, matrix = catalog.vectors(model)
    if nearest is not None:
        pairs = neighbour_pairs(nearest, ids, matrix, threshold, progress=progress)
    else:
        pairs = similar_pairs(matrix, threshold, progress)
    keys = catalog.hashes_for_ids([int(i) for i in ids])
    pairs = video_pairs(ids, keys, pairs, matrix, threshold)
    components = groups_of(len(ids), pairs)
    hashes = {i: owner(keys[i]) for c in components for i in (int(ids[r]) for r in c) if i in keys}
    files = catalog.files_for_hashes(list(set(hashes.values())))  # one batch for every group
    groups = []
    for component in components:
        by_hash = {hashes[int(ids[i])]: i for i in component if int(ids[i]) in hashes}
        members, rows = [], []
        for h, row in by_hash.items():
            if files[h]:
                f, *copies = files[h]
                members.append(Member(f["path"], f["size"], f["width"], f["height"],
                                      [c["path"] for c in copies], id=f["id"]))
                rows.append(row)
        if len(members) < 2:
            continue
        order = sorted(range(len(members)), key=lambda k: (-(members[k].width or 0) * (members[k].height or 0),
                                                           -members[k].size))
        members, rows = [members[k] for k in order], [rows[k] for k in order]
        scores = matrix[rows] @ matrix[rows[0]]
        for m, s in zip(members, scores):
            m.score = round(float(s), 4)
        wasted = sum(m.size * (1 + len(m.copies)) for m in members) - members[0].size
        groups.append(Group(members, wasted))
    return sorted(groups, key=lambda g: -g.wasted_bytes)
