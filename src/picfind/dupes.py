"""Duplicates: exact copies (one content hash, several files) and near-duplicates (resized,
re-encoded, lightly cropped copies: embeddings closer than a threshold).

Near-duplicate pairs come from an exact, blockwise comparison of every vector with every
other: time grows with the square of the catalog, memory only with its size (one block of
scores at a time). Pairs are joined into groups (connected components), and each group lists
its best-quality member first: most pixels, then the largest file. picfind never deletes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from .catalog import Catalog

DEFAULT_THRESHOLD = 0.93
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


def exact_copies(catalog: Catalog) -> list[Group]:
    """Groups of files with the same content, the most wasteful first."""
    groups = []
    for content_hash in catalog.repeated_contents():
        files = [f for f in catalog.files_for_hashes([content_hash])[content_hash] if os.path.lexists(f["path"])]
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
        for r, c in zip(rows[keep], cols[keep]):
            pairs.append((int(r) + start, int(c), float(scores[r, c])))
        if progress:
            progress(min(start + block, n), n)
    return pairs


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


def near_duplicates(catalog: Catalog, model: str, threshold: float = DEFAULT_THRESHOLD,
                    progress: Callable[[int, int], None] | None = None) -> list[Group]:
    _, ids, matrix = catalog.vectors(model)
    components = groups_of(len(ids), similar_pairs(matrix, threshold, progress))
    hashes = catalog.hashes_for_ids([int(ids[i]) for c in components for i in c])
    groups = []
    for component in components:
        by_hash = {hashes[int(ids[i])]: i for i in component if int(ids[i]) in hashes}
        files = catalog.files_for_hashes(list(by_hash))
        members, rows = [], []
        for h, row in by_hash.items():
            present = [f for f in files[h] if os.path.lexists(f["path"])]
            if present:
                f = present[0]
                members.append(Member(f["path"], f["size"], f["width"], f["height"],
                                      [c["path"] for c in present[1:]], id=f["id"]))
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
